"""ANSI/NIST-ITL 1-2011 transactions (Type-1, Type-2, Type-10 faces), read and written with nistitl.

Media layer: imports only `facetrail.errors` and `facetrail.media`.
"""

from __future__ import annotations

from facetrail.records.candidates import candidate_list, read_candidates
from facetrail.records.enrolment import (
    DEFAULT_SUBJECT_FIELD,
    Enrolment,
    EnrolmentImage,
    enrolment_of,
    provenance,
    read_provenance,
    subject_of,
)
from facetrail.records.export import ExportImage, face_record, sap_from_quality, subject_transaction
from facetrail.records.files import is_transaction_file, read_transaction_file
from facetrail.records.model import (
    DEFAULT_RECORD_LIMITS,
    Candidate,
    Envelope,
    FaceRecord,
    FieldValue,
    RecordLimits,
    Transaction,
)
from facetrail.records.reader import read_transaction
from facetrail.records.writer import write_transaction

__all__ = [
    "DEFAULT_RECORD_LIMITS",
    "DEFAULT_SUBJECT_FIELD",
    "Candidate",
    "Enrolment",
    "EnrolmentImage",
    "Envelope",
    "ExportImage",
    "FaceRecord",
    "FieldValue",
    "RecordLimits",
    "Transaction",
    "candidate_list",
    "enrolment_of",
    "face_record",
    "is_transaction_file",
    "provenance",
    "read_candidates",
    "read_provenance",
    "read_transaction",
    "read_transaction_file",
    "sap_from_quality",
    "subject_of",
    "subject_transaction",
    "write_transaction",
]
