"""Probes for search: a photo, or an ANSI/NIST-ITL transaction's first FACE image."""

from __future__ import annotations

from pathlib import Path

from facetrail.errors import RecordError
from facetrail.media.images import DecodedImage, load_image
from facetrail.records import (
    Transaction,
    is_transaction_file,
    read_transaction,
    read_transaction_file,
)
from facetrail.records.files import MAGIC

Probe = Path | str | bytes


def probe_transaction(probe: Probe) -> Transaction | None:
    """The transaction a probe is (file or bytes), or None for a photo."""
    if isinstance(probe, bytes):
        return read_transaction(probe, "<probe bytes>") if probe.startswith(MAGIC) else None
    path = Path(probe)
    return read_transaction_file(path) if is_transaction_file(path) else None


def probe_image(probe: Probe) -> DecodedImage:
    """The probe decoded by the safe decoder: a photo, or a transaction's first FACE image."""
    transaction = probe_transaction(probe)
    if transaction is None:
        return load_image(probe)
    label = "<probe bytes>" if isinstance(probe, bytes) else str(probe)
    faces = transaction.face_images
    if not faces:
        raise RecordError(label, "transaction", None, "has no Type-10 FACE record to search with")
    return faces[0].decode(f"{label} (Type-10 IDC {faces[0].idc})")
