"""Metric code against small hand-computed cases: a wrong formula fails here."""

from __future__ import annotations

import numpy as np
import pytest

from facetrail.errors import InvalidInputError
from facetrail.evaluation import metrics

INF = np.inf


def test_fmr_and_fnmr_count_ties_as_matches() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.4])
    impostor = np.array([0.1, 0.2, 0.3, 0.6])
    # at 0.6: impostor 0.6 matches (>=), genuine 0.4 does not
    assert metrics.false_match_rate(impostor, 0.6) == 0.25
    assert metrics.false_non_match_rate(genuine, 0.6) == 0.25
    assert metrics.false_match_rate(impostor, 0.61) == 0.0
    assert metrics.false_non_match_rate(genuine, 0.95) == 1.0


def test_eer_where_the_rates_cross_exactly() -> None:
    eer, threshold = metrics.equal_error_rate([0.9, 0.8, 0.7, 0.4], [0.1, 0.2, 0.3, 0.6])
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.6)


def test_eer_interpolated_between_thresholds() -> None:
    # thresholds 0.1, 0.7, 0.75, 0.8, 0.9, inf: FMR 1, .5, .5, 0, 0, 0 and
    # FNMR 0, 0, 1/3, 1/3, 2/3, 1. Gap FMR-FNMR is +1/6 at 0.75 and -1/3 at 0.8, so the
    # crossing is a third of the way: FMR = .5 - .5/3 = 1/3 = FNMR.
    eer, threshold = metrics.equal_error_rate([0.9, 0.8, 0.7], [0.75, 0.1])
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.8)


def test_perfectly_separated_scores_have_zero_eer() -> None:
    eer, _ = metrics.equal_error_rate([0.8, 0.9], [0.1, 0.2])
    assert eer == 0.0


def test_missing_faces_count_as_non_matches() -> None:
    genuine = np.array([0.9, -INF])
    assert metrics.false_non_match_rate(genuine, 0.0) == 0.5
    assert metrics.false_match_rate(np.array([-INF, 0.5]), 0.0) == 0.5


def test_threshold_at_rate_allows_exactly_the_target_share() -> None:
    impostor = np.arange(1, 11) / 10  # 0.1 .. 1.0
    threshold = metrics.threshold_at_rate(impostor, 0.2)
    assert threshold is not None
    assert 0.8 < threshold <= np.nextafter(0.8, 1)  # only 0.9 and 1.0 reach it
    assert metrics.false_match_rate(impostor, threshold) == pytest.approx(0.2)
    # too few scores to measure 1e-2: reported as not measurable, not guessed
    assert metrics.threshold_at_rate(impostor, 0.01) is None


def test_fnmr_at_fmr_hand_case() -> None:
    genuine = np.array([0.95, 0.9, 0.85, 0.5, 0.3])
    impostor = np.concatenate([np.linspace(0.0, 0.4, 9), [0.6]])  # ten impostors
    point = metrics.fnmr_at_fmr(genuine, impostor, 0.1)
    # one impostor (0.6) may match: threshold just above 0.4, genuine 0.3 is the only miss
    assert point.threshold == pytest.approx(0.4)
    assert point.achieved == pytest.approx(0.1)
    assert point.error == pytest.approx(0.2)
    assert metrics.fnmr_at_fmr(genuine, impostor, 1e-3).error is None


def test_kfold_accuracy_uses_other_folds_for_the_threshold() -> None:
    # Fold 1 alone puts the threshold at 0.5 (between 0.3 and 0.7), which rejects fold 0's
    # genuine 0.45: fold 0 scores 2/3. Fold 0 puts it at 0.325, right for all of fold 1.
    scores = np.array([0.45, 0.2, 0.8, 0.3, 0.7, 0.25])
    same = np.array([True, False, True, False, True, False])
    fold = np.array([0, 0, 0, 1, 1, 1])
    result = metrics.kfold_accuracy(scores, same, fold)
    assert result.thresholds == pytest.approx((0.5, 0.325))
    assert result.per_fold[0] == pytest.approx(2 / 3)
    assert result.per_fold[1] == pytest.approx(1.0)
    assert result.mean == pytest.approx(5 / 6)
    assert result.std == pytest.approx(1 / 6)


def test_balanced_folds_split_each_class_evenly() -> None:
    same = np.array([True] * 10 + [False] * 10)
    fold = metrics.balanced_folds(same, 5)
    for k in range(5):
        assert (fold[same] == k).sum() == 2
        assert (fold[~same] == k).sum() == 2


def test_cmc_counts_ranks_and_not_found() -> None:
    ranks = np.array([1, 1, 2, 6, 0])  # 0: the mate was not found at all
    curve = metrics.cmc(ranks, (1, 5, 10))
    assert curve == {1: 0.4, 5: 0.6, 10: 0.8}


def test_fpir_and_fnir_by_nist_definitions() -> None:
    nonmated_top = np.array([0.2, 0.5, 0.7, -INF])  # the last search had no face
    rank1_mate = np.array([0.9, 0.6, -INF, 0.4])  # third: mate not at rank 1
    assert metrics.fpir(nonmated_top, 0.5) == 0.5
    assert metrics.fnir(rank1_mate, 0.5) == 0.5
    point = metrics.fnir_at_fpir(rank1_mate, nonmated_top, 0.25)
    # one of four non-mated searches may alert: threshold just above 0.5
    assert point.threshold == pytest.approx(0.5)
    assert point.achieved == 0.25
    assert point.error == 0.5  # 0.9 and 0.6 pass; -inf and 0.4 do not
    assert metrics.fnir_at_fpir(rank1_mate, nonmated_top, 0.1).threshold is None


def test_det_points_are_monotone_and_bounded() -> None:
    rng = np.random.default_rng(1)
    genuine, impostor = rng.normal(1, 0.3, 500), rng.normal(0, 0.3, 5000)
    points = metrics.det_points(genuine, impostor, limit=40)
    assert 2 <= len(points) <= 40
    fmr = [p["fmr"] for p in points]
    fnmr = [p["fnmr"] for p in points]
    assert fmr == sorted(fmr, reverse=True)
    assert fnmr == sorted(fnmr)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        metrics.false_match_rate(np.array([np.nan]), 0.5)
    with pytest.raises(InvalidInputError, match="at least one"):
        metrics.equal_error_rate([], [0.1])
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        metrics.threshold_at_rate(np.array([0.1, 0.2]), 1.5)
