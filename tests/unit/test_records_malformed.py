"""Hundreds of malformed transactions, each refused with RecordError naming what is wrong."""

from __future__ import annotations

import contextlib
import hashlib
import random
import struct
import zlib
from dataclasses import dataclass

import pytest

from facetrail.errors import ImageError, RecordError
from facetrail.media.images import ImageLimits
from facetrail.records import RecordLimits, read_transaction
from tests.unit.records_support import (
    FS,
    GS,
    RS,
    US,
    Fields,
    encode_record,
    encode_transaction,
    nistitl_transaction,
    photo,
    standard_records,
    type1_fields,
    type2_fields,
    type10_fields,
)

SOURCE = "bad.an2"
MIN_CASES = 200
FUZZ_ROUNDS = 1000
COLOUR = photo("RGB", (64, 80), "JPEG", 1)
GREY = photo("L", (64, 80), "JPEG", 2)
PNG = photo("RGB", (64, 80), "PNG", 3)
IMAGES = [
    (COLOUR, (64, 80), "JPEGB", "YCC"),
    (GREY, (64, 80), "JPEGB", "GRAY"),
    (PNG, (64, 80), "PNG", "RGB"),
]


@dataclass(frozen=True)
class Case:
    """One malformed transaction and the text its refusal must contain."""

    name: str
    data: bytes
    expect: str = ""  # a field label or phrase the message must hold ("" = any)
    limits: RecordLimits | None = None


def _valid_records() -> list[tuple[int, Fields]]:
    return standard_records(IMAGES)


def _with(records: list[tuple[int, Fields]], index: int, tag: int, value: bytes | None) -> bytes:
    """The standard transaction with field `tag` of record `index` set (None: removed)."""
    changed = [(kind, dict(fields)) for kind, fields in records]
    fields = changed[index][1]
    if value is None:
        fields.pop(tag, None)
    elif tag in fields:
        fields[tag] = value
    else:  # keep 10.999 last
        data = fields.pop(999, None)
        fields[tag] = value
        if data is not None:
            fields[999] = data
    return encode_transaction(type1_fields(), changed)


def _type1_with(tag: int, value: bytes | None) -> bytes:
    header = type1_fields()
    if value is None:
        header.pop(tag)
    else:
        header[tag] = value
    return encode_transaction(header, _valid_records())


def truncations() -> list[Case]:
    """The nistitl-written transaction cut at many offsets, record boundaries included."""
    data = nistitl_transaction(IMAGES)
    offsets = set(range(0, 200)) | set(range(0, len(data), max(1, len(data) // 80)))
    position = 0
    while position < len(data):  # around each record boundary
        length = int(data[position:].split(b":", 1)[1].split(GS, 1)[0])
        offsets |= {position + length + d for d in (-2, -1, 1, 2)}
        position += length
    return [Case(f"truncated-at-{n}", data[:n]) for n in sorted(offsets) if 0 <= n < len(data)]


def wrong_lengths() -> list[Case]:
    """Each record's 1.001 / 2.001 / 10.001 length off by a little, a lot, or not a number."""
    records = _valid_records()
    cases = []
    for index in range(len(records) + 1):
        for delta in (-50, -3, -1, 1, 3, 50, 10**9):
            parts = [encode_record(1, _header(records))] + [encode_record(k, f) for k, f in records]
            real = len(parts[index])
            kind = 1 if index == 0 else records[index - 1][0]
            fields = _header(records) if index == 0 else records[index - 1][1]
            parts[index] = encode_record(kind, fields, length=str(max(0, real + delta)).encode())
            cases.append(Case(f"len-record{index}-{delta:+d}", b"".join(parts), "LEN"))
        for bad in (b"0", b"", b"12a", b"-5"):
            parts = [encode_record(1, _header(records))] + [encode_record(k, f) for k, f in records]
            kind = 1 if index == 0 else records[index - 1][0]
            fields = _header(records) if index == 0 else records[index - 1][1]
            parts[index] = encode_record(kind, fields, length=bad)
            cases.append(Case(f"len-record{index}-{bad!r}", b"".join(parts)))
    return cases


def _header(records: list[tuple[int, Fields]]) -> Fields:
    from tests.unit.records_support import content_field

    header = type1_fields()
    return {2: header.pop(2), 3: content_field(records), **header}


def missing_fields() -> list[Case]:
    """Every mandatory field removed, and emptied, one at a time."""
    records = _valid_records()
    cases = []
    for tag in (2, 4, 5, 7, 8, 9, 11, 12):
        cases.append(Case(f"type1-missing-{tag}", _type1_with(tag, None), f"1.{tag:03d}"))
        cases.append(Case(f"type1-empty-{tag}", _type1_with(tag, b""), f"1.{tag:03d}"))
    cases.append(Case("type2-missing-idc", _with(records, 0, 2, None)))
    for index in (1, 2, 3):
        for tag in (*range(2, 14), 999):
            expect = "" if tag == 2 else f"10.{tag:03d}"
            cases.append(
                Case(f"type10-{index}-missing-{tag}", _with(records, index, tag, None), expect)
            )
            if tag != 999:
                cases.append(
                    Case(f"type10-{index}-empty-{tag}", _with(records, index, tag, b""), expect)
                )
    return cases


BAD_TYPE10_VALUES: list[tuple[int, bytes, str]] = [
    (2, b"100", ""),
    (2, b"x", ""),
    (3, b"FOO", "10.003 IMT"),
    (3, b"face", "10.003 IMT"),
    (4, b"A" * 36, "10.004 SRC"),
    (5, b"20241301", "10.005 PHD"),
    (5, b"2024", "10.005 PHD"),
    (5, b"20240230", "10.005 PHD"),
    (6, b"0", "10.006 HLL"),
    (6, b"abc", "10.006 HLL"),
    (6, b"65", "10.006 HLL"),
    (6, b"100000", "10.006 HLL"),
    (6, b"-64", "10.006 HLL"),
    (7, b"9", "10.007 VLL"),
    (7, b"81", "HLL x VLL"),
    (7, b"8O", "10.007 VLL"),
    (8, b"7", "10.008 SLC"),
    (8, b"x", "10.008 SLC"),
    (9, b"0", "10.009 THPS"),
    (9, b"1000000", "10.009 THPS"),
    (10, b"0", "10.010 TVPS"),
    (10, b"", "10.010 TVPS"),
    (11, b"WSQ20", "10.011 CGA"),
    (11, b"NONE", "10.011 CGA"),
    (11, b"PNG", "10.011 CGA"),
    (11, b"JP2", "10.011 CGA"),
    (11, b"jpegb", "10.011 CGA"),
    (12, b"XYZ", "10.012 CSP"),
    (12, b"GRAY", "10.012 CSP"),
    (13, b"99", "10.013 SAP"),
    (13, b"abc", "10.013 SAP"),
    (13, b"1000", "10.013 SAP"),
    (20, b"X", "10.020 POS"),
    (21, b"500", "10.021 POA"),
    (996, b"00" * 32, "10.996 HAS"),
    (996, b"abc", "10.996 HAS"),
]


def bad_values() -> list[Case]:
    """Fields present but wrong: out of range, not a code, not what the image is."""
    records = _valid_records()
    cases = [
        Case(f"type10-{tag}-{value[:12]!r}", _with(records, 1, tag, value), expect)
        for tag, value, expect in BAD_TYPE10_VALUES
    ]
    cases.append(Case("grey-said-rgb", _with(records, 2, 12, b"RGB"), "10.012 CSP"))
    cases.append(Case("png-said-jpeg", _with(records, 3, 11, b"JPEGB"), "10.011 CGA"))
    for tag, value, expect in [
        (2, b"0400", "1.002 VER"),
        (2, b"0300", "1.002 VER"),
        (2, b"0601", "1.002 VER"),
        (2, b"abcd", "1.002 VER"),
        (4, b"TOO-LONG-TOT-VALUE", "1.004 TOT"),
        (4, b"C PDR", "1.004 TOT"),
        (5, b"20241340", "1.005 DAT"),
        (5, b"2024-05-01", "1.005 DAT"),
        (6, b"0", "1.006 PRY"),
        (6, b"10", "1.006 PRY"),
        (9, b"T" * 41, "1.009 TCN"),
        (11, b"1", "1.011 NSR"),
        (12, b"19.69.1", "1.012 NTR"),
        (14, b"2024", "1.014 GMT"),
        (14, b"20241301000000Z", "1.014 GMT"),
        (15, b"002" + US + b"UTF-16", "1.015 DCS"),
        (13, b"A" + US + b"B" + RS + b"C", "1.013 DOM"),
    ]:
        cases.append(Case(f"type1-{tag}-{value!r}", _type1_with(tag, value), expect))
    utf8 = type1_fields()
    utf8[15] = b"003" + US + b"UTF-8"
    bad_utf8 = [(2, {**type2_fields(), 30: b"\xff\xfe"}), *_valid_records()[1:]]
    cases.append(Case("dcs-utf8-bad-bytes", encode_transaction(utf8, bad_utf8), "UTF-8"))
    return cases


def content_list() -> list[Case]:
    """1.003 CNT disagreeing with the records."""
    records = _valid_records()
    cnt_cases = {
        "count-high": b"1"
        + US
        + b"5"
        + RS
        + RS.join([b"2" + US + b"0", b"10" + US + b"1", b"10" + US + b"2", b"10" + US + b"3"]),
        "count-low": b"1" + US + b"2" + RS + b"2" + US + b"0" + RS + b"10" + US + b"1",
        "type-wrong": b"1"
        + US
        + b"4"
        + RS
        + RS.join([b"2" + US + b"0", b"14" + US + b"1", b"10" + US + b"2", b"10" + US + b"3"]),
        "idc-wrong": b"1"
        + US
        + b"4"
        + RS
        + RS.join([b"2" + US + b"0", b"10" + US + b"7", b"10" + US + b"2", b"10" + US + b"3"]),
        "plain-value": b"4",
        "empty": b"",
        "no-items": b"1" + RS + b"2" + RS + b"10",
    }
    return [
        Case(f"cnt-{name}", encode_transaction(type1_fields(), records, cnt=value), "1.003")
        for name, value in cnt_cases.items()
    ]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one tiny IDAT and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def payloads() -> list[Case]:
    """Type-10 records that do not carry a usable image."""
    not_images = {
        "text": b"hello, this is not an image at all",
        "pdf": b"%PDF-1.7\n" + b"x" * 100,
        "zeros": b"\x00" * 500,
        "random": hashlib.sha512(b"seed").digest() * 10,
        "tiff": b"II*\x00" + b"\x00" * 100,
        "html": b"<!doctype html><html></html>",
        "gif": photo("RGB", (64, 80), "GIF", 4),
        "bmp": photo("RGB", (64, 80), "BMP", 5),
        "webp": photo("RGB", (64, 80), "WEBP", 6),
        "one-byte": b"\xff",
        "empty": b"",
        "jpeg-magic-only": b"\xff\xd8\xff\xe0" + b"\x00" * 40 + b"\xff\xd9",
        "png-magic-only": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x00IEND",
    }
    cases = [
        Case(f"payload-{name}", _with(_valid_records(), 1, 999, data), "10.999")
        for name, data in not_images.items()
    ]
    for cut in (10, 100, 400, len(COLOUR) // 2, len(COLOUR) - 2):
        cases.append(
            Case(f"jpeg-cut-{cut}", _with(_valid_records(), 1, 999, COLOUR[:cut]), "10.999")
        )
    for cut in (20, 60, len(PNG) // 2, len(PNG) - 5):
        cases.append(Case(f"png-cut-{cut}", _with(_valid_records(), 3, 999, PNG[:cut]), "10.999"))
    huge = _valid_records()
    huge[1] = (
        10,
        {
            **type10_fields(
                _png_header_only(40000, 40000), size=(40000, 40000), cga="PNG", csp="RGB"
            )
        },
    )
    cases.append(Case("oversized-pixels", encode_transaction(type1_fields(), huge), "pixel limit"))
    wide = _valid_records()
    wide[1] = (
        10,
        {**type10_fields(_png_header_only(30000, 20), size=(30000, 20), cga="PNG", csp="RGB")},
    )
    cases.append(Case("oversized-side", encode_transaction(type1_fields(), wide), "side limit"))
    valid = encode_transaction(type1_fields(), _valid_records())
    small_image = RecordLimits(image=ImageLimits(max_bytes=len(COLOUR) - 1))
    cases.append(Case("oversized-bytes", valid, "byte limit", small_image))
    cases.append(
        Case("transaction-too-big", valid, "byte limit", RecordLimits(max_bytes=len(valid) - 1))
    )
    cases.append(Case("too-many-records", valid, "records", RecordLimits(max_records=3)))
    return cases


def separators() -> list[Case]:
    """Separators nested inside values, so the structure no longer matches the standard."""
    records = _valid_records()
    cases = []
    for name, sep in (("fs", FS), ("gs", GS), ("rs", RS), ("us", US)):
        for tag in (3, 4, 6, 11, 12, 13):
            value = records[1][1][tag]
            cases.append(
                Case(
                    f"sep-{name}-10.{tag:03d}", _with(records, 1, tag, value[:1] + sep + value[1:])
                )
            )
        cases.append(Case(f"sep-{name}-tot", _type1_with(4, b"CP" + sep + b"DR")))
        cases.append(Case(f"sep-{name}-ver", _type1_with(2, b"05" + sep + b"02")))
    cases.append(Case("sep-fs-type2", _with(records, 0, 30, b"P-1" + FS + b"234")))
    cases.append(Case("sep-fs-end-of-type2", _with(records, 0, 30, b"P-1234" + FS)))
    return cases


def structure() -> list[Case]:
    """Wrong record types, order or count, and bytes outside records."""
    records = _valid_records()
    valid = encode_transaction(type1_fields(), records)
    header = encode_transaction(type1_fields(), [])
    type2 = encode_record(2, type2_fields())
    return [
        Case("empty", b"", "empty"),
        Case("not-nist", COLOUR, "not an ANSI/NIST-ITL"),
        Case("type2-first", type2 + valid, "first record"),
        Case("two-type1", valid + header, "second Type-1"),
        Case("leading-space", b" " + valid, "not an ANSI/NIST-ITL"),
        Case("trailing-garbage", valid + b"xyz", "bytes after the last record"),
        Case("trailing-fs", valid + FS, "bytes after the last record"),
        Case(
            "type14",
            encode_transaction(type1_fields(), [*records, (14, {2: b"4", 3: b"x"})]),
            "only Type-1, Type-2 and Type-10",
        ),
        Case("type4-binary", valid + struct.pack("!LB", 0, 1) + b"\x00" * 10),
        Case(
            "two-type2", encode_transaction(type1_fields(), [records[0], *records]), "second Type-2"
        ),
        Case("999-in-text", _with(records, 1, 38, b"room 999: left"), "999:"),
        Case("wrong-record-number-in-tag", _with(records, 0, 30, b"x" + GS + b"3.030:y")),
        Case("tag-without-number", _with(records, 0, 30, b"x" + GS + b"junk")),
        Case("duplicate-field", _with(records, 1, 4, b"A" + GS + b"10.004:B")),
        Case("type1-only-header-field", b"1.001:9" + GS + FS),
    ]


def all_cases() -> list[Case]:
    """Every malformed case, generated."""
    return [
        *truncations(),
        *wrong_lengths(),
        *missing_fields(),
        *bad_values(),
        *content_list(),
        *payloads(),
        *separators(),
        *structure(),
    ]


CASES = all_cases()


def test_the_control_transactions_are_valid() -> None:
    assert len(read_transaction(nistitl_transaction(IMAGES), SOURCE).faces) == 3
    assert (
        len(read_transaction(encode_transaction(type1_fields(), _valid_records()), SOURCE).faces)
        == 3
    )


def test_enough_cases() -> None:
    assert len(CASES) >= MIN_CASES
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_is_refused(case: Case) -> None:
    limits = case.limits or RecordLimits()
    with pytest.raises((RecordError, ImageError)) as caught:
        read_transaction(case.data, SOURCE, limits=limits)
    assert type(caught.value) in (RecordError, ImageError)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: ")
    assert "record" in message or "transaction" in message
    assert case.expect in message, message


def _mutate(data: bytes, rng: random.Random, near_start: int) -> bytes:
    """`data` with one to three bytes replaced, inserted or removed (often separators)."""
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        limit = len(mutated) if rng.random() < 0.3 else min(len(mutated), near_start)
        position = rng.randrange(max(1, limit))
        byte = rng.choice([FS, GS, RS, US, b"0", b":", b".", bytes([rng.randrange(256)])])
        operation = rng.random()
        if operation < 0.4:
            mutated[position : position + 1] = byte
        elif operation < 0.7:
            mutated[position:position] = byte
        else:
            del mutated[position : position + 1]
    return bytes(mutated)


def test_random_mutations_raise_only_record_errors() -> None:
    rng = random.Random(20240501)
    data = nistitl_transaction(IMAGES)
    refused = 0
    for _ in range(FUZZ_ROUNDS):
        try:
            read_transaction(_mutate(data, rng, near_start=400), SOURCE)
        except (RecordError, ImageError):
            refused += 1
    assert refused > FUZZ_ROUNDS // 2


def test_mutated_images_in_consistent_records_raise_only_record_errors() -> None:
    rng = random.Random(7)
    for _ in range(FUZZ_ROUNDS // 4):
        images = [(_mutate(d, rng, near_start=60), s, c, p) for d, s, c, p in IMAGES]
        with contextlib.suppress(RecordError, ImageError):
            read_transaction(nistitl_transaction(images), SOURCE)
