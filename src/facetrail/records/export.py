"""Export a subject's images as Type-10 records, provenance in Type-2, SAP from quality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from facetrail.errors import RecordError
from facetrail.media.images import DEFAULT_LIMITS
from facetrail.records.model import Envelope, FaceRecord, FieldValue, Transaction
from facetrail.records.payload import inspect_payload
from facetrail.records.standard import (
    COMPRESSION_FOR_FORMAT,
    DOMAIN,
    GREY,
    PROVENANCE_FIELD,
    SAP_UNKNOWN,
    SUBJECT_FIELD,
)

# SAP is a claim about how a photo was taken, which facetrail cannot see: it claims a
# best-practice level only when the face is good on every quality component and the
# image has that level's minimum size (short x long side), and "unknown" (0) otherwise.
SAP_MIN_QUALITY = 60.0  # overall score
SAP_MIN_COMPONENTS = {"size": 80.0, "sharpness": 50.0, "pose": 80.0, "exposure": 50.0}
SAP_SIZES = ((50, 3300, 4400), (40, 768, 1024), (30, 480, 600))  # (level, short, long)
# CSP written for a colour image of each payload format (JPEG stores YCbCr).
COLOUR_SPACE_FOR_FORMAT = {"jpeg": "YCC", "png": "RGB", "jp2": "SYCC"}
MAX_IMAGES = 99  # IDC 1-99
EXPORTING = "image to export"


@dataclass(frozen=True, slots=True)
class ExportImage:
    """One stored image of a subject, as the export needs it."""

    data: bytes = field(repr=False)  # the original photo bytes (JPEG, PNG or JPEG 2000)
    source_agency: str  # 10.004 SRC: who collected it
    capture_date: date  # 10.005 PHD: when
    quality: float | None = None  # facetrail's overall 0-100 score of the face, if known
    components: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)  # to Type-2 field 2.901


def sap_from_quality(
    score: float | None, components: Mapping[str, float], width: int, height: int
) -> int:
    """The SAP level (10.013) the quality and size support: 50, 40, 30, or 0 (unknown)."""
    if score is None or score < SAP_MIN_QUALITY:
        return SAP_UNKNOWN
    if any(components.get(name, 0.0) < low for name, low in SAP_MIN_COMPONENTS.items()):
        return SAP_UNKNOWN
    short, long = sorted((width, height))
    for level, min_short, min_long in SAP_SIZES:
        if short >= min_short and long >= min_long:
            return level
    return SAP_UNKNOWN


def face_record(
    data: bytes,
    *,
    source_agency: str,
    capture_date: date,
    sap: int = SAP_UNKNOWN,
    idc: int = 1,
    pose: str | None = None,
) -> FaceRecord:
    """A FACE record for image bytes, with format, size and colour space read from them."""
    info = inspect_payload(data, EXPORTING, f"Type-10 record IDC {idc}", DEFAULT_LIMITS)
    return FaceRecord(
        data=data,
        compression=COMPRESSION_FOR_FORMAT[info.format],
        width=info.width,
        height=info.height,
        colour_space=GREY if info.grey else COLOUR_SPACE_FOR_FORMAT[info.format],
        source_agency=source_agency,
        capture_date=capture_date,
        sap=sap,
        idc=idc,
        pose=pose,
    )


def subject_transaction(
    envelope: Envelope, subject: str, images: Sequence[ExportImage]
) -> Transaction:
    """A transaction holding a subject's images (IDC 1..n) and their provenance in Type-2."""
    if not 1 <= len(images) <= MAX_IMAGES:
        raise RecordError(
            EXPORTING, "transaction", None, f"{len(images)} images; export 1 to {MAX_IMAGES}"
        )
    faces = []
    for idc, image in enumerate(images, start=1):
        record = face_record(
            image.data, source_agency=image.source_agency, capture_date=image.capture_date, idc=idc
        )
        sap = sap_from_quality(image.quality, image.components, record.width, record.height)
        faces.append(replace(record, sap=sap))
    type2: dict[str, FieldValue] = {SUBJECT_FIELD: subject}
    entries = tuple(
        (str(idc), key, value)
        for idc, image in enumerate(images, start=1)
        for key, value in sorted(image.provenance.items())
    )
    if entries:
        type2[PROVENANCE_FIELD] = entries
    return Transaction(
        envelope=replace(envelope, domain=envelope.domain or DOMAIN),
        type2=type2,
        faces=tuple(faces),
    )
