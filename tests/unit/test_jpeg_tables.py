"""Huffman table values no encoder writes: refused before decoding; real tables kept."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetrail.errors import ImageError
from facetrail.media.images import load_image
from facetrail.media.jpeg_tables import find_bad_huffman_table

DHT = b"\xff\xc4"
CODE_LENGTHS = 16


def _lfw_bytes(faces_dir: Path, index: int = 0) -> bytes:
    return sorted((faces_dir / "lfw-dev").rglob("*.jpg"))[index].read_bytes()


def _table_values(data: bytes, table_class: int, destination: int) -> tuple[int, int]:
    """(offset of the first value, value count) of one Huffman table before the scan."""
    position = data.index(DHT)
    while position >= 0:
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        at, end = position + 4, position + 2 + length
        while at < end:
            count = sum(data[at + 1 : at + 1 + CODE_LENGTHS])
            if data[at] == (table_class << 4 | destination):
                return at + 1 + CODE_LENGTHS, count
            at += 1 + CODE_LENGTHS + count
        position = data.find(DHT, end)
    raise AssertionError("table not found")


def _with_value(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def test_an_ac_value_read_as_end_of_block_is_refused(faces_dir: Path) -> None:
    """The hostile corpus's flip93: 0xB1 (run 11, size 1) in the chroma AC table became
    0xB0, which libjpeg reads as an end of block, so every chroma block using that code
    lost the rest of its coefficients (a tint over the lower half), with no warning."""
    data = _lfw_bytes(faces_dir)
    start, count = _table_values(data, 1, 1)
    values = data[start : start + count]
    assert 0xB1 in values and 0xB0 not in values
    damaged = _with_value(data, start + values.index(0xB1), 0xB0)
    with pytest.raises(ImageError) as caught:
        load_image(damaged, name="tinted.jpg")
    message = str(caught.value)
    assert "tinted.jpg" in message and "AC Huffman table 1" in message
    assert "0xB0" in message and "end of block" in message


@pytest.mark.parametrize(
    ("table", "value", "why"),
    [((1, 0), 0x21, "listed twice"), ((1, 0), 0x5C, "AC size over 10"), ((0, 0), 0x0C, "DC size")],
)
def test_impossible_table_values_are_named(
    faces_dir: Path, table: tuple[int, int], value: int, why: str
) -> None:
    data = _lfw_bytes(faces_dir, 1)
    start, count = _table_values(data, *table)
    values = data[start : start + count]
    # replace a value that is not `value` itself (for "listed twice": one that exists)
    victim = next(i for i, v in enumerate(values) if v != value)
    bad = find_bad_huffman_table(_with_value(data, start + victim, value))
    assert bad is not None and why in bad.reason and bad.value == value


def test_undamaged_tables_pass_baseline_optimised_and_progressive(faces_dir: Path) -> None:
    """Real encoders' tables: the standard ones, optimised ones, and progressive ones
    (whose AC tables give codes to 0xR0, runs of end-of-bands)."""
    assert find_bad_huffman_table(_lfw_bytes(faces_dir)) is None
    pixels = np.asarray(Image.open(io.BytesIO(_lfw_bytes(faces_dir, 2))))
    for options in ({"optimize": True}, {"progressive": True, "optimize": True}):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90, **options)
        assert find_bad_huffman_table(buffer.getvalue()) is None, options
        assert load_image(buffer.getvalue()).width == pixels.shape[1]
