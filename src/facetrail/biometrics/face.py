"""The Face record that flows through detection, quality assessment and embedding."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# Landmark order (YuNet's): right eye, left eye, nose tip, right mouth corner, left mouth
# corner, where "right" is the subject's right (the left side of the image).
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Face image quality: an overall 0-100 score and its 0-100 components."""

    score: float
    components: dict[str, float]


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: where it is, how good it is, and its templates once embedded.

    `box` is (x, y, w, h) in pixels of the image it was detected in; `landmarks` is a
    (5, 2) float32 array in the same pixels, in LANDMARK_NAMES order. `templates` maps a
    recognizer's model name to its L2-normalised float32 vector. `found_by` says whether
    the first detection pass found it, or which retry (padded, equalised) did.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detector_score: float
    quality: QualityReport | None = None
    templates: dict[str, np.ndarray] = field(default_factory=dict)
    found_by: str = "direct"  # or the detection retry that found it (biometrics/retry.py)

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    def with_quality(self, quality: QualityReport) -> Face:
        return replace(self, quality=quality)

    def with_template(self, model: str, vector: np.ndarray) -> Face:
        return replace(self, templates={**self.templates, model: vector})

    def template(self, model: str) -> np.ndarray:
        """The template made by `model`; KeyError names the models present."""
        try:
            return self.templates[model]
        except KeyError:
            raise KeyError(
                f"face has no {model!r} template (has: {sorted(self.templates)})"
            ) from None
