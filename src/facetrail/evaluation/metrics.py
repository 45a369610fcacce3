"""Error-rate metrics on score arrays (ISO/IEC 19795-1, NIST FRTE): pure numpy functions.

Conventions: a higher score means more similar; a comparison "matches" when
`score >= threshold`. A comparison that could not be made (no face found) carries the
score -inf, so it never matches: failures to acquire count as errors, not as absences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetrail.biometrics.calibration import accuracy_at, best_accuracy_threshold
from facetrail.errors import InvalidInputError

NO_SCORE = -np.inf  # the score of a comparison that could not be made
DET_POINTS = 60  # points kept of a DET curve for reports and JSON
CMC_RANKS = (1, 5, 10, 20, 50)
FMR_TARGETS = (1e-2, 1e-3, 1e-4)
FPIR_TARGETS = (0.1, 0.03, 0.01, 0.003, 0.001)


def _scores(values: np.ndarray | list[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise InvalidInputError(f"need at least one {what} score")
    if np.isnan(array).any():
        raise InvalidInputError(f"{what} scores contain NaN: use -inf for 'no comparison'")
    return array


def false_match_rate(impostor: np.ndarray, threshold: float) -> float:
    """FMR: the share of impostor comparisons scoring at or above `threshold`."""
    impostor = _scores(impostor, "impostor")
    return float((impostor >= threshold).mean())


def false_non_match_rate(genuine: np.ndarray, threshold: float) -> float:
    """FNMR: the share of genuine comparisons scoring below `threshold`."""
    genuine = _scores(genuine, "genuine")
    return float((genuine < threshold).mean())


def error_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, ...]:
    """(thresholds, FMR, FNMR) at every distinct score and at +inf, thresholds ascending."""
    genuine, impostor = _scores(genuine, "genuine"), _scores(impostor, "impostor")
    finite = np.concatenate([genuine, impostor])
    thresholds = np.unique(np.append(finite[np.isfinite(finite)], np.inf))
    g_sorted, i_sorted = np.sort(genuine), np.sort(impostor)
    fnmr = np.searchsorted(g_sorted, thresholds, side="left") / genuine.size
    fmr = (impostor.size - np.searchsorted(i_sorted, thresholds, side="left")) / impostor.size
    return thresholds, fmr, fnmr


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where FMR equals FNMR, linearly interpolated between thresholds.

    FMR falls and FNMR rises as the threshold rises; the EER is read where the two
    cross. The threshold returned is the first one at which FNMR >= FMR.
    """
    thresholds, fmr, fnmr = error_curve(genuine, impostor)
    gap = fmr - fnmr
    k = int(np.argmax(gap <= 0))  # the last threshold (+inf) always has gap <= 0
    if gap[k] == 0 or k == 0:
        return float(fmr[k]), float(thresholds[k])
    alpha = gap[k - 1] / (gap[k - 1] - gap[k])
    return float(fmr[k - 1] + alpha * (fmr[k] - fmr[k - 1])), float(thresholds[k])


def threshold_at_rate(scores: np.ndarray, rate: float) -> float | None:
    """The lowest threshold at which at most `rate` of `scores` are >= it.

    None when there are too few scores to measure the rate (fewer than 1 / rate).
    """
    ordered = np.sort(_scores(scores, "impostor"))
    if not 0 < rate < 1:
        raise InvalidInputError(f"a target rate must be between 0 and 1, got {rate}")
    if ordered.size * rate < 1:
        return None
    allowed = int(np.floor(rate * ordered.size + 1e-9))  # scores that may be >= threshold
    return float(np.nextafter(ordered[ordered.size - allowed - 1], np.inf))


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """An error rate reached at a target rate of the other kind, and its threshold."""

    target: float
    threshold: float | None
    achieved: float | None  # the target-kind rate actually reached at that threshold
    error: float | None  # the other rate at that threshold (FNMR or FNIR)

    def as_dict(self) -> dict[str, float | None]:
        return {
            "target": self.target,
            "threshold": self.threshold,
            "achieved": self.achieved,
            "error": self.error,
        }


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> OperatingPoint:
    """FNMR at the lowest threshold whose FMR is at most `fmr` (None if not measurable)."""
    threshold = threshold_at_rate(impostor, fmr)
    if threshold is None:
        return OperatingPoint(fmr, None, None, None)
    return OperatingPoint(
        fmr,
        threshold,
        false_match_rate(impostor, threshold),
        false_non_match_rate(genuine, threshold),
    )


def det_points(
    genuine: np.ndarray, impostor: np.ndarray, limit: int = DET_POINTS
) -> list[dict[str, float]]:
    """At most `limit` (threshold, FMR, FNMR) points of the DET curve, spread over log FMR."""
    thresholds, fmr, fnmr = error_curve(genuine, impostor)
    keep = np.flatnonzero(np.isfinite(thresholds))
    if keep.size > limit:
        positive = np.maximum(fmr[keep], 0.5 / max(np.asarray(impostor).size, 1))
        targets = np.geomspace(positive.min(), positive.max(), limit)
        chosen = {int(keep[np.argmin(np.abs(np.log(positive) - np.log(t)))]) for t in targets}
        keep = np.array(sorted(chosen))
    return [
        {"threshold": float(thresholds[i]), "fmr": float(fmr[i]), "fnmr": float(fnmr[i])}
        for i in keep
    ]


@dataclass(frozen=True, slots=True)
class FoldResult:
    """Accuracy over folds, each fold's threshold chosen on the other folds."""

    mean: float
    std: float
    per_fold: tuple[float, ...]
    thresholds: tuple[float, ...]


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> FoldResult:
    """Mean and std accuracy over the folds in `fold` (LFW protocol: train on the rest)."""
    scores = np.asarray(scores, dtype=np.float64)
    same, fold = np.asarray(same, dtype=bool), np.asarray(fold)
    if not scores.shape == same.shape == fold.shape:
        raise InvalidInputError("scores, labels and folds must have one entry per pair")
    folds = np.unique(fold)
    if folds.size < 2:
        raise InvalidInputError("k-fold accuracy needs at least two folds")
    accuracies, thresholds = [], []
    for k in folds:
        train, test = fold != k, fold == k
        if not (same[train].any() and (~same[train]).any()):
            raise InvalidInputError(f"fold {k}: the other folds lack same or different pairs")
        threshold, _ = best_accuracy_threshold(scores[train & same], scores[train & ~same])
        accuracies.append(accuracy_at(scores[test & same], scores[test & ~same], threshold))
        thresholds.append(threshold)
    return FoldResult(
        float(np.mean(accuracies)), float(np.std(accuracies)), tuple(accuracies), tuple(thresholds)
    )


def balanced_folds(same: np.ndarray, folds: int) -> np.ndarray:
    """Fold numbers splitting the same pairs and the different pairs into `folds` runs each."""
    same = np.asarray(same, dtype=bool)
    fold = np.empty(same.size, dtype=np.int64)
    for kind in (same, ~same):
        count = int(kind.sum())
        fold[kind] = np.arange(count) * folds // max(count, 1)
    return fold


# --- identification (1:N) -------------------------------------------------------------


def cmc(mate_ranks: np.ndarray, ranks: tuple[int, ...] = CMC_RANKS) -> dict[int, float]:
    """Share of mated searches whose mate is at rank r or better (rank 0: not found)."""
    mate_ranks = np.asarray(mate_ranks)
    if mate_ranks.size == 0:
        raise InvalidInputError("CMC needs at least one mated search")
    found = mate_ranks > 0
    return {r: float((found & (mate_ranks <= r)).mean()) for r in ranks}


def fpir(nonmated_top: np.ndarray, threshold: float) -> float:
    """FPIR: the share of non-mated searches returning any candidate at or above threshold."""
    return false_match_rate(nonmated_top, threshold)


def fnir(mated_rank1_score: np.ndarray, threshold: float) -> float:
    """FNIR: share of mated searches whose mate is not returned at rank 1 at or above threshold.

    `mated_rank1_score` is the mate's score when the mate is at rank 1, else -inf.
    """
    return false_non_match_rate(mated_rank1_score, threshold)


def fnir_at_fpir(
    mated_rank1_score: np.ndarray, nonmated_top: np.ndarray, target: float
) -> OperatingPoint:
    """FNIR at the lowest threshold whose FPIR is at most `target` (None if not measurable)."""
    threshold = threshold_at_rate(nonmated_top, target)
    if threshold is None:
        return OperatingPoint(target, None, None, None)
    return OperatingPoint(
        target,
        threshold,
        fpir(nonmated_top, threshold),
        fnir(mated_rank1_score, threshold),
    )
