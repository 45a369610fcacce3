"""Read a traditional-encoding ANSI/NIST-ITL 1-2011 transaction (Type-1, Type-2, Type-10)."""

from __future__ import annotations

import re
from typing import Any

import nistitl

from facetrail.errors import RecordError
from facetrail.records.fields import RecordFields
from facetrail.records.framing import Span, scan_records
from facetrail.records.model import (
    DEFAULT_RECORD_LIMITS,
    Envelope,
    FaceRecord,
    FieldValue,
    RecordLimits,
    Transaction,
)
from facetrail.records.payload import inspect_payload
from facetrail.records.standard import (
    COLOUR_SPACES,
    COMPRESSIONS,
    FACE,
    GREY,
    IMAGE_TYPES,
    MAX_LINE_LENGTH,
    MAX_PIXEL_SCALE,
    MAX_SOURCE_LENGTH,
    MAX_TCN_LENGTH,
    MAX_TOT_LENGTH,
    MIN_LINE_LENGTH,
    POSES,
    SAP_LEVELS,
    TYPE_2,
    TYPE_10,
    UTF8_CHARSET,
    VERSIONS,
    field_tag,
)

TOT_PATTERN = re.compile(r"[A-Za-z0-9]+")
RESOLUTION = re.compile(r"[0-9]{2}\.[0-9]{2}")
HASH = re.compile(r"[0-9a-fA-F]{64}")
ASCII_CHARSET = "000"
MAX_POSE_OFFSET = 180
MAX_PRIORITY = 9


def read_transaction(
    data: bytes, source: str, *, limits: RecordLimits = DEFAULT_RECORD_LIMITS
) -> Transaction:
    """Parse and validate a transaction, or raise RecordError naming the record and field."""
    if not data:
        raise RecordError(source, "transaction", None, "is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise RecordError(
            source,
            "transaction",
            None,
            f"is {len(data)} bytes, over the {limits.max_bytes} byte limit",
        )
    data = bytes(data)  # a bytearray or memoryview is copied once, not per step
    spans = scan_records(data, source, limits)
    message = _parse(data, source)
    records = list(message)
    if [record.type for record in records] != [span.type for span in spans]:
        raise RecordError(
            source, "transaction", None, "nistitl found other records than the lengths"
        )
    type1 = RecordFields(records[0], source, spans[0].label, utf8=False)
    utf8 = _charset_is_utf8(type1)
    type1 = RecordFields(records[0], source, spans[0].label, utf8=utf8)
    _check_content(type1, records, spans, source)
    envelope = _envelope(type1)
    type2 = _type2(records, spans, source, utf8)
    faces = tuple(
        _face(RecordFields(record, source, span.label, utf8), source, limits)
        for record, span in zip(records, spans, strict=True)
        if span.type == TYPE_10
    )
    return Transaction(envelope=envelope, type2=type2, faces=faces)


def _parse(data: bytes, source: str) -> Any:
    """nistitl's parse, its every failure turned into a RecordError."""
    message = nistitl.Message()
    try:
        message.parse(data)
    except nistitl.NistException as error:
        if "CNT" in str(error):  # nistitl checks the record count itself
            raise RecordError(
                source, "Type-1 record #1", "1.003 CNT", f"does not list the records ({error})"
            ) from error
        raise RecordError(
            source, "transaction", None, f"nistitl cannot parse it ({error})"
        ) from error
    except Exception as error:  # nistitl also lets ValueError, KeyError... through
        raise RecordError(
            source,
            "transaction",
            None,
            f"nistitl cannot parse it ({error or type(error).__name__})",
        ) from error
    return message


def _charset_is_utf8(type1: RecordFields) -> bool:
    """True when 1.015 DCS names UTF-8; other character sets than ASCII are refused."""
    value = type1.value(15)
    if value is None or value == "":
        return False
    code = value if isinstance(value, str) else value[0][0]
    if code.zfill(3) == UTF8_CHARSET:
        return True
    if code.zfill(3) != ASCII_CHARSET:
        raise type1.error(15, f"character set {code!r} is not supported (ASCII or UTF-8 only)")
    return False


def _check_content(type1: RecordFields, records: list[Any], spans: list[Span], source: str) -> None:
    """1.003 CNT must list exactly the records that follow, with their types and IDCs."""
    value = type1.value(3)
    if not isinstance(value, tuple):
        raise type1.error(3, "is missing or not a list of (record type, IDC) subfields")
    expected = [("1", str(len(records) - 1))]
    for record, span in zip(records[1:], spans[1:], strict=True):
        idc = RecordFields(record, source, span.label, utf8=False).idc()
        expected.append((str(span.type), str(idc)))
    found = [tuple(item.lstrip("0") or "0" for item in sub) for sub in value]
    wanted = [tuple(item.lstrip("0") or "0" for item in sub) for sub in expected]
    if found != wanted:
        raise type1.error(
            3,
            f"lists {_pairs(value)} but the transaction holds {_pairs(tuple(expected))}",
        )


def _pairs(value: tuple[tuple[str, ...], ...]) -> str:
    """'1/2, 2/0, 10/1' for a CNT value."""
    return ", ".join("/".join(sub) for sub in value)


def _envelope(type1: RecordFields) -> Envelope:
    """The mandatory and known optional Type-1 fields."""
    version = type1.text(2)
    if version not in VERSIONS:
        raise type1.error(
            2,
            f"version {version!r} is not supported; facetrail reads {', '.join(VERSIONS)} "
            "(ANSI/NIST-ITL 1-2011 and its 2013 and 2015 updates)",
        )
    tot = type1.text(4, MAX_TOT_LENGTH)
    if not TOT_PATTERN.fullmatch(tot):
        raise type1.error(4, f"{tot!r} is not 1-16 letters and digits")
    for number in (11, 12):
        resolution = type1.text(number)
        if not RESOLUTION.fullmatch(resolution):
            raise type1.error(number, f"{resolution!r} is not a resolution NN.NN")
    return Envelope(
        type_of_transaction=tot,
        control_number=type1.text(9, MAX_TCN_LENGTH),
        originating_agency=type1.text(8),
        destination_agency=type1.text(7),
        date=type1.date(5),
        version=version,
        control_reference=type1.optional_text(10, MAX_TCN_LENGTH),
        priority=type1.optional_number(6, 1, MAX_PRIORITY),
        domain=_domain(type1),
        timestamp=type1.optional_gmt(14),
    )


def _domain(type1: RecordFields) -> tuple[str, str] | None:
    """1.013 DOM as (name, version); version '' when not given."""
    value = type1.value(13)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value, ""
    if len(value) != 1 or not 1 <= len(value[0]) <= 2 or not value[0][0]:
        raise type1.error(13, "is not one (domain name, version) subfield")
    return value[0][0], value[0][1] if len(value[0]) == 2 else ""


def _type2(records: list[Any], spans: list[Span], source: str, utf8: bool) -> dict[str, FieldValue]:
    """The fields of the one Type-2 record (none is allowed), by 'type.tag' number."""
    found = [(r, s) for r, s in zip(records, spans, strict=True) if s.type == TYPE_2]
    if not found:
        return {}
    if len(found) > 1:
        raise RecordError(
            source, found[1][1].label, None, "a second Type-2 record; facetrail reads one"
        )
    fields = RecordFields(found[0][0], source, found[0][1].label, utf8)
    fields.idc()
    result: dict[str, FieldValue] = {}
    for number in fields.numbers():
        value = fields.value(number)
        if number > 2 and value is not None:
            result[field_tag(TYPE_2, number)] = value
    return result


def _face(fields: RecordFields, source: str, limits: RecordLimits) -> FaceRecord:
    """One Type-10 record, every mandatory field checked against the image itself."""
    image_type = fields.choice(3, IMAGE_TYPES)
    width = fields.number(6, MIN_LINE_LENGTH, MAX_LINE_LENGTH)
    height = fields.number(7, MIN_LINE_LENGTH, MAX_LINE_LENGTH)
    compression = fields.choice(11, COMPRESSIONS)
    colour_space = fields.choice(12, COLOUR_SPACES)
    sap = fields.optional_number(13, 0, max(SAP_LEVELS))
    if sap is None and image_type == FACE:
        raise fields.error(13, "is missing (mandatory when 10.003 IMT is FACE)")
    if sap is not None and sap not in SAP_LEVELS:
        raise fields.error(13, f"{sap} is not a subject acquisition profile level")
    record = FaceRecord(
        data=fields.binary(999),
        compression=compression,
        width=width,
        height=height,
        colour_space=colour_space,
        source_agency=fields.text(4, MAX_SOURCE_LENGTH),
        capture_date=fields.date(5),
        sap=sap,
        image_type=image_type,
        idc=fields.idc(),
        scale_units=fields.number(8, 0, 2),
        horizontal_scale=fields.number(9, 1, MAX_PIXEL_SCALE),
        vertical_scale=fields.number(10, 1, MAX_PIXEL_SCALE),
        pose=fields.optional_choice(20, POSES),
        pose_offset=fields.optional_number(21, -MAX_POSE_OFFSET, MAX_POSE_OFFSET, signed=True),
        comment=fields.optional_text(38),
    )
    _check_image(record, fields, source, limits)
    return record


def _check_image(
    record: FaceRecord, fields: RecordFields, source: str, limits: RecordLimits
) -> None:
    """The payload must be what CGA, HLL, VLL, CSP and HAS say it is."""
    image_hash = fields.optional_text(996)
    if image_hash is not None:
        if not HASH.fullmatch(image_hash):
            raise fields.error(996, "is not a 64-digit hex SHA-256")
        if image_hash.lower() != record.sha256:
            raise fields.error(996, "does not match the SHA-256 of the image data")
    _check_declared_size(record, fields, limits)
    info = inspect_payload(record.data, source, fields.label, limits.image)
    if info.format != record.format:
        raise fields.error(
            11, f"says {record.compression} but the image data is {info.format.upper()}"
        )
    if (info.width, info.height) != (record.width, record.height):
        raise fields.error(
            6,
            f"HLL x VLL say {record.width}x{record.height} but the image is "
            f"{info.width}x{info.height}",
        )
    if record.colour_space == GREY and not info.grey:
        raise fields.error(12, "says GRAY but the image is in colour")
    if record.colour_space not in (GREY, "UNK") and info.grey:
        raise fields.error(12, f"says {record.colour_space} but the image is greyscale")


def _check_declared_size(record: FaceRecord, fields: RecordFields, limits: RecordLimits) -> None:
    """HLL x VLL within the image limits, checked before any header is opened."""
    pixels = record.width * record.height
    if pixels > limits.image.max_pixels:
        raise fields.error(
            6,
            f"HLL x VLL = {record.width}x{record.height} = {pixels} pixels, over the "
            f"{limits.image.max_pixels} pixel limit",
        )
    if max(record.width, record.height) > limits.image.max_side:
        raise fields.error(
            6,
            f"HLL x VLL = {record.width}x{record.height}, over the {limits.image.max_side} px "
            "side limit",
        )
