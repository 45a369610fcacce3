"""Fusion weights learned where errors cost most: minimise misses at a low false-match rate.

Fixed z-score weights balance two recognizers around the equal-error point, but an
investigation lives at FMR 1e-3 and below, where the models disagree on different faces.
`learn_weights` picks, on training comparisons only, the weight of each model's z-score
that minimises the summed FNMR at the target FMRs. `fusion_study` measures it honestly:
k-fold over the genuine pairs, each fold's weights fitted on comparisons that involve no
image of that fold, FNMR at FMR over every different-name comparison of the test fold's
images against all others.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facetrail.biometrics.fusion import ScoreNormalisation
from facetrail.biometrics.pipeline import FaceAnalyzer, PipelineSpec
from facetrail.errors import InvalidInputError
from facetrail.evaluation import metrics
from facetrail.evaluation.datasets import read_pairs
from facetrail.evaluation.pairs import DEFAULT_FOLDS
from facetrail.evaluation.runs import RunOptions, provenance
from facetrail.evaluation.templates import compute_templates

WEIGHT_GRID = 41  # weights 0, 0.025, ..., 1 for the first model (the second gets the rest)
FIT_TARGETS = (1e-3, 1e-4)


@dataclass(frozen=True, slots=True)
class ComparisonScores:
    """Per-model cosine scores of genuine and impostor comparisons."""

    genuine: Mapping[str, np.ndarray]
    impostor: Mapping[str, np.ndarray]


def threshold_at(impostor: np.ndarray, fmr: float) -> float:
    """The lowest threshold whose false match rate on `impostor` is at most `fmr`."""
    if impostor.size == 0:
        raise InvalidInputError("no impostor comparisons to set a threshold on")
    allowed = int(np.floor(fmr * impostor.size))
    if allowed == 0:
        return float(np.nextafter(impostor.max(), np.inf))
    kth = impostor.size - allowed
    return float(np.nextafter(np.partition(impostor, kth - 1)[kth - 1], np.inf))


def fnmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> float:
    """Share of genuine comparisons under the threshold that holds FMR to `fmr`."""
    return float(np.mean(genuine < threshold_at(impostor, fmr)))


def fused(
    scores: Mapping[str, np.ndarray],
    normalisation: Mapping[str, ScoreNormalisation],
    weights: Mapping[str, float],
) -> np.ndarray:
    """The weighted sum of each model's z-score."""
    total = np.zeros_like(next(iter(scores.values())), dtype=np.float64)
    for model, weight in weights.items():
        total += weight * np.asarray(normalisation[model].z(scores[model]), dtype=np.float64)
    return total


def learn_weights(
    scores: ComparisonScores,
    normalisation: Mapping[str, ScoreNormalisation],
    targets: tuple[float, ...] = FIT_TARGETS,
    grid: int = WEIGHT_GRID,
) -> dict[str, float]:
    """Two models' z-score weights (summing to 1) minimising summed FNMR at `targets`."""
    models = list(scores.genuine)
    if len(models) != 2:
        raise InvalidInputError(f"learned fusion combines two recognizers, got {models}")
    first, second = models
    best: tuple[float, float] | None = None
    for weight in np.linspace(0.0, 1.0, grid):
        weights = {first: float(weight), second: float(1.0 - weight)}
        genuine = fused(scores.genuine, normalisation, weights)
        impostor = fused(scores.impostor, normalisation, weights)
        cost = sum(fnmr(genuine, impostor, t) for t in targets)
        if best is None or cost < best[0] - 1e-12:
            best = (cost, float(weight))
    assert best is not None
    return {first: round(best[1], 4), second: round(1.0 - best[1], 4)}


def fusion_study(
    pair_scores: Mapping[str, np.ndarray],
    same: np.ndarray,
    fold: np.ndarray,
    pair_images: tuple[np.ndarray, np.ndarray],
    impostor_scores: Mapping[str, np.ndarray],
    impostor_images: tuple[np.ndarray, np.ndarray],
    normalisation: Mapping[str, ScoreNormalisation],
    fixed_weights: Mapping[str, float],
    targets: tuple[float, ...] = FIT_TARGETS,
) -> dict[str, object]:
    """FNMR at each target FMR for each model alone, fixed and learned fusion (k-fold).

    For test fold k: its genuine pairs, scored against every impostor comparison that
    involves one of its images; the learned weights come from the other folds' genuine
    pairs and the impostor comparisons involving none of fold k's images.
    """
    models = list(pair_scores)
    methods = [*models, "fixed fusion", "learned fusion"]
    misses: dict[str, dict[float, list[tuple[int, int]]]] = {
        m: {t: [] for t in targets} for m in methods
    }
    learned: list[dict[str, float]] = []
    left, right = impostor_images
    for k in np.unique(fold):
        test = same & (fold == k)
        train = same & (fold != k)
        images = np.union1d(pair_images[0][fold == k], pair_images[1][fold == k])
        touches = np.isin(left, images) | np.isin(right, images)
        training = ComparisonScores(
            genuine={m: pair_scores[m][train] for m in models},
            impostor={m: impostor_scores[m][~touches] for m in models},
        )
        weights = learn_weights(training, normalisation, targets)
        learned.append(weights)
        candidates = {
            **{m: {m: 1.0} for m in models},
            "fixed fusion": dict(fixed_weights),
            "learned fusion": weights,
        }
        for method, method_weights in candidates.items():
            if method in models:
                genuine = pair_scores[method][test]
                impostor = impostor_scores[method][touches]
            else:
                genuine = fused(
                    {m: pair_scores[m][test] for m in models}, normalisation, method_weights
                )
                impostor = fused(
                    {m: impostor_scores[m][touches] for m in models}, normalisation, method_weights
                )
            for target in targets:
                threshold = threshold_at(impostor, target)
                misses[method][target].append((int(np.sum(genuine < threshold)), genuine.size))
    summary = {
        method: {
            f"{t:g}": sum(miss for miss, _ in per) / max(sum(n for _, n in per), 1)
            for t, per in per_target.items()
        }
        for method, per_target in misses.items()
    }
    counts = {
        method: {f"{t:g}": sum(miss for miss, _ in per) for t, per in per_target.items()}
        for method, per_target in misses.items()
    }
    return {
        "fnmr_at_fmr": summary,
        "missed_mates": counts,
        "learned_weights": learned,
        "folds": int(np.unique(fold).size),
    }


def run_fusion_study(
    pairs_path: Path,
    images: Path,
    options: RunOptions,
    *,
    folds: int = DEFAULT_FOLDS,
    targets: tuple[float, ...] = FIT_TARGETS,
) -> dict[str, object]:
    """The study on a pairs file: each model, fixed and learned fusion, k-fold, all impostors."""
    started = time.perf_counter()
    spec = PipelineSpec.parse(options.pipeline)
    # Flip averaging (`options.flip` or a "+flip" spec) happens inside the analyzer.
    analyzer = FaceAnalyzer.from_spec(replace(spec, flip=spec.flip or options.flip))
    if not analyzer.spec.fused or len(analyzer.model_names) != 2:
        raise InvalidInputError(
            f"the fusion study needs a fused two-recognizer pipeline, e.g. yunet+sface|dlib,"
            f" not {options.pipeline}"
        )
    pairs = read_pairs(pairs_path, images)
    paths = sorted({p.a for p in pairs.pairs} | {p.b for p in pairs.pairs})
    templates = compute_templates(
        paths,
        str(analyzer.spec),
        cache_dir=options.cache_dir,
        workers=options.workers,
        progress=options.progress,
    )
    row = templates.index()
    a = np.array([row[p.a] for p in pairs.pairs])
    b = np.array([row[p.b] for p in pairs.pairs])
    usable = templates.found[a] & templates.found[b]
    a, b = a[usable], b[usable]
    same = np.array([p.same for p in pairs.pairs])[usable]
    fold = (
        np.array([p.fold for p in pairs.pairs])[usable]
        if pairs.folds > 1
        else metrics.balanced_folds(same, folds)
    )
    found = np.flatnonzero(templates.found)
    identities = np.array([p.parent.name for p in templates.paths])[found]
    upper_left, upper_right = np.triu_indices(found.size, k=1)
    different = identities[upper_left] != identities[upper_right]
    left, right = found[upper_left[different]], found[upper_right[different]]
    vectors = templates.templates
    models = analyzer.model_names
    pair_scores = {m: np.einsum("ij,ij->i", vectors[m][a], vectors[m][b]) for m in models}
    impostor_scores = {
        m: np.einsum("ij,ij->i", vectors[m][left], vectors[m][right]) for m in models
    }
    calibration = analyzer.calibration
    normalisation = {m.name: m.normalisation for m in calibration.models}
    result = fusion_study(
        pair_scores,
        same,
        fold,
        (a, b),
        impostor_scores,
        (left, right),
        normalisation,
        {m.name: m.weight for m in calibration.models},
        targets,
    )
    measured = replace(options, pipeline=str(analyzer.spec), flip=analyzer.spec.flip)
    return {
        "protocol": "fusion",
        **provenance(analyzer, measured, f"{images.name} {pairs_path.name}"),
        "genuine_pairs": int(same.sum()),
        "impostor_comparisons": int(left.size),
        "seconds": round(time.perf_counter() - started, 1),
        **result,
    }
