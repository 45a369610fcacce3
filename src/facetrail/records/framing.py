"""Record boundaries of a traditional-encoding transaction, checked before nistitl parses it.

nistitl 0.6 trusts the length fields: a zero or wrong length can make it loop, read into the
next record or fail with an unrelated exception. Walking the lengths here first lets every
refusal name the record and field that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from facetrail.errors import RecordError
from facetrail.records.model import RecordLimits
from facetrail.records.standard import SUPPORTED_TYPES, TYPE_1, TYPE_10, field_label, field_tag

FS, GS = b"\x1c", b"\x1d"
# The first field of every text record: "<type>.001:<length>" then GS.
LENGTH_FIELD = re.compile(rb"(\d{1,3})\.(\d{1,3}):(\d{1,12})\x1d")
FIELD_TAG = re.compile(rb"([0-9]{1,3})\.([0-9]{1,4}):")
IDC_VALUE = re.compile(rb"[0-9]{1,2}")
IDC_TAG = 2
TYPE10_DATA_TAG = GS + b"10.999:"
# nistitl finds a Type-10 image by the first "999:" of the record, so no text may hold one.
NISTITL_DATA_MARK = b"999:"


@dataclass(frozen=True, slots=True)
class Span:
    """One record's place in the buffer: [start, end), FS included; text ends at text_end."""

    index: int  # 1-based position in the transaction
    type: int
    start: int
    end: int
    text_end: int  # where the text fields stop (the 10.999 tag, or the final FS)

    @property
    def label(self) -> str:
        """'Type-10 record #3' for messages."""
        return f"Type-{self.type} record #{self.index}"


def scan_records(data: bytes, source: str, limits: RecordLimits) -> list[Span]:
    """The records of `data` in order, or RecordError naming the first one that is wrong."""
    spans: list[Span] = []
    offset = 0
    while offset < len(data):
        index = len(spans) + 1
        if index > limits.max_records:
            raise RecordError(
                source,
                f"record #{index}",
                None,
                f"more than {limits.max_records} records; split the transaction",
            )
        span = _scan_one(data, offset, index, source)
        spans.append(span)
        offset = span.end
    if not spans:
        raise RecordError(source, "transaction", None, "is empty")
    return spans


def _scan_one(data: bytes, offset: int, index: int, source: str) -> Span:
    """The span of the record starting at `offset`, with its length and separators checked."""
    header = LENGTH_FIELD.match(data, offset)
    if header is None or int(header[2]) != 1:
        hint = (
            "this is not an ANSI/NIST-ITL transaction"
            if index == 1
            else "bytes after the last record, or the previous record's length is wrong"
        )
        raise RecordError(
            source,
            f"record #{index} at byte {offset}",
            None,
            f"does not start with a '<type>.001:<length>' field ({hint})",
        )
    record_type, length = int(header[1]), int(header[3])
    label = f"Type-{record_type} record #{index}"
    len_field = f"{record_type}.001 LEN"
    _check_type(record_type, index, source, label)
    if length < header.end() - offset + 1:
        raise RecordError(source, label, len_field, f"length {length} is shorter than the record")
    end = offset + length
    if end > len(data):
        raise RecordError(
            source,
            label,
            len_field,
            f"says {length} bytes but only {len(data) - offset} remain: the transaction is "
            "truncated",
        )
    if data[end - 1 : end] != FS:
        raise RecordError(
            source,
            label,
            len_field,
            f"length {length} does not end on the record separator (FS): the length is wrong "
            "or the record is damaged",
        )
    text_end = _text_end(data, offset, end, record_type)
    if text_end is None:
        raise RecordError(source, label, "10.999 DATA", "is missing (mandatory: the image)")
    if FS in data[offset:text_end]:
        raise RecordError(
            source,
            label,
            None,
            "a record separator (FS) inside a field: a nested separator, or the length is wrong",
        )
    if record_type == TYPE_10 and NISTITL_DATA_MARK in data[offset:text_end]:
        raise RecordError(
            source, label, None, "a text field contains '999:', which nistitl takes for 10.999"
        )
    span = Span(index=index, type=record_type, start=offset, end=end, text_end=text_end)
    _check_fields(data, span, source)
    return span


def _check_type(record_type: int, index: int, source: str, label: str) -> None:
    """Type-1 first and only first; otherwise only the types facetrail reads."""
    if index == 1 and record_type != TYPE_1:
        raise RecordError(source, label, None, "the first record must be the Type-1 header")
    if index > 1 and record_type == TYPE_1:
        raise RecordError(source, label, None, "a second Type-1 record; there can be only one")
    if record_type not in SUPPORTED_TYPES:
        raise RecordError(
            source, label, None, "facetrail reads only Type-1, Type-2 and Type-10 records"
        )


def _text_end(data: bytes, start: int, end: int, record_type: int) -> int | None:
    """Where the text fields of the record end; None for a Type-10 without its image."""
    if record_type != TYPE_10:
        return end - 1
    found = data.find(TYPE10_DATA_TAG, start, end)
    return None if found < 0 else found


def _check_fields(data: bytes, span: Span, source: str) -> None:
    """Every text field numbered '<type>.<tag>:' for this record, once each; IDC numeric."""
    seen: set[int] = set()
    previous: str | None = None
    for raw in data[span.start : span.text_end].split(GS):
        match = FIELD_TAG.match(raw)
        if match is None:
            raise RecordError(
                source,
                span.label,
                previous,
                f"is followed by {raw[:12]!r}, which has no '<type>.<tag>:' number: a GS "
                "separator inside this field's value, or a damaged record",
            )
        tag = int(match[2])
        label = field_label(field_tag(int(match[1]), tag))
        if int(match[1]) != span.type:
            raise RecordError(source, span.label, label, "is numbered for another record type")
        if tag in seen:
            raise RecordError(source, span.label, label, "appears twice")
        seen.add(tag)
        previous = label
        value = raw[match.end() :]
        if tag == IDC_TAG and span.type != TYPE_1 and not IDC_VALUE.fullmatch(value):
            raise RecordError(source, span.label, label, f"{value[:12]!r} is not an IDC 0-99")
