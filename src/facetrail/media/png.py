"""Strict PNG structure: every chunk's CRC checked, IEND last, nothing after it.

Pillow skips the CRC of image data (IDAT) chunks and ignores what follows IEND, so a
bit flip in the pixels or an appended file goes unnoticed; zlib.crc32 over the whole
file costs microseconds, far less than decoding it.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from facetrail.errors import ImageError

PNG_SIGNATURE_SIZE = 8
CHUNK_OVERHEAD = 12  # length (4), type (4), CRC (4)
MAX_CHUNK_LENGTH = 2**31 - 1  # the PNG specification's limit
IHDR_SIZE = 13
# Samples per pixel by IHDR colour type: grey, RGB, palette index, grey+alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# DEFLATE codes a 258-byte match in at least 2 bits, so it compresses at most 1032:1 (zlib
# technical details); fewer bytes than that for the declared raw rows is a forged header.
DEFLATE_MAX_RATIO = 1032
# Pillow modes of opaque 8-bit (or fewer) PNGs that libpng can write straight into one BGR
# buffer: through Pillow a 36 MP photo is held three times over (its own copy, the bytes
# numpy reads, the converted array).
DIRECT_PNG_MODES = frozenset({"L", "RGB", "P"})


def _chunk_name(kind: bytes) -> str:
    """The chunk type for a message when it is four ASCII letters, else a neutral word."""
    return kind.decode("ascii") if kind.isascii() and kind.isalpha() else "a damaged"


def check_png_chunks(data: bytes, label: str) -> None:
    """Walk the chunks: lengths inside the file, CRCs right, IEND last with nothing after."""
    pos = PNG_SIGNATURE_SIZE
    while True:
        if pos + CHUNK_OVERHEAD > len(data):
            raise ImageError(
                label, "PNG ends before its IEND chunk (truncated or corrupt); copy it again"
            )
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + CHUNK_OVERHEAD + length
        if length > MAX_CHUNK_LENGTH or end > len(data):
            raise ImageError(
                label,
                "PNG chunk runs past the end of the file (truncated or corrupt); copy it again",
            )
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise ImageError(
                label,
                f"PNG {_chunk_name(kind)} chunk has a bad CRC (the file is corrupt); copy it again",
            )
        if kind == b"IEND":
            break
        pos = end
    if end != len(data):
        raise ImageError(
            label,
            f"{len(data) - end} bytes follow the PNG's IEND chunk (another file appended, a "
            "polyglot, or a damaged copy); export the image again",
        )


def check_png_density(data: bytes, size: tuple[int, int], label: str) -> None:
    """Refuse a PNG whose bytes cannot hold the rows its IHDR declares, even at DEFLATE's best."""
    width, height = size
    bit_depth, colour_type = data[24], data[25]
    bits = CHANNELS.get(colour_type, 4) * bit_depth
    raw = height * (1 + (width * bits + 7) // 8)  # one filter byte per row
    if raw > len(data) * DEFLATE_MAX_RATIO:
        raise ImageError(
            label,
            f"PNG header declares {width}x{height} but the file has only {len(data)} bytes, "
            f"more than DEFLATE's {DEFLATE_MAX_RATIO}:1 best compression allows "
            "(forged header or truncated file); copy or export it again",
        )


def decode_png_direct(data: bytes, grey: bool) -> np.ndarray | None:
    """Pixels of an opaque 8-bit PNG decoded by libpng (HxW if `grey`, else HxWx3 BGR).

    None if OpenCV cannot decode it. EXIF orientation is left to the caller (as for JPEG);
    the chunks must have been checked (check_png_chunks) first, and None sends the file to
    Pillow, which says what is wrong.
    """
    colour = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    flags = colour | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if pixels is None or pixels.dtype != np.uint8 or pixels.ndim != (2 if grey else 3):
        return None
    return np.ascontiguousarray(pixels)
