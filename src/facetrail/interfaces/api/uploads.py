"""Reading uploaded files within the image limits of media/images.py, before any decoding."""

from __future__ import annotations

from fastapi import UploadFile

from facetrail.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from facetrail.media.images import DEFAULT_LIMITS, SUPPORTED_TEXT, ImageLimits, sniff_format
from facetrail.records.files import MAGIC

CHUNK = 1024 * 1024


async def _read_bounded(upload: UploadFile, field: str, limits: ImageLimits) -> bytes:
    """The upload's bytes: 413 over the size limit, 400 when empty."""
    data = bytearray()
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            break
        data.extend(chunk)
        if len(data) > limits.max_bytes:
            raise PayloadTooLargeError(
                f"{field}: the upload is larger than {limits.max_bytes // CHUNK} MB;"
                " send a smaller photo"
            )
    if not data:
        raise InvalidInputError(f"{field}: the upload is empty (0 bytes)")
    return bytes(data)


async def read_image(upload: UploadFile, field: str, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """The upload's bytes: 413 over the size limit, 415 if not an image type facetrail reads."""
    data = await _read_bounded(upload, field, limits)
    if sniff_format(data[:32]) is None:
        raise UnsupportedMediaError(f"{field}: not an image facetrail reads ({SUPPORTED_TEXT})")
    return data


async def read_probe(upload: UploadFile, field: str, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """A probe's bytes: a photo, or an ANSI/NIST-ITL transaction (its first FACE image is
    searched, as `facetrail search FILE.an2`); 413 / 415 as for a photo."""
    data = await _read_bounded(upload, field, limits)
    if not data.startswith(MAGIC) and sniff_format(data[:32]) is None:
        raise UnsupportedMediaError(
            f"{field}: not an image facetrail reads ({SUPPORTED_TEXT}) nor an ANSI/NIST-ITL"
            " transaction (.an2/.eft/.nist)"
        )
    return data
