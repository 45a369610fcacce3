"""Transactions written by nistitl itself parse into the right envelope, fields and images."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import ImageError, RecordError
from facetrail.media.images import load_image
from facetrail.records import (
    enrolment_of,
    is_transaction_file,
    read_transaction,
    read_transaction_file,
)
from tests.unit.records_support import nistitl_transaction, photo

IMAGES = [
    (photo("RGB", (64, 80), "JPEG", 1), (64, 80), "JPEGB", "YCC"),
    (photo("L", (96, 120), "JPEG", 2), (96, 120), "JPEGB", "GRAY"),
    (photo("RGB", (40, 48), "PNG", 3), (40, 48), "PNG", "SRGB"),
    (photo("L", (33, 41), "PNG", 4), (33, 41), "PNG", "GRAY"),
    (photo("RGB", (70, 90), "JPEG", 5), (70, 90), "JPEGB", "RGB"),
]


def test_nistitl_written_transaction_parses() -> None:
    data = nistitl_transaction(IMAGES)
    transaction = read_transaction(data, "nistitl.an2")
    envelope = transaction.envelope
    assert (envelope.version, envelope.type_of_transaction) == ("0502", "CPDR")
    assert (envelope.originating_agency, envelope.destination_agency) == ("ORIG00001", "DEST00001")
    assert envelope.control_number == "TCN-NISTITL"
    assert envelope.date == date(2024, 5, 1)
    assert transaction.type2 == {"2.030": "P-5678"}
    assert len(transaction.faces) == len(IMAGES)
    for idc, (face, (data_in, size, cga, csp)) in enumerate(
        zip(transaction.faces, IMAGES, strict=True), start=1
    ):
        assert face.idc == idc
        assert face.data == data_in
        assert (face.width, face.height) == size
        assert (face.compression, face.colour_space) == (cga, csp)
        assert (face.sap, face.pose, face.scale_units) == (30, "F", 1)
        assert (face.horizontal_scale, face.vertical_scale) == (300, 300)
        assert face.source_agency == "NISTITL AGENCY"
        assert face.capture_date == date(2023, 6, 15)
        decoded = face.decode(f"nistitl.an2 IDC {idc}")
        assert np.array_equal(decoded.pixels, load_image(data_in).pixels)


def test_enrolment_from_a_type2_field() -> None:
    transaction = read_transaction(nistitl_transaction(IMAGES), "n.an2")
    plan = enrolment_of(transaction, "n.an2", subject_field="2.030")
    assert plan.subject == "P-5678"
    assert len(plan.images) == len(IMAGES)
    assert plan.images[1].provenance["collected_at"] == "2023-06-15"
    assert plan.images[1].provenance["sap"] == "30"
    assert plan.images[1].provenance["originating_agency"] == "ORIG00001"


def test_jpeg2000_is_read_but_not_decoded() -> None:
    image = (photo("RGB", (64, 80), "JPEG2000", 6), (64, 80), "JP2", "SYCC")
    transaction = read_transaction(nistitl_transaction([image]), "j.an2")
    assert transaction.faces[0].format == "jp2"
    with pytest.raises(ImageError, match="JPEG 2000"):
        transaction.faces[0].decode("j.an2")


def test_transaction_files(tmp_path: Path) -> None:
    data = nistitl_transaction(IMAGES[:2])
    named = tmp_path / "probe.EFT"
    named.write_bytes(b"not yet")
    unnamed = tmp_path / "probe.bin"
    unnamed.write_bytes(data)
    other = tmp_path / "photo.jpg"
    other.write_bytes(IMAGES[0][0])
    assert is_transaction_file(named) and is_transaction_file(unnamed)
    assert not is_transaction_file(other) and not is_transaction_file(tmp_path)
    assert len(read_transaction_file(unnamed).faces) == 2
    with pytest.raises(RecordError, match=r"probe\.EFT"):
        read_transaction_file(named)
    with pytest.raises(RecordError, match="cannot be read"):
        read_transaction_file(tmp_path / "missing.an2")
    with pytest.raises(RecordError, match="not a regular file"):
        read_transaction_file(tmp_path)
