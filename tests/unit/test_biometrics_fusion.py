"""Score fusion and threshold measurement on known numbers."""

from __future__ import annotations

import numpy as np
import pytest

from facetrail.biometrics.calibration import (
    accuracy_at,
    best_accuracy_threshold,
    kfold_accuracy,
    threshold_at_fmr,
)
from facetrail.biometrics.fusion import ScoreFusion, ScoreNormalisation
from facetrail.errors import InvalidInputError


def _fusion() -> ScoreFusion:
    return ScoreFusion(
        weights={"a": 0.75, "b": 0.25},
        normalisation={
            "a": ScoreNormalisation(0.1, 0.1, 0.7, 0.1),
            "b": ScoreNormalisation(0.5, 0.05, 0.9, 0.03),
        },
    )


def test_fused_score_is_weighted_sum_of_impostor_z_scores() -> None:
    # a: (0.4 - 0.1) / 0.1 = 3; b: (0.6 - 0.5) / 0.05 = 2; 0.75 * 3 + 0.25 * 2 = 2.75
    assert _fusion().fuse({"a": 0.4, "b": 0.6}) == pytest.approx(2.75)
    # at both impostor means the fused score is 0
    assert _fusion().fuse({"a": 0.1, "b": 0.5}) == pytest.approx(0.0)


def test_fusion_works_on_arrays_and_ignores_extra_models() -> None:
    fused = _fusion().fuse({"a": np.array([0.1, 0.4]), "b": np.array([0.5, 0.6]), "c": 9.0})
    np.testing.assert_allclose(fused, [0.0, 2.75])


def test_fusion_names_missing_scores() -> None:
    with pytest.raises(InvalidInputError, match=r"missing \['b'\]"):
        _fusion().fuse({"a": 0.4})


def test_fusion_rejects_zero_impostor_std() -> None:
    with pytest.raises(InvalidInputError, match="std"):
        ScoreFusion({"a": 1.0}, {"a": ScoreNormalisation(0.0, 0.0, 1.0, 0.1)})


def test_best_threshold_separates_separable_scores() -> None:
    threshold, accuracy = best_accuracy_threshold(np.array([0.6, 0.7, 0.9]), np.array([0.1, 0.2]))
    assert accuracy == 1.0
    assert 0.2 < threshold < 0.6
    assert accuracy_at([0.6, 0.7, 0.9], [0.1, 0.2], threshold) == 1.0


def test_best_threshold_with_overlap_counts_errors() -> None:
    # one genuine (0.3) below one impostor (0.5): at best one of six pairs is wrong
    _, accuracy = best_accuracy_threshold(np.array([0.3, 0.8, 0.9]), np.array([0.1, 0.2, 0.5]))
    assert accuracy == pytest.approx(5 / 6)


def test_kfold_accuracy_perfect_and_chance() -> None:
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 100)
    separable = np.where(same, rng.uniform(0.6, 1, 200), rng.uniform(0, 0.4, 200))
    mean, _, folds = kfold_accuracy(separable, same)
    assert mean == 1.0 and len(folds) == 10
    noise = rng.uniform(0, 1, 200)
    assert kfold_accuracy(noise, same)[0] < 0.75


def test_threshold_at_fmr_lets_through_the_allowed_share() -> None:
    impostors = np.arange(1000) / 1000.0
    threshold = threshold_at_fmr(impostors, 1e-2)
    assert (impostors >= threshold).sum() == 10
    with pytest.raises(InvalidInputError, match="cannot measure FMR"):
        threshold_at_fmr(impostors, 1e-4)
