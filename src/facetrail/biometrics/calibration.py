"""Calibrated decision thresholds and fusion parameters, measured and packaged as JSON."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from scipy.stats import norm

from facetrail.biometrics.fusion import ScoreFusion, ScoreNormalisation
from facetrail.errors import InvalidInputError, ModelError

CALIBRATION_RESOURCE = "calibration.json"


# False "possible duplicate" warnings allowed per new person enrolled (one in a hundred).
FALSE_DUPLICATES_PER_PERSON = 0.01
# Same-track linking: a face this far above the impostor mean (in impostor standard
# deviations) may continue a track; 1.2 gives the 0.20 SFace cosine tracking was tuned at.
LINKING_IMPOSTOR_SIGMAS = 1.2


@dataclass(frozen=True, slots=True)
class ModelCalibration:
    """One recognizer's score statistics and fusion weight within a pipeline."""

    name: str
    version: str
    normalisation: ScoreNormalisation
    weight: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """A pipeline's decision threshold and how it was measured.

    `threshold` is in the pipeline's score units: the raw cosine for one recognizer, the
    fused z-score sum for several. `fmr_thresholds` maps a false match rate ("1e-3") to
    the score threshold reaching it on the calibration impostors.
    """

    spec: str
    threshold: float
    score_kind: str
    models: tuple[ModelCalibration, ...]
    fmr_thresholds: dict[str, float]
    dataset: str
    measured_at: str
    method: str
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def fusion(self) -> ScoreFusion:
        """The score fusion these parameters define."""
        return ScoreFusion(
            weights={m.name: m.weight for m in self.models},
            normalisation={m.name: m.normalisation for m in self.models},
        )

    def linking_scores(self) -> dict[str, float]:
        """Per-model scores above which two faces are similar enough to be one track.

        A lenient bound from each recognizer's own impostor statistics (mean plus
        LINKING_IMPOSTOR_SIGMAS standard deviations), so it means the same for every model:
        0.20 cosine for SFace, 0.88 for dlib, where one fixed cosine would not.
        """
        return {
            m.name: m.normalisation.impostor_mean
            + LINKING_IMPOSTOR_SIGMAS * m.normalisation.impostor_std
            for m in self.models
        }

    def threshold_for_rate(self, fmr: float) -> float:
        """The threshold at a false match rate per comparison, from the calibrated points.

        Log-interpolated between points; below the lowest calibrated FMR, extrapolated by
        the impostor scores' normal model (fused: a weighted sum of z-scores), never lower
        than the last calibrated point.
        """
        points = sorted((float(k), v) for k, v in self.fmr_thresholds.items())
        if not points:
            return self._normal_model_threshold(fmr)
        if fmr >= points[-1][0]:
            return points[-1][1]
        if fmr <= points[0][0]:
            return max(points[0][1], self._normal_model_threshold(fmr))
        for (f0, t0), (f1, t1) in itertools.pairwise(points):
            if f0 <= fmr <= f1:
                share = (math.log10(fmr) - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
                return t0 + share * (t1 - t0)
        return points[-1][1]

    def _normal_model_threshold(self, fmr: float) -> float:
        z = float(norm.isf(fmr))
        if self.score_kind == "fused-z":
            return z * math.sqrt(sum(m.weight**2 for m in self.models))
        model = self.models[0].normalisation
        return model.impostor_mean + z * model.impostor_std

    def duplicate_threshold(
        self, gallery_size: int, false_duplicates: float = FALSE_DUPLICATES_PER_PERSON
    ) -> float:
        """The score above which a new person looks like a duplicate in a gallery this big.

        Each new person is compared with every subject: the per-comparison FMR that keeps
        false duplicate warnings to `false_duplicates` per new person is
        1 - (1 - rate)^(1/N); the threshold is that FMR's, never below the 1:1 threshold.
        """
        size = max(gallery_size, 1)
        fmr = 1.0 - (1.0 - false_duplicates) ** (1.0 / size)
        return max(self.threshold, self.threshold_for_rate(fmr))

    def threshold_at_fmr(self, fmr: str) -> float:
        """The threshold for a false match rate such as "1e-3" (KeyError lists them)."""
        try:
            return self.fmr_thresholds[fmr]
        except KeyError:
            raise KeyError(
                f"no threshold for FMR {fmr!r}; calibrated: {sorted(self.fmr_thresholds)}"
            ) from None


@cache
def _calibration_file() -> dict[str, Any]:
    """The packaged calibration JSON (read once; it is immutable package data)."""
    path = resources.files("facetrail.biometrics") / "data" / CALIBRATION_RESOURCE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"packaged calibration file missing ({path}): run "
            "scripts/make_default_calibration.py or reinstall facetrail"
        ) from None


def calibrated_specs() -> list[str]:
    """The pipeline specs that have packaged calibration."""
    return sorted(_calibration_file()["pipelines"])


def calibration_from_dict(spec: str, entry: dict[str, Any]) -> Calibration:
    """A Calibration from one pipeline's JSON entry."""
    models = tuple(
        ModelCalibration(
            name=name,
            version=model["version"],
            normalisation=ScoreNormalisation(
                impostor_mean=model["impostor_mean"],
                impostor_std=model["impostor_std"],
                genuine_mean=model["genuine_mean"],
                genuine_std=model["genuine_std"],
            ),
            weight=model["weight"],
        )
        for name, model in entry["models"].items()
    )
    return Calibration(
        spec=spec,
        threshold=float(entry["threshold"]),
        score_kind=entry["score_kind"],
        models=models,
        fmr_thresholds={k: float(v) for k, v in entry["fmr_thresholds"].items()},
        dataset=entry["dataset"],
        measured_at=entry["measured_at"],
        method=entry["method"],
        results=dict(entry.get("results", {})),
    )


def load_calibration(spec: str) -> Calibration:
    """The packaged calibration of pipeline `spec` (InvalidInputError if there is none)."""
    pipelines = _calibration_file()["pipelines"]
    key = spec.strip()
    if key not in pipelines:
        raise InvalidInputError(
            f"no calibration for pipeline {spec!r}; calibrated pipelines: "
            f"{', '.join(sorted(pipelines))}. Calibrate it first (see "
            "scripts/make_default_calibration.py)"
        )
    return calibration_from_dict(key, pipelines[key])


# --- measuring: pure functions over genuine / impostor score arrays -------------------


def best_accuracy_threshold(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of `score >= threshold` means same.

    Candidates are midpoints between consecutive distinct scores; among equally good
    ones the middle one is taken, so the threshold sits inside the best plateau.
    """
    genuine = np.asarray(genuine, dtype=np.float64)
    impostor = np.asarray(impostor, dtype=np.float64)
    if genuine.size == 0 or impostor.size == 0:
        raise InvalidInputError("need at least one genuine and one impostor score")
    scores = np.unique(np.concatenate([genuine, impostor]))
    candidates = np.concatenate(
        [[scores[0] - 1e-6], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-6]]
    )
    g_sorted, i_sorted = np.sort(genuine), np.sort(impostor)
    accepted_genuine = genuine.size - np.searchsorted(g_sorted, candidates, side="left")
    rejected_impostor = np.searchsorted(i_sorted, candidates, side="left")
    accuracy = (accepted_genuine + rejected_impostor) / (genuine.size + impostor.size)
    best = np.flatnonzero(accuracy == accuracy.max())
    chosen = best[len(best) // 2]
    return float(candidates[chosen]), float(accuracy[chosen])


def accuracy_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> float:
    """The fraction of pairs decided right by `score >= threshold` means same."""
    genuine, impostor = np.asarray(genuine), np.asarray(impostor)
    right = int((genuine >= threshold).sum()) + int((impostor < threshold).sum())
    return right / (genuine.size + impostor.size)


def kfold_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: int = 10
) -> tuple[float, float, list[float]]:
    """(mean, std, per-fold) accuracy, each fold's threshold chosen on the other folds.

    Each fold takes a consecutive slice of the genuine pairs and of the impostor pairs,
    as in the LFW protocol (pairs files list each kind in a block).
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.size < folds:
        raise InvalidInputError(f"need >= {folds} scores with one label each")
    fold_of = np.empty(scores.size, dtype=np.int64)
    for kind in (same, ~same):
        count = int(kind.sum())
        fold_of[kind] = np.arange(count) * folds // max(count, 1)
    per_fold = []
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        threshold, _ = best_accuracy_threshold(scores[train & same], scores[train & ~same])
        per_fold.append(accuracy_at(scores[test & same], scores[test & ~same], threshold))
    return float(np.mean(per_fold)), float(np.std(per_fold)), per_fold


def threshold_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """The lowest threshold at which at most `fmr` of impostor scores are >= it."""
    impostor = np.sort(np.asarray(impostor, dtype=np.float64))
    if impostor.size * fmr < 1:
        raise InvalidInputError(
            f"{impostor.size} impostor scores cannot measure FMR {fmr:g} "
            f"(need at least {int(np.ceil(1 / fmr))})"
        )
    allowed = int(np.floor(fmr * impostor.size))  # impostors that may score >= threshold
    return float(np.nextafter(impostor[impostor.size - allowed - 1], np.inf))
