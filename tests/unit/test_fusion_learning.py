"""Learned fusion weights: fitted on training comparisons, better at the low-FMR tail."""

from __future__ import annotations

import numpy as np
import pytest

from facetrail.biometrics.fusion import ScoreNormalisation
from facetrail.errors import InvalidInputError
from facetrail.evaluation.fusion_learning import (
    ComparisonScores,
    fnmr,
    fused,
    fusion_study,
    learn_weights,
    threshold_at,
)

NORMAL = {
    "a": ScoreNormalisation(0.0, 1.0, 3.0, 1.0),
    "b": ScoreNormalisation(0.0, 1.0, 3.0, 1.0),
}


def test_threshold_at_keeps_the_false_match_rate_at_most_the_target() -> None:
    impostor = np.random.default_rng(0).normal(size=100_000)
    for fmr in (1e-2, 1e-3, 1e-4):
        threshold = threshold_at(impostor, fmr)
        assert np.mean(impostor >= threshold) <= fmr
        assert np.mean(impostor >= np.nextafter(threshold, -np.inf) - 1e-3) > fmr / 2
    assert fnmr(np.array([0.0, 10.0]), impostor, 1e-3) == 0.5


def _scores(rng: np.random.Generator, genuine: int, impostor: int) -> ComparisonScores:
    """Model a: tight impostors (good at the tail); model b: a heavy impostor tail."""
    return ComparisonScores(
        genuine={"a": rng.normal(3.0, 1.0, genuine), "b": rng.normal(3.5, 1.0, genuine)},
        impostor={
            "a": rng.normal(0.0, 1.0, impostor),
            "b": np.where(rng.random(impostor) < 0.01, 4.0, 0.0) + rng.normal(0.0, 1.0, impostor),
        },
    )


def test_learned_weights_beat_equal_weights_at_the_tail() -> None:
    rng = np.random.default_rng(1)
    train, test = _scores(rng, 5_000, 200_000), _scores(rng, 5_000, 200_000)
    weights = learn_weights(train, NORMAL)
    assert weights["a"] > 0.6 and abs(weights["a"] + weights["b"] - 1.0) < 1e-9
    equal = {"a": 0.5, "b": 0.5}

    def tail(w: dict[str, float]) -> float:
        return fnmr(fused(test.genuine, NORMAL, w), fused(test.impostor, NORMAL, w), 1e-3)

    assert tail(weights) < tail(equal)


def test_learning_needs_exactly_two_models() -> None:
    one = ComparisonScores(genuine={"a": np.ones(3)}, impostor={"a": np.zeros(3)})
    with pytest.raises(InvalidInputError, match="two recognizers"):
        learn_weights(one, NORMAL)


def test_the_study_fits_each_fold_without_its_own_images() -> None:
    rng = np.random.default_rng(2)
    pairs, images = 400, 800
    same = np.arange(pairs) % 2 == 0
    fold = np.arange(pairs) % 4
    pair_images = (rng.integers(0, images, pairs), rng.integers(0, images, pairs))
    genuine = _scores(rng, pairs, 50_000)
    pair_scores = {
        m: np.where(same, genuine.genuine[m], genuine.impostor[m][:pairs]) for m in ("a", "b")
    }
    left, right = rng.integers(0, images, 50_000), rng.integers(0, images, 50_000)
    result = fusion_study(
        pair_scores,
        same,
        fold,
        pair_images,
        genuine.impostor,
        (left, right),
        NORMAL,
        {"a": 0.5, "b": 0.5},
    )
    assert result["folds"] == 4 and len(result["learned_weights"]) == 4
    summary = result["fnmr_at_fmr"]
    assert set(summary) == {"a", "b", "fixed fusion", "learned fusion"}
    assert summary["learned fusion"]["0.001"] <= summary["fixed fusion"]["0.001"] + 0.05
    # the missed mates behind each rate, summed over the folds' test pairs
    assert set(result["missed_mates"]) == set(summary)
    for method, points in summary.items():
        for target, rate in points.items():
            assert result["missed_mates"][method][target] == round(rate * int(same.sum()))
