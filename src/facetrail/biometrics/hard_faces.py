"""Hard-face variants of a photo, for measuring detection: tight chips, dark, flat, side-lit."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

TIGHT_INSET = 0.08  # a legacy chip cuts into the face: this share of the box off each side
DARK_GAIN = 0.15  # an under-exposed cell corridor
LOW_CONTRAST = 0.25  # pixel values pulled to their mean (haze, a washed-out scan)
SIDE_LIGHT_MIN_GAIN = 0.03  # light from one side: gain falls to this across the face


def tight_crop(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The face box cut TIGHT_INSET inside on each side, in grey (a legacy custody chip)."""
    x, y, w, h = box
    inset_x, inset_y = w * TIGHT_INSET, h * TIGHT_INSET
    height, width = pixels.shape[:2]
    x0, y0 = max(0, round(x + inset_x)), max(0, round(y + inset_y))
    x1, y1 = min(width, round(x + w - inset_x)), min(height, round(y + h - inset_y))
    chip = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    return cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY) if chip.ndim == 3 else chip


def darkened(pixels: np.ndarray) -> np.ndarray:
    """The photo at DARK_GAIN of its brightness."""
    return np.clip(pixels.astype(np.float32) * DARK_GAIN, 0, 255).astype(np.uint8)


def low_contrast(pixels: np.ndarray) -> np.ndarray:
    """The photo with its contrast cut to LOW_CONTRAST around its mean."""
    values = pixels.astype(np.float32)
    mean = values.mean()
    return np.clip(mean + (values - mean) * LOW_CONTRAST, 0, 255).astype(np.uint8)


def side_lit(pixels: np.ndarray) -> np.ndarray:
    """The photo under a per-pixel gain ramp from 1 (left) to SIDE_LIGHT_MIN_GAIN (right)."""
    ramp = np.linspace(1.0, SIDE_LIGHT_MIN_GAIN, pixels.shape[1], dtype=np.float32)
    gain = ramp[None, :, None] if pixels.ndim == 3 else ramp[None, :]
    return np.clip(pixels.astype(np.float32) * gain, 0, 255).astype(np.uint8)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tight": lambda p: p,
    "tight+dark": darkened,
    "tight+flat": low_contrast,
    "tight+side": side_lit,
}
