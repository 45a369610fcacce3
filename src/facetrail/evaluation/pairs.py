"""The 1:1 pairs protocol (LFW): k-fold accuracy, DET curve, EER and FNMR at fixed FMR."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facetrail.biometrics.calibration import best_accuracy_threshold
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation import metrics
from facetrail.evaluation.datasets import PairsFile, read_pairs
from facetrail.evaluation.differentials import group_of, summarise
from facetrail.evaluation.runs import RunOptions, provenance
from facetrail.evaluation.scoring import cross_scores, pair_scores
from facetrail.evaluation.templates import compute_templates

DEFAULT_FOLDS = 10  # for a pairs file that is a single set, as LFW View 1 files are
# All cross-identity comparisons among the pair images give enough impostors to read
# FNMR at FMR 1e-4 (the file's own different pairs are too few); skipped above this.
MAX_IMAGES_FOR_ALL_IMPOSTORS = 8000


def _all_impostors(
    analyzer: FaceAnalyzer, templates: dict[str, np.ndarray], identities: np.ndarray
) -> np.ndarray:
    """Scores of every pair of images showing different identities (both with a face)."""
    rows = np.arange(identities.size)
    matrix = cross_scores(analyzer, templates, rows, rows)
    upper = np.triu(np.ones(matrix.shape, dtype=bool), k=1)
    upper &= identities[:, None] != identities[None, :]
    return matrix[upper]


def _group_metrics(
    scores: np.ndarray,
    same: np.ndarray,
    pairs: PairsFile,
    groups: Mapping[str, str],
    thresholds: dict[str, float],
) -> dict[str, object]:
    """FNMR/FMR per group at the all-group thresholds; impostor pairs within one group."""
    labels_a = np.array([group_of(p.identity_a, groups) or "" for p in pairs.pairs])
    labels_b = np.array([group_of(p.identity_b, groups) or "" for p in pairs.pairs])
    per_group: dict[str, dict[str, float | None]] = {}
    for group in sorted(set(labels_a) - {""}):
        genuine = scores[same & (labels_a == group)]
        impostor = scores[~same & (labels_a == group) & (labels_b == group)]
        values: dict[str, float | None] = {
            "genuine_pairs": float(genuine.size),
            "impostor_pairs": float(impostor.size),
        }
        for name, threshold in thresholds.items():
            values[f"fnmr@{name}"] = (
                metrics.false_non_match_rate(genuine, threshold) if genuine.size else None
            )
            values[f"fmr@{name}"] = (
                metrics.false_match_rate(impostor, threshold) if impostor.size else None
            )
        values["eer"] = (
            metrics.equal_error_rate(genuine, impostor)[0]
            if genuine.size and impostor.size
            else None
        )
        per_group[group] = values
    summary = summarise(per_group)
    ratios = summary["ratios"]
    assert isinstance(ratios, dict)
    for count in ("genuine_pairs", "impostor_pairs"):
        ratios.pop(count, None)
    return summary


def run_pairs(
    pairs_path: Path,
    images: Path,
    options: RunOptions,
    *,
    groups: Mapping[str, str] | None = None,
    folds: int = DEFAULT_FOLDS,
    fmr_targets: tuple[float, ...] = metrics.FMR_TARGETS,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the pairs protocol; returns (result for JSON, score arrays for plots)."""
    started = time.perf_counter()
    pairs = read_pairs(pairs_path, images)
    analyzer = FaceAnalyzer.from_spec(options.pipeline)
    paths = sorted({p.a for p in pairs.pairs} | {p.b for p in pairs.pairs})
    templates = compute_templates(
        paths,
        options.pipeline,
        cache_dir=options.cache_dir,
        flip=options.flip,
        workers=options.workers,
        progress=options.progress,
    )
    row = templates.index()
    a = np.array([row[p.a] for p in pairs.pairs])
    b = np.array([row[p.b] for p in pairs.pairs])
    scores = pair_scores(analyzer, templates.templates, a, b)
    same = np.array([p.same for p in pairs.pairs])
    fold = (
        np.array([p.fold for p in pairs.pairs])
        if pairs.folds > 1
        else metrics.balanced_folds(same, folds)
    )
    kfold = metrics.kfold_accuracy(scores, same, fold)
    genuine, impostor = scores[same], scores[~same]
    eer, eer_threshold = metrics.equal_error_rate(genuine, impostor)
    threshold, accuracy_all = best_accuracy_threshold(genuine, impostor)

    identities = np.array([p.parent.name for p in templates.paths])
    found = templates.found
    all_impostors = (
        _all_impostors(
            analyzer,
            {m: v[found] for m, v in templates.templates.items()},
            identities[found],
        )
        if found.sum() <= MAX_IMAGES_FOR_ALL_IMPOSTORS
        else np.empty(0)
    )
    at_fmr = {f"{f:g}": metrics.fnmr_at_fmr(genuine, impostor, f).as_dict() for f in fmr_targets}
    at_fmr_all = (
        {f"{f:g}": metrics.fnmr_at_fmr(genuine, all_impostors, f).as_dict() for f in fmr_targets}
        if all_impostors.size
        else {}
    )
    result: dict[str, Any] = {
        "protocol": "pairs",
        **provenance(analyzer, options, f"{images.name} {pairs_path.name}"),
        "inputs": {"pairs": str(pairs_path), "images": str(images), "folds": folds},
        "accuracy": kfold.mean,
        "std": kfold.std,
        "folds": len(kfold.per_fold),
        "folds_from": "pairs file" if pairs.folds > 1 else "balanced split of a single set",
        "eer": eer,
        "eer_threshold": eer_threshold,
        "fold_accuracies": list(kfold.per_fold),
        "fold_thresholds": list(kfold.thresholds),
        "threshold_all_pairs": threshold,
        "accuracy_at_threshold_all_pairs": accuracy_all,
        "fnmr_at_fmr": at_fmr,
        "fnmr_at_fmr_all_impostors": at_fmr_all,
        "all_impostor_comparisons": int(all_impostors.size),
        "pairs": int(scores.size),
        "same_pairs": int(same.sum()),
        "different_pairs": int((~same).sum()),
        "images": len(templates.paths),
        "images_without_face": int((~found).sum()),
        "unreadable_images": templates.unreadable,
        "images_embedded": templates.embedded,
        "images_from_cache": len(templates.paths) - templates.embedded,
        "det": metrics.det_points(genuine, impostor),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if groups is not None:
        operating = {"threshold_all_pairs": threshold}
        for name, point in (at_fmr_all or at_fmr).items():
            if point["threshold"] is not None:
                operating[f"fmr_{name}"] = point["threshold"]
        result["groups"] = _group_metrics(scores, same, pairs, groups, operating)
    score_arrays = {"genuine": genuine, "impostor": impostor}
    if all_impostors.size:
        score_arrays["all_impostors_sample"] = _sample(all_impostors)
    return result, score_arrays


def _sample(values: np.ndarray, size: int = 200_000) -> np.ndarray:
    """A fixed random sample of `values` (enough for a histogram, small on disk)."""
    if values.size <= size:
        return values
    return np.random.default_rng(0).choice(values, size, replace=False)
