"""Score-level fusion: z-normalise each model's cosine score, then a weighted sum."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from facetrail.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class ScoreNormalisation:
    """One model's score statistics on calibration pairs (impostor and genuine)."""

    impostor_mean: float
    impostor_std: float
    genuine_mean: float
    genuine_std: float

    def z(self, score: float | np.ndarray) -> float | np.ndarray:
        """How many impostor standard deviations `score` lies above the impostor mean."""
        return (score - self.impostor_mean) / self.impostor_std


@dataclass(frozen=True, slots=True)
class ScoreFusion:
    """fused = sum_m weight_m * (score_m - impostor_mean_m) / impostor_std_m."""

    weights: Mapping[str, float]
    normalisation: Mapping[str, ScoreNormalisation]

    def __post_init__(self) -> None:
        missing = set(self.weights) - set(self.normalisation)
        if missing:
            raise InvalidInputError(f"fusion weights for models without statistics: {missing}")
        for model, stats in self.normalisation.items():
            if not stats.impostor_std > 0:
                raise InvalidInputError(f"impostor std of {model!r} must be > 0")

    @property
    def models(self) -> tuple[str, ...]:
        """The fused models' names, in weight order."""
        return tuple(self.weights)

    def fuse(self, scores: Mapping[str, float | np.ndarray]) -> float | np.ndarray:
        """The fused score of one comparison (or arrays of them), one score per model."""
        missing = [m for m in self.weights if m not in scores]
        if missing:
            raise InvalidInputError(
                f"fusion needs scores from {list(self.weights)}, missing {missing}"
            )
        total: float | np.ndarray = 0.0
        for model, weight in self.weights.items():
            total = total + weight * self.normalisation[model].z(scores[model])
        return total
