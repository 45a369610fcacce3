"""What enrolling from a transaction takes: the subject it names and its FACE images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from facetrail.errors import RecordError
from facetrail.records.model import FaceRecord, Transaction
from facetrail.records.standard import PROVENANCE_FIELD, SAP_LEVELS, field_label

DEFAULT_SUBJECT_FIELD = "1.009"  # the transaction control number
TYPE1_SUBJECT_FIELDS = {"1.009": "control_number", "1.010": "control_reference"}
PROVENANCE_ITEMS = 3  # (Type-10 IDC, key, value)


@dataclass(frozen=True, slots=True)
class EnrolmentImage:
    """One FACE record to enrol, with what the transaction says about where it came from."""

    record: FaceRecord
    provenance: Mapping[str, str] = field(default_factory=dict)

    def name(self, source: str) -> str:
        """The name to decode it under: the file and the record, for error messages."""
        return f"{source} (Type-10 IDC {self.record.idc})"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """The subject a transaction names and the FACE images to enrol for it."""

    subject: str
    images: tuple[EnrolmentImage, ...]


def subject_of(transaction: Transaction, source: str, field: str = DEFAULT_SUBJECT_FIELD) -> str:
    """The subject reference in `field` (1.009, 1.010 or a Type-2 field such as 2.030)."""
    if field in TYPE1_SUBJECT_FIELDS:
        value: object = getattr(transaction.envelope, TYPE1_SUBJECT_FIELDS[field])
        record = "Type-1 record #1"
    elif field.startswith("2."):
        value = transaction.type2.get(field)
        record = "Type-2 record"
    else:
        raise RecordError(
            source, "transaction", field, "cannot name the subject: use 1.009, 1.010 or a 2.NNN"
        )
    if not isinstance(value, str) or not value.strip():
        raise RecordError(
            source, record, field_label(field), "is missing, empty or not one value: no subject"
        )
    return value.strip()


def enrolment_of(
    transaction: Transaction, source: str, subject_field: str = DEFAULT_SUBJECT_FIELD
) -> Enrolment:
    """The subject and FACE images of a transaction, or RecordError when there is nothing."""
    subject = subject_of(transaction, source, subject_field)
    faces = transaction.face_images
    if not faces:
        raise RecordError(source, "transaction", None, "has no Type-10 FACE record to enrol")
    sent = read_provenance(transaction, source)
    images = tuple(
        EnrolmentImage(record=face, provenance=provenance(transaction, face, sent.get(face.idc)))
        for face in faces
    )
    return Enrolment(subject=subject, images=images)


def provenance(
    transaction: Transaction, face: FaceRecord, sent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Where one image came from: the record's capture fields, the envelope, what was sent."""
    envelope = transaction.envelope
    result = dict(sent or {})
    result.update(
        {
            "source_agency": face.source_agency,
            "collected_at": face.capture_date.isoformat(),
            "image_type": face.image_type,
            "compression": face.compression,
            "transaction": envelope.control_number,
            "transaction_type": envelope.type_of_transaction,
            "transaction_date": envelope.date.isoformat(),
            "originating_agency": envelope.originating_agency,
            "record_idc": str(face.idc),
        }
    )
    if face.sap is not None:
        result["sap"] = str(face.sap)
        result["sap_profile"] = SAP_LEVELS[face.sap]
    if face.pose is not None:
        result["pose"] = face.pose
    if face.comment is not None:
        result["comment"] = face.comment
    return result


def read_provenance(transaction: Transaction, source: str) -> dict[int, dict[str, str]]:
    """facetrail's per-image provenance (2.901) by Type-10 IDC; empty when absent."""
    value = transaction.type2.get(PROVENANCE_FIELD)
    if value is None:
        return {}
    entries = (value,) if isinstance(value, str) else value
    result: dict[int, dict[str, str]] = {}
    for entry in entries:
        if isinstance(entry, str) or len(entry) != PROVENANCE_ITEMS or not entry[0].isdigit():
            raise RecordError(
                source, "Type-2 record", PROVENANCE_FIELD, "is not (IDC, key, value) subfields"
            )
        idc, key, item = entry
        result.setdefault(int(idc), {})[key] = item
    return result
