"""Fusion models at FMR 1e-3 / 1e-4, fold-clean, against the shipped learned weights.

    python benchmarks/fusion_models.py [--home H]     # templates from H/cache/templates

lfw-dev pairsDevTrain, `yunet+sface|dlib`, the protocol of `facetrail eval fusion`: for each
of 10 balanced folds, the model is fitted on the other folds' genuine pairs and on the
impostor comparisons involving none of the test fold's images, then FNMR at FMR is read
over every different-name comparison touching the test fold. Models:
- shipped: `evaluation.fusion_learning` (weights of the two z-scores minimising FNMR at
  1e-3 + 1e-4, grid step 0.025);
- logistic (linear, and quadratic in the z-scores), fitted on genuine pairs against the
  top 1% of training impostors (the tail where the thresholds lie);
- disagreement: weighted z-scores minus lambda * |z_sface - z_dlib|, grid on both;
- quality: weighted z-scores plus gamma * the pair's lower quality, grid on both;
- AS-norm: each model's score normalised by both images' top-N scores against a cohort
  (lfw-dev people in no pair of the file: no test label used), then the shipped weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation import fusion_learning as fl
from facetrail.evaluation import metrics
from facetrail.evaluation.datasets import person_images, read_pairs
from facetrail.evaluation.templates import compute_templates, nearest_centre
from facetrail.media.images import load_image

SPEC = "yunet+sface|dlib"
TARGETS = (1e-3, 1e-4)
TAIL = 0.02  # training impostors kept for fitting: the top 2% by their better model
Scorer = Callable[[np.ndarray], np.ndarray]


def threshold(impostor: np.ndarray, fmr: float, total: int) -> float:
    """The threshold holding FMR to `fmr` of `total` comparisons, from their top part."""
    allowed = int(np.floor(fmr * total))
    if allowed == 0:
        return float(np.nextafter(impostor.max(), np.inf))
    kth = impostor.size - allowed
    return float(np.nextafter(np.partition(impostor, kth - 1)[kth - 1], np.inf))


def tail(impostor: np.ndarray) -> np.ndarray:
    best = impostor[:, :2].max(axis=1)
    return impostor[best >= np.quantile(best, 1 - TAIL)]


def cost(score: Scorer, genuine: np.ndarray, impostor_tail: np.ndarray, total: int) -> float:
    g, i = score(genuine), score(impostor_tail)
    return sum(float(np.mean(g < threshold(i, t, total))) for t in TARGETS)


def grid_fit(make: Callable[[float, float], Scorer], second: tuple[float, ...]):  # type: ignore[no-untyped-def]
    def fit(genuine: np.ndarray, impostor: np.ndarray) -> Scorer:
        top, best = tail(impostor), None
        for w in np.linspace(0, 1, 41):
            for v in second:
                c = cost(make(float(w), v), genuine, top, len(impostor))
                if best is None or c < best[0] - 1e-12:
                    best = (c, float(w), v)
        assert best is not None
        return make(best[1], best[2])

    return fit


def logistic_fit(quadratic: bool):  # type: ignore[no-untyped-def]
    def features(x: np.ndarray) -> np.ndarray:
        z1, z2 = x[:, 0], x[:, 1]
        cols = [z1, z2, z1 * z2, z1**2, z2**2] if quadratic else [z1, z2]
        return np.stack(cols, axis=1)

    def fit(genuine: np.ndarray, impostor: np.ndarray) -> Scorer:
        top = impostor[impostor[:, :2].max(axis=1) >= np.quantile(impostor[:, :2].max(1), 0.99)]
        x = np.concatenate([features(genuine), features(top)])
        y = np.r_[np.ones(len(genuine)), np.zeros(len(top))]
        mean, std = x.mean(0), x.std(0)
        xs = (x - mean) / std
        weight = np.where(y == 1, len(top) / len(genuine), 1.0)  # classes balanced
        coef, bias = np.zeros(x.shape[1]), 0.0
        for _ in range(3000):  # gradient descent, L2 0.01
            p = 1 / (1 + np.exp(-(xs @ coef + bias)))
            g = weight * (p - y)
            coef -= 0.5 * (xs.T @ g / weight.sum() + 0.01 * coef)
            bias -= 0.5 * g.sum() / weight.sum()
        return lambda z: ((features(z) - mean) / std) @ coef

    return fit


def study(
    pairs: np.ndarray,
    impostors: np.ndarray,
    same: np.ndarray,
    fold: np.ndarray,
    touching: list[np.ndarray],
    fit: Callable[[np.ndarray, np.ndarray], Scorer],
) -> dict[float, int]:
    misses = dict.fromkeys(TARGETS, 0)
    for k, touches in enumerate(touching):
        score = fit(pairs[same & (fold != k)], impostors[~touches])
        g, i = score(pairs[same & (fold == k)]), score(impostors[touches])
        for t in TARGETS:
            misses[t] += int(np.sum(g < threshold(i, t, i.size)))
    return misses


def as_norm(
    vectors: np.ndarray,
    cohort: np.ndarray,
    scores: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    n: int,
) -> np.ndarray:
    """Adaptive symmetric normalisation by each image's top-`n` cohort scores."""
    against = np.nan_to_num(vectors.astype(np.float64)) @ cohort.astype(np.float64).T
    top = -np.sort(-against, axis=1)[:, :n]
    mean, std = top.mean(1), top.std(1)
    return 0.5 * ((scores - mean[a]) / std[a] + (scores - mean[b]) / std[b])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=os.environ.get("FACETRAIL_HOME"))
    args = parser.parse_args()
    data = os.environ.get("FACETRAIL_TEST_DATA")
    root = Path(data) if data else Path(__file__).resolve().parents[2] / "shared/data"
    images = root / "faces" / "lfw-dev"
    if not images.is_dir():
        sys.exit(f"lfw-dev not found under {root}")
    cache = (args.home or Path.home() / ".facetrail") / "cache" / "templates"
    started = time.perf_counter()
    pairs = read_pairs(images / "pairsDevTrain.txt", images)
    paths = sorted({p.a for p in pairs.pairs} | {p.b for p in pairs.pairs})
    named = {p.parent.name for p in paths}
    cohort_paths = [
        p
        for name, photos in sorted(person_images(images).items())
        if name not in named
        for p in photos
    ]
    templates = compute_templates(paths, SPEC, cache_dir=cache)
    cohort = compute_templates(cohort_paths, SPEC, cache_dir=cache)
    row = templates.index()
    a = np.array([row[p.a] for p in pairs.pairs])
    b = np.array([row[p.b] for p in pairs.pairs])
    same = np.array([p.same for p in pairs.pairs])
    fold = metrics.balanced_folds(same, 10)
    names = np.array([p.parent.name for p in templates.paths])
    upper_left, upper_right = np.triu_indices(len(paths), k=1)
    different = names[upper_left] != names[upper_right]
    left, right = upper_left[different], upper_right[different]
    touching = []
    for k in range(10):
        test_images = np.union1d(a[fold == k], b[fold == k])
        touching.append(np.isin(left, test_images) | np.isin(right, test_images))
    calibration = FaceAnalyzer.from_spec(SPEC).calibration
    norm = {m.name: m.normalisation for m in calibration.models}
    models = ("sface", "dlib")
    raw = {m: templates.templates[m] for m in models}
    pair_raw = {m: np.einsum("ij,ij->i", raw[m][a], raw[m][b]) for m in models}
    imp_raw = {m: np.einsum("ij,ij->i", raw[m][left], raw[m][right]) for m in models}
    z_pairs = np.stack([norm[m].z(pair_raw[m]) for m in models], axis=1)
    z_imp = np.stack([norm[m].z(imp_raw[m].astype(np.float64)) for m in models], axis=1)

    quality = np.full(len(paths), np.nan)
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    for i, path in enumerate(paths):
        pixels = load_image(path).pixels
        face = nearest_centre(analyzer.detector.detect(pixels), pixels.shape)
        if face is not None:
            quality[i] = analyzer.quality.assess(pixels, face).score / 100
    q_pairs = np.minimum(quality[a], quality[b])[:, None]
    q_imp = np.minimum(quality[left], quality[right])[:, None]

    genuine = int(same.sum())
    results: dict[str, dict[float, int]] = {}
    shipped = fl.fusion_study(
        pair_raw,
        same,
        fold,
        (a, b),
        imp_raw,
        (left, right),
        norm,
        {m.name: m.weight for m in calibration.models},
        TARGETS,
    )
    summary = shipped["fnmr_at_fmr"]
    assert isinstance(summary, dict)
    for method in ("sface", "fixed fusion", "learned fusion"):
        results[f"shipped: {method}"] = {
            t: round(summary[method][f"{t:g}"] * genuine) for t in TARGETS
        }

    def linear(w: float, v: float) -> Scorer:
        return lambda x: w * x[:, 0] + (1 - w) * x[:, 1] - v * np.abs(x[:, 0] - x[:, 1])

    def with_quality(w: float, v: float) -> Scorer:
        return lambda x: w * x[:, 0] + (1 - w) * x[:, 1] + v * (x[:, 2] - 0.85)

    results["logistic, linear"] = study(z_pairs, z_imp, same, fold, touching, logistic_fit(False))
    results["logistic, quadratic"] = study(z_pairs, z_imp, same, fold, touching, logistic_fit(True))
    results["disagreement penalty"] = study(
        z_pairs,
        z_imp,
        same,
        fold,
        touching,
        grid_fit(linear, (-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3, 0.5)),
    )
    results["quality term"] = study(
        np.hstack([z_pairs, q_pairs]),
        np.hstack([z_imp, q_imp]),
        same,
        fold,
        touching,
        grid_fit(with_quality, (-4, -2, -1, 0, 1, 2, 4)),
    )
    found = cohort.found
    for n in (100, 400):
        normed_pairs = np.stack(
            [as_norm(raw[m], cohort.templates[m][found], pair_raw[m], a, b, n) for m in models], 1
        )
        normed_imp = np.stack(
            [
                as_norm(raw[m], cohort.templates[m][found], imp_raw[m], left, right, n)
                for m in models
            ],
            1,
        )

        def rescaled(genuine_: np.ndarray, impostor_: np.ndarray) -> Scorer:
            mean, std = impostor_.mean(0), impostor_.std(0)
            inner = grid_fit(linear, (0.0,))((genuine_ - mean) / std, (impostor_ - mean) / std)
            return lambda x: inner((x - mean) / std)

        results[f"AS-norm top-{n} ({int(found.sum())} cohort photos)"] = study(
            normed_pairs, normed_imp, same, fold, touching, rescaled
        )
    print(f"{genuine} genuine pairs, {left.size:,} impostor comparisons, 10 folds")
    print(f"{'model':<42} FNMR at FMR 1e-3    at 1e-4")
    for name, misses in results.items():
        print(
            f"{name:<42} {misses[1e-3]:>3} ({misses[1e-3] / genuine:.2%})"
            f"   {misses[1e-4]:>3} ({misses[1e-4] / genuine:.2%})"
        )
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
