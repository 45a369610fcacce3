"""Builders for ANSI/NIST-ITL test transactions: with nistitl itself, or byte by byte."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import nistitl
import numpy as np
from PIL import Image

FS, GS, RS, US = b"\x1c", b"\x1d", b"\x1e", b"\x1f"
Fields = dict[int, bytes]


def photo(
    mode: str = "RGB", size: tuple[int, int] = (64, 80), fmt: str = "JPEG", seed: int = 0
) -> bytes:
    """A small smooth test image (a gradient plus noise) encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.add.outer(np.arange(height), np.arange(width)).astype(np.float64)
    base = (ramp / ramp.max() * 200 + rng.normal(0, 8, ramp.shape)).clip(0, 255).astype(np.uint8)
    pixels = np.dstack([base, 255 - base, np.roll(base, 7, axis=1)]) if mode == "RGB" else base
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB" if mode == "RGB" else "L").save(buffer, fmt)
    return buffer.getvalue()


def type10_fields(
    data: bytes,
    *,
    size: tuple[int, int] = (64, 80),
    cga: str = "JPEGB",
    csp: str = "YCC",
    idc: int = 1,
) -> Fields:
    """All mandatory Type-10 fields (FACE, so SAP too) for an image, 10.999 last."""
    return {
        2: str(idc).encode(),
        3: b"FACE",
        4: b"TEST AGENCY",
        5: b"20240102",
        6: str(size[0]).encode(),
        7: str(size[1]).encode(),
        8: b"0",
        9: b"1",
        10: b"1",
        11: cga.encode(),
        12: csp.encode(),
        13: b"20",
        999: data,
    }


def type1_fields() -> Fields:
    """The mandatory Type-1 fields except 1.003 CNT (computed by `encode_transaction`)."""
    return {
        2: b"0502",
        4: b"CPDR",
        5: b"20240501",
        7: b"DEST00001",
        8: b"ORIG00001",
        9: b"TCN-0001",
        11: b"00.00",
        12: b"00.00",
    }


def type2_fields() -> Fields:
    """A Type-2 with IDC 0 and a subject reference in 2.030."""
    return {2: b"0", 30: b"P-1234"}


def encode_record(
    record_type: int, fields: Mapping[int, bytes], length: bytes | None = None
) -> bytes:
    """One text record with a correct LEN (or `length` as given), fields in the given order."""
    body = GS.join(f"{record_type}.{tag:03d}:".encode() + value for tag, value in fields.items())
    prefix = f"{record_type}.001:".encode()
    if length is not None:
        return prefix + length + GS + body + FS
    size = 0
    while True:
        record = prefix + str(size).encode() + GS + body + FS
        if len(record) == size:
            return record
        size = len(record)


def content_field(records: Sequence[tuple[int, Fields]]) -> bytes:
    """1.003 CNT for the records after the Type-1."""
    subfields = [b"1" + US + str(len(records)).encode()]
    subfields += [str(kind).encode() + US + fields.get(2, b"0") for kind, fields in records]
    return RS.join(subfields)


def encode_transaction(
    type1: Fields, records: Sequence[tuple[int, Fields]], cnt: bytes | None = None
) -> bytes:
    """A transaction byte by byte: Type-1 (CNT computed unless given) then `records`."""
    rest = dict(type1)
    header = {2: rest.pop(2)} if 2 in rest else {}
    header[3] = cnt if cnt is not None else content_field(records)
    header.update(rest)
    return encode_record(1, header) + b"".join(encode_record(kind, f) for kind, f in records)


def standard_records(
    images: Sequence[tuple[bytes, tuple[int, int], str, str]],
) -> list[tuple[int, Fields]]:
    """A Type-2 then one Type-10 per (data, size, CGA, CSP)."""
    records: list[tuple[int, Fields]] = [(2, type2_fields())]
    for idc, (data, size, cga, csp) in enumerate(images, start=1):
        records.append((10, type10_fields(data, size=size, cga=cga, csp=csp, idc=idc)))
    return records


def nistitl_transaction(images: Sequence[tuple[bytes, tuple[int, int], str, str]]) -> bytes:
    """A transaction written by nistitl itself: Type-1 (version 0502), Type-2, Type-10s."""
    message = nistitl.Message()
    header = message[0]
    header.VER = "0502"
    header.TOT = "CPDR"
    header.DAT = "20240501"
    header.DAI = "DEST00001"
    header.ORI = "ORIG00001"
    header.TCN = "TCN-NISTITL"
    type2 = nistitl.AsciiRecord(2)
    type2.IDC = 0
    type2 += nistitl.Field(2, 30, "P-5678")
    message += type2
    for idc, (data, size, cga, csp) in enumerate(images, start=1):
        record = nistitl.AsciiRecord(10)
        record.IDC = idc
        record.IMT = "FACE"
        record.SRC = "NISTITL AGENCY"
        record.PHD = "20230615"
        record.HLL = str(size[0])
        record.VLL = str(size[1])
        record.SLC = "1"
        record.THPS = "300"
        record.TVPS = "300"
        record.CGA = cga
        record.CSP = csp
        record.SAP = "30"
        record.POS = "F"
        record.DATA = data
        message += record
    return bytes(message.NIST)
