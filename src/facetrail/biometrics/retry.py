"""Detection that does not give up: retry a photo padded and with its contrast normalised.

YuNet wants context around a face and contrast inside it: a face filling the frame
(a legacy system's tight chip) or lit from one side is often missed. When the first pass
finds nothing, the photo is tried again with a replicated border around it, then with
its luminance equalised (CLAHE), then both; the first retry that finds a face wins, and
each face records which one (`Face.found_by`). Faces are mapped back to the original
photo's pixels. Video frames do not retry (live_analyzer uses the bare detector).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from facetrail.biometrics.detector import Detector, ensure_bgr
from facetrail.biometrics.face import Face

# A tight chip is padded by this share of its longer side on every side, so the face fills
# about half of what the detector sees (it was trained on faces with context).
PAD_FRACTION = 0.5
# CLAHE on the L channel of Lab: lifts a face lit from one side or under-exposed without
# amplifying noise in flat regions (OpenCV's usual clip limit and an 8x8 grid).
CLAHE_CLIP_LIMIT = 2.0
CLAHE_GRID = (8, 8)
STRETCH_PERCENTILES = (1.0, 99.0)
# Retries work on a copy at most this long: the detector sees at most 640 px of a padded
# photo twice as long, so nothing it could find is lost, and a 36 MP photo padded and
# equalised at full size would need about 1 GB.
RETRY_MAX_SIDE = 1280

DIRECT = "direct"
PADDED = "padded"
EQUALISED = "equalised"
PADDED_EQUALISED = "padded+equalised"


def pad(image: np.ndarray, fraction: float = PAD_FRACTION) -> tuple[np.ndarray, int]:
    """`image` with a replicated border of `fraction` x its longer side; the border width."""
    border = max(1, round(max(image.shape[:2]) * fraction))
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_REPLICATE)
    return padded, border


def equalise(image: np.ndarray) -> np.ndarray:
    """`image` with its luminance stretched to the full range, then CLAHE-equalised.

    The stretch (STRETCH_PERCENTILES of the luminance to 0-255) undoes haze and flat
    exposure; CLAHE then lifts the dark side of a face lit from one side.
    """
    lab = cv2.cvtColor(ensure_bgr(image), cv2.COLOR_BGR2LAB)
    luminance = lab[:, :, 0].astype(np.float32)
    low, high = np.percentile(luminance, STRETCH_PERCENTILES)
    if high - low >= 1.0:
        luminance = (luminance - low) * (255.0 / (high - low))
    stretched = np.clip(luminance, 0, 255).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_GRID)
    lab[:, :, 0] = clahe.apply(stretched)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _shifted(face: Face, offset: int, found_by: str) -> Face:
    """A face found in a padded image, in the original image's pixels."""
    x, y, w, h = face.box
    return replace(
        face,
        box=(x - offset, y - offset, w, h),
        landmarks=(face.landmarks - np.float32(offset)).astype(np.float32),
        found_by=found_by,
    )


def _shrunk(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`image` shrunk (area interpolation) so its longer side is at most `max_side`."""
    longest = max(image.shape[:2])
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _scaled(face: Face, factor: float) -> Face:
    """A face found in a shrunk copy, in the original photo's pixels."""
    x, y, w, h = face.box
    return replace(
        face,
        box=(x * factor, y * factor, w * factor, h * factor),
        landmarks=(face.landmarks * np.float32(factor)).astype(np.float32),
    )


class RetryingDetector:
    """A detector that retries padded / equalised photos before saying "no face"."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.name = inner.name

    def load(self) -> None:
        self.inner.load()

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces, from the first of: as is, padded, equalised, padded and equalised."""
        image = ensure_bgr(image)
        found = self.inner.detect(image)
        if found:
            return found
        small, scale = _shrunk(image, RETRY_MAX_SIDE)
        faces = self._retry(small)
        return faces if scale == 1.0 else [_scaled(face, 1.0 / scale) for face in faces]

    def _retry(self, image: np.ndarray) -> list[Face]:
        """The faces of the first retry that finds any, in `image`'s pixels."""
        attempts: list[tuple[str, Callable[[], list[Face]]]] = [
            (PADDED, lambda: self._detect_padded(image, PADDED)),
            (EQUALISED, lambda: self._tagged(self.inner.detect(equalise(image)), EQUALISED)),
            (PADDED_EQUALISED, lambda: self._detect_padded(equalise(image), PADDED_EQUALISED)),
        ]
        for _name, attempt in attempts:
            faces = attempt()
            if faces:
                return faces
        return []

    def _detect_padded(self, image: np.ndarray, found_by: str) -> list[Face]:
        padded, border = pad(image)
        return [_shifted(face, border, found_by) for face in self.inner.detect(padded)]

    @staticmethod
    def _tagged(faces: list[Face], found_by: str) -> list[Face]:
        return [replace(face, found_by=found_by) for face in faces]
