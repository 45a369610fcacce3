"""Scores between templates in a pipeline's units: cosine, or the calibrated fusion."""

from __future__ import annotations

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation.metrics import NO_SCORE

BLOCK = 2048  # query rows scored at once, bounding memory to BLOCK x gallery floats


def pair_scores(
    analyzer: FaceAnalyzer, templates: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """The score of each (row a[i], row b[i]) pair; NO_SCORE where a face is missing."""
    per_model = {
        model: np.einsum("ij,ij->i", templates[model][a], templates[model][b]).astype(np.float64)
        for model in analyzer.model_names
    }
    return _combine(analyzer, per_model)


def cross_scores(
    analyzer: FaceAnalyzer,
    templates: dict[str, np.ndarray],
    queries: np.ndarray,
    references: np.ndarray,
) -> np.ndarray:
    """The (queries x references) score matrix; NO_SCORE where a face is missing."""
    out = np.empty((queries.size, references.size), dtype=np.float64)
    for start in range(0, queries.size, BLOCK):
        rows = queries[start : start + BLOCK]
        per_model = {
            model: (templates[model][rows] @ templates[model][references].T).astype(np.float64)
            for model in analyzer.model_names
        }
        out[start : start + rows.size] = _combine(analyzer, per_model)
    return out


def _combine(analyzer: FaceAnalyzer, per_model: dict[str, np.ndarray]) -> np.ndarray:
    """One score array from per-model cosines; NaN (a missing face) becomes NO_SCORE."""
    if analyzer.spec.fused:
        scores = np.asarray(analyzer.calibration.fusion.fuse(per_model), dtype=np.float64)
    else:
        scores = per_model[analyzer.model_names[0]]
    return np.where(np.isnan(scores), NO_SCORE, scores)
