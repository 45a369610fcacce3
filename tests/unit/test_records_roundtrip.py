"""Export a subject, check the bytes with nistitl directly, read them back with facetrail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import nistitl
import numpy as np
import pytest

from facetrail.errors import RecordError
from facetrail.media.images import load_image
from facetrail.records import (
    Candidate,
    Envelope,
    ExportImage,
    candidate_list,
    enrolment_of,
    read_candidates,
    read_transaction,
    sap_from_quality,
    subject_transaction,
    write_transaction,
)
from facetrail.records.standard import SAP_LEVELS
from tests.unit.records_support import photo

GOOD = {"size": 95.0, "sharpness": 90.0, "pose": 92.0, "exposure": 85.0}
ENVELOPE = Envelope(
    type_of_transaction="CPDR",
    control_number="TCN-2024-0001",
    originating_agency="GB0010000",
    destination_agency="NL0020000",
    date=date(2024, 5, 1),
    timestamp=datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC),
)
MANDATORY_TYPE10 = range(1, 14)  # 10.001 to 10.013 (SAP, as IMT is FACE)


def _export() -> tuple[list[bytes], bytes]:
    images = [
        photo("RGB", (64, 80), "JPEG", 1),
        photo("L", (72, 90), "JPEG", 2),
        photo("RGB", (50, 60), "PNG", 3),
    ]
    exports = [
        ExportImage(
            data=data,
            source_agency="Custody suite 3",
            capture_date=date(2024, 1, 2 + i),
            quality=80.0,
            components=GOOD,
            provenance={"legal_basis": "PACE s.64A", "image_sha": str(i)},
        )
        for i, data in enumerate(images)
    ]
    return images, write_transaction(subject_transaction(ENVELOPE, "P-1234", exports))


def test_export_read_back_with_nistitl_directly() -> None:
    images, data = _export()
    message = nistitl.Message()
    message.parse(data)
    header = message[0]
    assert header.VER == "0502"
    assert header.TOT == "CPDR" and header.TCN == "TCN-2024-0001" and header.DAT == "20240501"
    assert header.GMT == "20240501123005Z"
    records = list(message.iter(10))
    assert len(records) == len(images)
    for idc, (record, original) in enumerate(zip(records, images, strict=True), start=1):
        for number in MANDATORY_TYPE10:
            assert record[number] is not None, f"10.{number:03d} missing"
        assert idc == record.IDC
        assert record.IMT == "FACE"
        assert record.SRC == "Custody suite 3"
        assert re.fullmatch(r"2024010[234]", record.PHD)
        decoded = load_image(record.DATA)
        assert (int(record.HLL), int(record.VLL)) == (decoded.width, decoded.height)
        assert record.SLC in ("0", "1", "2") and int(record.THPS) >= 1 and int(record.TVPS) >= 1
        assert {"jpeg": "JPEGB", "png": "PNG"}[decoded.format] == record.CGA
        assert record.CSP in ("GRAY", "YCC", "RGB")
        assert int(record.SAP) in SAP_LEVELS
        assert original == record.DATA
        assert np.array_equal(decoded.pixels, load_image(original).pixels)
    type2 = message[(2, 0)]
    assert type2[900].value == "P-1234"
    provenance = [tuple(sub) for sub in type2[901].value]
    assert ("1", "legal_basis", "PACE s.64A") in provenance


def test_export_read_back_with_facetrail() -> None:
    images, data = _export()
    transaction = read_transaction(data, "export.an2")
    assert transaction.envelope.version == "0502"
    assert transaction.envelope.domain == ("FACETRAIL", "1")
    assert [face.colour_space for face in transaction.faces] == ["YCC", "GRAY", "RGB"]
    plan = enrolment_of(transaction, "export.an2", subject_field="2.900")
    assert plan.subject == "P-1234"
    for image, original in zip(plan.images, images, strict=True):
        assert image.provenance["legal_basis"] == "PACE s.64A"
        assert image.provenance["source_agency"] == "Custody suite 3"
        assert image.provenance["transaction"] == "TCN-2024-0001"
        decoded = image.record.decode(image.name("export.an2"))
        assert np.array_equal(decoded.pixels, load_image(original).pixels)


def test_default_subject_is_the_control_number() -> None:
    _, data = _export()
    assert enrolment_of(read_transaction(data, "x"), "x").subject == "TCN-2024-0001"
    with pytest.raises(RecordError, match=r"2\.030"):
        enrolment_of(read_transaction(data, "x"), "x", subject_field="2.030")


def test_utf8_text_sets_dcs_and_round_trips() -> None:
    envelope = Envelope("CPDR", "TCN-Ü", "ORI", "DAI", date(2024, 5, 1))
    image = ExportImage(photo(), "Polizei Köln", date(2024, 1, 2))
    data = write_transaction(subject_transaction(envelope, "Zoë Ørsted", [image]))
    assert b"1.015:003\x1fUTF-8" in data
    transaction = read_transaction(data, "x")
    assert transaction.type2["2.900"] == "Zoë Ørsted"
    assert transaction.faces[0].source_agency == "Polizei Köln"


def test_separator_in_a_value_is_refused_on_write() -> None:
    image = ExportImage(photo(), "Agency\x1eX", date(2024, 1, 2))
    with pytest.raises(RecordError, match=r"10\.004 SRC"):
        write_transaction(subject_transaction(ENVELOPE, "P-1", [image]))


def test_candidate_list_round_trip() -> None:
    envelope = Envelope(
        "SRE",
        "TCN-R1",
        "NL0020000",
        "GB0010000",
        date(2024, 5, 2),
        control_reference="TCN-2024-0001",
    )
    candidates = [Candidate(2, "REF-9", 0.61), Candidate(1, "REF-3", 0.873421, "DOE, JOHN")]
    data = write_transaction(candidate_list(envelope, candidates))
    message = nistitl.Message()
    message.parse(data)
    assert message[0].TCR == "TCN-2024-0001"
    assert message[(2, 0)][64].value == [["REF-3", "DOE, JOHN"], ["REF-9", ""]]
    read = read_candidates(read_transaction(data, "r"), "r")
    assert [(c.rank, c.reference, c.name) for c in read] == [
        (1, "REF-3", "DOE, JOHN"),
        (2, "REF-9", ""),
    ]
    assert read[0].score == pytest.approx(0.873421)
    empty = write_transaction(candidate_list(envelope, []))
    assert read_candidates(read_transaction(empty, "r"), "r") == ()


@pytest.mark.parametrize(
    ("score", "components", "size", "level"),
    [
        (None, GOOD, (3300, 4400), 0),
        (59.0, GOOD, (3300, 4400), 0),
        (80.0, {**GOOD, "pose": 50.0}, (3300, 4400), 0),
        (80.0, {"size": 95.0}, (3300, 4400), 0),
        (80.0, GOOD, (250, 250), 0),
        (80.0, GOOD, (480, 600), 30),
        (80.0, GOOD, (600, 480), 30),
        (80.0, GOOD, (768, 1024), 40),
        (80.0, GOOD, (4400, 3300), 50),
    ],
)
def test_sap_from_quality(
    score: float | None, components: dict[str, float], size: tuple[int, int], level: int
) -> None:
    assert sap_from_quality(score, components, *size) == level
