"""Write a transaction as traditional-encoding ANSI/NIST-ITL 1-2011 bytes, with nistitl."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import nistitl

from facetrail.errors import RecordError
from facetrail.records.model import Envelope, FaceRecord, FieldValue, Transaction
from facetrail.records.reader import read_transaction
from facetrail.records.standard import (
    TYPE_1,
    TYPE_2,
    TYPE_10,
    UTF8_CHARSET,
    field_label,
    field_tag,
)

SEPARATORS = re.compile("[\x1c-\x1f]")
TYPE2_TAG = re.compile(r"2\.([0-9]{3,4})")
NO_RESOLUTION = "00.00"  # 1.011 NSR / 1.012 NTR when no friction-ridge image is sent
WRITTEN = "transaction to write"
TYPE2_IDC = 0
MIN_TYPE2_FIELD = 3  # 2.001 LEN and 2.002 IDC are the writer's


def write_transaction(transaction: Transaction) -> bytes:
    """The transaction as bytes that `read_transaction` accepts; RecordError when it cannot be."""
    utf8 = _needs_utf8(transaction)
    message = nistitl.Message()
    _write_type1(message[0], transaction.envelope, _Text(utf8, "Type-1 record #1"))
    index = 2
    if transaction.type2:
        message += _type2_record(transaction.type2, _Text(utf8, f"Type-2 record #{index}"))
        index += 1
    for face in transaction.faces:
        message += _type10_record(face, _Text(utf8, f"Type-10 record #{index}"))
        index += 1
    data = bytes(message.NIST)
    read_transaction(data, WRITTEN)  # never hand out what facetrail itself would refuse
    return data


class _Text:
    """Encodes text values for one record, refusing separators inside them."""

    def __init__(self, utf8: bool, label: str) -> None:
        self.utf8 = utf8
        self.label = label

    def __call__(self, tag: str, value: str) -> str:
        """`value` ready for nistitl (which encodes latin-1: UTF-8 bytes pass as latin-1)."""
        if SEPARATORS.search(value):
            raise RecordError(
                WRITTEN, self.label, field_label(tag), "contains an ANSI/NIST-ITL separator"
            )
        return value.encode("utf-8").decode("latin-1") if self.utf8 else value


def _needs_utf8(transaction: Transaction) -> bool:
    """True when any text is beyond 7-bit ASCII, so 1.015 DCS must say UTF-8."""
    envelope = transaction.envelope
    texts = [
        envelope.type_of_transaction,
        envelope.control_number,
        envelope.originating_agency,
        envelope.destination_agency,
        envelope.control_reference or "",
        *(envelope.domain or ()),
    ]
    for value in transaction.type2.values():
        texts.extend([value] if isinstance(value, str) else [i for sub in value for i in sub])
    for face in transaction.faces:
        texts.extend([face.source_agency, face.comment or ""])
    return any(not text.isascii() for text in texts)


def _write_type1(record: Any, envelope: Envelope, text: _Text) -> None:
    """Fill nistitl's Type-1 record; the version is always set explicitly."""
    record.VER = text(field_tag(TYPE_1, 2), envelope.version)
    record.TOT = text(field_tag(TYPE_1, 4), envelope.type_of_transaction)
    record.DAT = envelope.date.strftime("%Y%m%d")
    record.DAI = text(field_tag(TYPE_1, 7), envelope.destination_agency)
    record.ORI = text(field_tag(TYPE_1, 8), envelope.originating_agency)
    record.TCN = text(field_tag(TYPE_1, 9), envelope.control_number)
    record.NSR = NO_RESOLUTION
    record.NTR = NO_RESOLUTION
    if envelope.priority is not None:
        record.PRY = str(envelope.priority)
    if envelope.control_reference is not None:
        record.TCR = text(field_tag(TYPE_1, 10), envelope.control_reference)
    if envelope.domain is not None:
        name, version = envelope.domain
        tag = field_tag(TYPE_1, 13)
        record.DOM = [[text(tag, name), text(tag, version)]]
    if envelope.timestamp is not None:
        record.GMT = envelope.timestamp.strftime("%Y%m%d%H%M%SZ")
    if text.utf8:
        record.DCS = [[UTF8_CHARSET, "UTF-8"]]


def _type2_record(fields: Mapping[str, FieldValue], text: _Text) -> Any:
    """A Type-2 record (IDC 0) holding `fields`, keyed by '2.NNN'."""
    record = nistitl.AsciiRecord(TYPE_2)
    record.IDC = TYPE2_IDC
    for tag, value in sorted(fields.items()):
        match = TYPE2_TAG.fullmatch(tag)
        if match is None or int(match[1]) < MIN_TYPE2_FIELD:
            raise RecordError(
                WRITTEN, text.label, tag, "is not a Type-2 field number 2.003 to 2.9999"
            )
        record += nistitl.Field(TYPE_2, int(match[1]), _field_value(tag, value, text))
    return record


def _field_value(tag: str, value: FieldValue, text: _Text) -> str | list[str | list[str]]:
    """nistitl's form of a field: a string, or subfields (a string, or a list of items)."""
    if isinstance(value, str):
        return text(tag, value)
    if not value or any(not sub for sub in value):
        raise RecordError(WRITTEN, text.label, tag, "has an empty list of subfields or items")
    return [
        text(tag, sub[0]) if len(sub) == 1 else [text(tag, item) for item in sub] for sub in value
    ]


def _type10_record(face: FaceRecord, text: _Text) -> Any:
    """A Type-10 record with every mandatory field, the SHA-256 (10.996) and the image."""
    record = nistitl.AsciiRecord(TYPE_10)
    record.IDC = face.idc
    record.IMT = text(field_tag(TYPE_10, 3), face.image_type)
    record.SRC = text(field_tag(TYPE_10, 4), face.source_agency)
    record.PHD = face.capture_date.strftime("%Y%m%d")
    record.HLL = str(face.width)
    record.VLL = str(face.height)
    record.SLC = str(face.scale_units)
    record.THPS = str(face.horizontal_scale)
    record.TVPS = str(face.vertical_scale)
    record.CGA = text(field_tag(TYPE_10, 11), face.compression)
    record.CSP = text(field_tag(TYPE_10, 12), face.colour_space)
    if face.sap is not None:
        record.SAP = str(face.sap)
    if face.pose is not None:
        record.POS = text(field_tag(TYPE_10, 20), face.pose)
    if face.pose_offset is not None:
        record.POA = str(face.pose_offset)
    if face.comment is not None:
        record.COM = text(field_tag(TYPE_10, 38), face.comment)
    record.HAS = face.sha256
    record.DATA = face.data
    return record
