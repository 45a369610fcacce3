"""Blank and very wide images hold no face, whatever YuNet says about them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import ImageError, NoFaceError
from facetrail.media.images import load_image

# (width, height, grey level): strips YuNet sees as 640 x 8-25 (it returned boxes at infinity
# with score 1.0 for these, in this order), and the two images.
BLANK_STRIPS = [(640, 16, 128), (4_000, 100, 128), (19_000, 300, 128), (20_000, 500, 255)]


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_spec("yunet+sface").load()


def test_blank_strips_give_no_face(analyzer: FaceAnalyzer) -> None:
    for width, height, level in BLANK_STRIPS:
        pixels = np.full((height, width, 3), level, np.uint8)
        assert analyzer.detect(pixels) == [], (width, height)
        with pytest.raises(NoFaceError):
            analyzer.analyze_largest(pixels)


@pytest.mark.parametrize(("fmt", "size"), [("JPEG", (19_000, 300)), ("PNG", (20_000, 500))])
def test_blank_wide_files_are_refused_by_the_decoder(fmt: str, size: tuple[int, int]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(buffer, fmt)
    with pytest.raises(ImageError, match="10:1"):
        load_image(buffer.getvalue())
