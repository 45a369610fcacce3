"""Type-10 image payloads: what format the bytes are, their size and channels, from headers only."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import (
    Image,
    Jpeg2KImagePlugin,  # noqa: F401  (registered before any thread opens a payload)
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
)

from facetrail.errors import RecordError
from facetrail.media.images import ImageLimits, sniff_format

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_CODESTREAM = b"\xff\x4f\xff\x51"  # SOC then SIZ: a bare JPEG 2000 codestream
JPEG_END = b"\xff\xd9"
PNG_IEND = b"\x00\x00\x00\x00IEND"
PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "jp2": "JPEG2000"}
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
DATA_FIELD = "10.999 DATA"
PREVIEW_BYTES = 8

Refusal = Callable[[str], RecordError]


@dataclass(frozen=True, slots=True)
class PayloadInfo:
    """What the header of an image payload says: format, size and whether it is grey."""

    format: str  # jpeg | png | jp2
    width: int
    height: int
    grey: bool


def payload_format(data: bytes) -> str | None:
    """'jpeg', 'png' or 'jp2' from the magic bytes, None for anything else."""
    sniffed = sniff_format(data)
    if sniffed in ("jpeg", "png"):
        return sniffed
    if data.startswith((JP2_SIGNATURE, J2K_CODESTREAM)):
        return "jp2"
    return None


def inspect_payload(data: bytes, source: str, record: str, limits: ImageLimits) -> PayloadInfo:
    """Check an image payload from its header (no decoding); RecordError says what is wrong."""

    def refuse(reason: str) -> RecordError:
        return RecordError(source, record, DATA_FIELD, reason)

    if not data:
        raise refuse("image data is empty")
    if len(data) > limits.max_bytes:
        raise refuse(f"image data is {len(data)} bytes, over the {limits.max_bytes} byte limit")
    fmt = payload_format(data)
    if fmt is None:
        raise refuse(
            f"not a JPEG, PNG or JPEG 2000 image (starts {data[:PREVIEW_BYTES].hex(' ')}); "
            "the record does not carry an image"
        )
    if fmt == "jpeg" and not data.rstrip(b"\x00").endswith(JPEG_END):
        raise refuse("JPEG ends before its end-of-image marker (truncated)")
    if fmt == "png" and data.rfind(PNG_IEND) < 0:
        raise refuse("PNG ends before its IEND chunk (truncated)")
    width, height, mode = _header(data, fmt, refuse)
    _check_size(width, height, limits, refuse)
    return PayloadInfo(format=fmt, width=width, height=height, grey=mode in GREY_MODES)


def _header(data: bytes, fmt: str, refuse: Refusal) -> tuple[int, int, str]:
    """(width, height, Pillow mode) from the header alone, with Pillow's failures refused."""
    try:
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]]) as image:
            width, height = image.size
            return int(width), int(height), str(image.mode)
    except Image.DecompressionBombError as error:
        raise refuse(f"image header claims a size over the pixel limit ({error})") from error
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, bomb errors...
        detail = str(error) or type(error).__name__
        raise refuse(
            f"cannot read the {fmt.upper()} header ({detail}); the image is corrupt"
        ) from error


def _check_size(width: int, height: int, limits: ImageLimits, refuse: Refusal) -> None:
    """Refuse images over the pixel or side limits of `limits`."""
    if width * height > limits.max_pixels:
        raise refuse(
            f"image is {width}x{height} = {width * height} pixels, over the "
            f"{limits.max_pixels} pixel limit"
        )
    if max(width, height) > limits.max_side:
        raise refuse(f"image is {width}x{height}, over the {limits.max_side} px side limit")
