"""Flip-averaged templates inside fusion, per model, fold-clean (FNMR at FMR 1e-3 / 1e-4).

    python benchmarks/fusion_flip.py [--home H]   # templates from H/cache/templates

lfw-dev pairsDevTrain, `yunet+sface|dlib` with and without `+flip`, the protocol of
`facetrail eval fusion`: 10 balanced folds; for each, the fusion weights are fitted on the
other folds' genuine pairs and the impostor comparisons involving none of the test fold's
images, then FNMR at FMR is read over every different-name comparison touching the test
fold. Variants: which recognizer uses flip-averaged templates (none, both, SFace only,
dlib only), each fixed in advance; and "chosen on the training folds": for each test fold,
the variant whose learned weights give the lowest summed FNMR at 1e-3 + 1e-4 on that
fold's training comparisons (the test fold is never looked at; ties go to the first
variant listed). Run `facetrail eval fusion` with and without `--flip` first (or let this
script embed: about 15 minutes for the flip templates on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation import fusion_learning as fl
from facetrail.evaluation import metrics
from facetrail.evaluation.datasets import read_pairs
from facetrail.evaluation.templates import compute_templates

SPEC = "yunet+sface|dlib"
MODELS = ("sface", "dlib")
TARGETS = fl.FIT_TARGETS
VARIANTS = {  # which template set each model uses
    "no flip (shipped)": {"sface": "plain", "dlib": "plain"},
    "both flipped (+flip)": {"sface": "flip", "dlib": "flip"},
    "SFace flipped only": {"sface": "flip", "dlib": "plain"},
    "dlib flipped only": {"sface": "plain", "dlib": "flip"},
}
Scores = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]  # genuine pairs, impostors


def main() -> None:
    """Measure every variant and the per-fold choice; print misses of the genuine pairs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = Path(__file__).resolve().parent.parent
    parser.add_argument("--data", type=Path, default=repo.parent / "shared/data/faces/lfw-dev")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("FACETRAIL_HOME", ".")))
    args = parser.parse_args()
    started = time.perf_counter()
    pairs = read_pairs(args.data / "pairsDevTrain.txt", args.data)
    paths = sorted({p.a for p in pairs.pairs} | {p.b for p in pairs.pairs})
    cache = args.home / "cache" / "templates"
    sets = {
        "plain": compute_templates(paths, SPEC, cache_dir=cache),
        "flip": compute_templates(paths, f"{SPEC}+flip", cache_dir=cache),
    }
    found = sets["plain"].found & sets["flip"].found
    row = sets["plain"].index()
    a = np.array([row[p.a] for p in pairs.pairs])
    b = np.array([row[p.b] for p in pairs.pairs])
    usable = found[a] & found[b]
    a, b = a[usable], b[usable]
    same = np.array([p.same for p in pairs.pairs])[usable]
    fold = metrics.balanced_folds(same, 10)
    kept = np.flatnonzero(found)
    names = np.array([p.parent.name for p in sets["plain"].paths])[kept]
    upper_left, upper_right = np.triu_indices(kept.size, k=1)
    different = names[upper_left] != names[upper_right]
    left, right = kept[upper_left[different]], kept[upper_right[different]]
    cosines: dict[str, Scores] = {}
    for name, templates in sets.items():
        vectors = templates.templates
        cosines[name] = (
            {m: np.einsum("ij,ij->i", vectors[m][a], vectors[m][b]) for m in MODELS},
            {m: np.einsum("ij,ij->i", vectors[m][left], vectors[m][right]) for m in MODELS},
        )
    variants: dict[str, Scores] = {
        label: (
            {m: cosines[pick[m]][0][m] for m in MODELS},
            {m: cosines[pick[m]][1][m] for m in MODELS},
        )
        for label, pick in VARIANTS.items()
    }
    calibration = FaceAnalyzer.from_spec(SPEC).calibration
    norm = {m.name: m.normalisation for m in calibration.models}
    fixed = {m.name: m.weight for m in calibration.models}

    methods = [f"{v}: {m}" for v in VARIANTS for m in (*MODELS, "fixed", "learned")]
    misses = {m: dict.fromkeys(TARGETS, 0) for m in [*methods, "chosen on the training folds"]}
    choices = []
    for k in range(10):
        test, train = same & (fold == k), same & (fold != k)
        images = np.union1d(a[fold == k], b[fold == k])
        touches = np.isin(left, images) | np.isin(right, images)
        learned_misses, costs = {}, {}
        for label, (genuine, impostor) in variants.items():
            training = fl.ComparisonScores(
                {m: genuine[m][train] for m in MODELS}, {m: impostor[m][~touches] for m in MODELS}
            )
            weights = fl.learn_weights(training, norm, TARGETS)
            fit_genuine = fl.fused(training.genuine, norm, weights)
            fit_impostor = fl.fused(training.impostor, norm, weights)
            costs[label] = sum(fl.fnmr(fit_genuine, fit_impostor, t) for t in TARGETS)
            test_genuine = {m: genuine[m][test] for m in MODELS}
            test_impostor = {m: impostor[m][touches] for m in MODELS}
            scored = {m: (test_genuine[m], test_impostor[m]) for m in MODELS}
            for method, method_weights in (("fixed", fixed), ("learned", weights)):
                scored[method] = (
                    fl.fused(test_genuine, norm, method_weights),
                    fl.fused(test_impostor, norm, method_weights),
                )
            for method, (g, i) in scored.items():
                for t in TARGETS:
                    missed = int(np.sum(g < fl.threshold_at(i, t)))
                    misses[f"{label}: {method}"][t] += missed
                    if method == "learned":
                        learned_misses.setdefault(label, {})[t] = missed
        choice = min(VARIANTS, key=lambda v: (round(costs[v], 12), list(VARIANTS).index(v)))
        choices.append(choice)
        for t in TARGETS:
            misses["chosen on the training folds"][t] += learned_misses[choice][t]

    genuine_pairs = int(same.sum())
    print(f"{genuine_pairs} genuine pairs, {left.size:,} impostor comparisons, 10 folds")
    print(f"{'variant: method':<44} FNMR at FMR 1e-3    at 1e-4")
    for name, counts in misses.items():
        print(
            f"{name:<44} {counts[1e-3]:>3} ({counts[1e-3] / genuine_pairs:.2%})"
            f"   {counts[1e-4]:>3} ({counts[1e-4] / genuine_pairs:.2%})"
        )
    print(f"variant chosen per fold: {choices}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
