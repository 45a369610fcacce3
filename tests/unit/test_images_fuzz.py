"""Fuzzing load_image (hypothesis): any bytes decode to a sane image or raise ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facetrail.errors import ImageError
from facetrail.media.images import MAX_ASPECT_RATIO, load_image

FUZZ_SETTINGS = settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _face_like(fmt: str) -> bytes:
    """A small textured image standing in for a photo (unit tests use no shared data)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (48, 64, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


SEEDS = {"jpeg": _face_like("JPEG"), "png": _face_like("PNG")}


def _sane_or_refused(data: bytes) -> None:
    """Assert load_image returns a sane BGR image or raises ImageError (other errors fail)."""
    try:
        decoded = load_image(data, name="fuzz")
    except ImageError as error:
        assert str(error).startswith("fuzz: ")
        return
    pixels = decoded.pixels
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.flags.c_contiguous
    height, width = pixels.shape[:2]
    assert min(height, width) >= 16
    assert max(height, width) <= MAX_ASPECT_RATIO * min(height, width)


@FUZZ_SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes_are_decoded_or_refused(data: bytes) -> None:
    _sane_or_refused(data)


@FUZZ_SETTINGS
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_mutated_jpeg_and_png_are_decoded_or_refused(
    fmt: str, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(SEEDS[fmt])
    for position, value in edits:
        data[position % len(data)] = value
    _sane_or_refused(bytes(data[: max(1, len(data) - cut % 64)]))


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_fuzz_seeds_decode(fmt: str) -> None:
    assert load_image(SEEDS[fmt]).width == 64
