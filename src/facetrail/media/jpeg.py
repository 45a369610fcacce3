"""Strict JPEG decoding: libjpeg's corruption warnings refuse the file instead of being hidden.

Pillow and OpenCV both silence libjpeg's recoverable errors ("Corrupt JPEG data: N
extraneous bytes", "premature end of data segment", "Premature end of JPEG file") and
return whatever was decoded, grey fill included. simplejpeg (libjpeg-turbo) raises them
as ValueError with strict=True, so the one decode both checks and produces the pixels.
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from facetrail.errors import ImageError
from facetrail.media.jpeg_coefficients import DcOutOfRange, find_coefficient_damage
from facetrail.media.jpeg_damage import GarbageBlock, find_damage
from facetrail.media.jpeg_tables import find_bad_huffman_table

JPEG_EOI = b"\xff\xd9"
# Bytes some encoders leave after the end-of-image marker (zero or 0xFF padding).
PADDING_BYTES = b"\x00\xff"
# Each 8x8 block of the first component costs at least one Huffman-coded bit per scan
# (the DC symbol; progressive AC scans can skip blocks by end-of-band runs), so a JPEG
# holds at least width*height/512 bytes. Fewer means a forged header (decompression bomb)
# or a truncated file; only arithmetic-coded flat images go below, and cameras make none.
JPEG_MAX_PIXELS_PER_BYTE = 8 * 8 * 8


def check_jpeg_density(size: tuple[int, int], byte_count: int, label: str) -> None:
    """Refuse a JPEG too small in bytes to hold the pixels its header declares."""
    width, height = size
    if width * height > byte_count * JPEG_MAX_PIXELS_PER_BYTE:
        raise ImageError(
            label,
            f"JPEG header declares {width}x{height} but the file has only {byte_count} bytes, "
            f"under the minimum of one byte per {JPEG_MAX_PIXELS_PER_BYTE} pixels a JPEG needs "
            "(forged header or truncated file); copy or export it again",
        )


def check_jpeg_end(data: bytes, label: str) -> None:
    """Refuse a JPEG that does not end with its end-of-image marker (padding allowed)."""
    if not data.rstrip(PADDING_BYTES).endswith(JPEG_EOI):
        raise ImageError(
            label,
            "JPEG does not end with its end-of-image marker: truncated or corrupt, or another "
            "file appended (a polyglot, or a phone's motion photo); export the photo again",
        )


def check_jpeg_tables(data: bytes, label: str) -> None:
    """Refuse a JPEG whose Huffman tables hold a value no encoder writes (jpeg_tables)."""
    bad = find_bad_huffman_table(data)
    if bad is None:
        return
    raise ImageError(
        label,
        f"JPEG looks damaged: its {bad.kind} Huffman table {bad.table} holds the value "
        f"0x{bad.value:02X}, {bad.reason}, which no encoder writes; libjpeg would decode "
        "every block using that code wrongly without a warning; copy or export the photo again",
    )


def decode_jpeg_strict(
    data: bytes, label: str, min_size: tuple[int, int] | None = None
) -> np.ndarray:
    """BGR uint8 pixels of a JPEG, at a reduced scale no smaller than `min_size` if given."""
    min_width, min_height = min_size or (0, 0)
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="BGR", min_width=min_width, min_height=min_height, strict=True
        )
    except ValueError as error:
        raise ImageError(
            label,
            f"JPEG data is corrupt or truncated (libjpeg: {_libjpeg_reason(error)}); "
            "copy or export it again",
        ) from error
    pixels = np.ascontiguousarray(pixels)
    check_decoding_damage(data, pixels, label)
    return pixels


def check_decoding_damage(data: bytes, pixels: np.ndarray, label: str) -> None:
    """Refuse a JPEG whose coefficients or pixels show corrupted data libjpeg decoded."""
    check_coefficients(data, label)
    try:
        _, width, _, subsampling = simplejpeg.decode_jpeg_header(data)
    except ValueError:  # a layout turbojpeg cannot name: judge the luma alone
        width, subsampling = pixels.shape[1], "unknown"
    damage = find_damage(pixels, subsampling, scale=pixels.shape[1] / max(width, 1))
    if damage is None:
        return
    if isinstance(damage, GarbageBlock):
        raise ImageError(
            label,
            f"JPEG looks damaged: the {damage.component} block at row {damage.row}, column "
            f"{damage.column} "
            f"breaks from all four of its neighbours by {damage.levels:.0f} levels or more, "
            "the mark of corrupted data that libjpeg decodes without complaint; "
            "copy or export the photo again",
        )
    raise ImageError(
        label,
        f"JPEG looks damaged: its {damage.component} jumps by {damage.levels:+.0f} levels exactly "
        f"on the 8-pixel block boundary at row {damage.row}, across "
        f"{damage.agreement:.0%} of the width, the mark of corrupted data that libjpeg decodes "
        "without complaint (the picture below that row is shifted or discoloured); "
        "copy or export the photo again",
    )


def check_coefficients(data: bytes, label: str) -> None:
    """Refuse a JPEG whose DCT coefficients show corrupted data (jpeg_coefficients)."""
    found = find_coefficient_damage(data)
    if found is None:
        return
    if isinstance(found, DcOutOfRange):
        raise ImageError(
            label,
            f"JPEG looks damaged: {found.blocks} {found.component} block(s) have a DC "
            f"coefficient giving a mean of {found.mean:.0f} grey levels (the worst at row "
            f"{found.row}, column {found.column} of that component), outside the 0-255 every "
            "encoder keeps to, the mark of corrupted data that libjpeg decodes without "
            "complaint (part of the picture is shifted or discoloured); "
            "copy or export the photo again",
        )
    raise ImageError(
        label,
        f"JPEG looks damaged: its {found.component} is offset by {found.levels:+.0f} levels from "
        f"row {found.row}, column {found.column} of that component onwards in scan order "
        f"({found.agreement:.0%} of the block boundaries on both sides agree), the mark of "
        "corrupted data that libjpeg decodes without complaint; copy or export the photo again",
    )


def _libjpeg_reason(error: ValueError) -> str:
    """libjpeg's message, cut short; it names markers and counts, never file contents."""
    text = " ".join(str(error).split())
    return text[:120] or "unspecified decoding error"
