"""Standard records through the CLI: enrol ANSI/NIST-ITL transactions, export, search with one.

Transactions are written and read back with `nistitl` directly (not through facetrail),
from real faces, and every command runs as a real `facetrail` process.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import nistitl
import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

import facetrail
from facetrail.index.catalog import vector_from_bytes
from facetrail.media.images import load_image
from facetrail.records.standard import (
    COLOUR_SPACES,
    COMPRESSIONS,
    GREY,
    IMAGE_TYPES,
    MAX_SOURCE_LENGTH,
    SAP_LEVELS,
)
from facetrail.store.models import AuditEntry, Gallery, Image, Subject, Template

LEGAL = "PACE 1984 s.64A"
AUTH = [
    "--purpose",
    "identify a suspect from a partner's probe",
    "--case",
    "OP-NIST-1",
    "--legal-basis",
    "common law",
    "--necessity",
    "no other lead",
    "--proportionality",
    "one probe",
    "--officer",
    "R. Patel",
    "--rank",
    "Superintendent",
]
TEMPLATE_TOLERANCE = 1e-5


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def _grey_jpeg(path: Path) -> bytes:
    """A real photo turned into a one-channel (greyscale) JPEG."""
    buffer = io.BytesIO()
    PILImage.open(path).convert("L").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _size(data: bytes) -> tuple[int, int]:
    return PILImage.open(io.BytesIO(data)).size


def _nistitl_transaction(
    tcn: str, subject: str, images: list[tuple[bytes, str, str]], ori: str = "NL0020000"
) -> bytes:
    """A transaction written by nistitl: Type-1 (0502), Type-2 with 2.030, one Type-10 each."""
    message = nistitl.Message()
    header = message[0]
    header.VER = "0502"
    header.TOT = "CPDR"
    header.DAT = "20240501"
    header.DAI = "GB0010000"
    header.ORI = ori
    header.TCN = tcn
    type2 = nistitl.AsciiRecord(2)
    type2.IDC = 0
    type2 += nistitl.Field(2, 30, subject)
    message += type2
    for idc, (data, cga, csp) in enumerate(images, start=1):
        width, height = _size(data)
        record = nistitl.AsciiRecord(10)
        record.IDC = idc
        record.IMT = "FACE"
        record.SRC = "NL POLICE CUSTODY"
        record.PHD = f"2023061{idc}"
        record.HLL = str(width)
        record.VLL = str(height)
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


def _templates(home: Path, gallery: str, subject: str) -> list[np.ndarray]:
    """The stored templates of a subject, in image order."""
    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            rows = session.execute(
                select(Template.vector, Template.dim)
                .join(Image, Image.id == Template.image_id)
                .join(Subject, Subject.id == Image.subject_id)
                .join(Gallery, Gallery.id == Subject.gallery_id)
                .where(Gallery.name == gallery, Subject.external_id == subject)
                .order_by(Image.id)
            ).all()
        return [vector_from_bytes(v, d, app.kernel.sealer) for v, d in rows]
    finally:
        app.close()


def _images(home: Path, gallery: str) -> list[Image]:
    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            return list(
                session.scalars(
                    select(Image)
                    .join(Subject, Subject.id == Image.subject_id)
                    .join(Gallery, Gallery.id == Subject.gallery_id)
                    .where(Gallery.name == gallery)
                    .order_by(Image.id)
                )
            )
    finally:
        app.close()


@pytest.fixture(scope="module")
def custody(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    """A home whose 'custody' gallery holds a few real people, enrolled from photos."""
    home = tmp_path_factory.mktemp("home")
    app = facetrail.open(home)
    try:
        for person in ("Angelina_Jolie", "Jeff_Bezos", "Elon_Musk"):
            photos = sorted((faces_dir / "deepface" / person).glob("*.jpg"))[:2]
            for photo in photos:
                report = app.enrol(
                    photo,
                    gallery="custody",
                    subject=person,
                    source="custody suite 4",
                    legal_basis=LEGAL,
                    collected_at=datetime(2024, 3, 1, 10, 30).astimezone(),
                )
                assert report.enrolled == 1, report
    finally:
        app.close()
    return home


def test_export_round_trip_read_by_nistitl_and_reenrolled(
    custody: Path, tmp_path: Path, faces_dir: Path
) -> None:
    out = tmp_path / "angelina.an2"
    exported = _ok(
        _cli(
            custody,
            "subjects",
            "export",
            "Angelina_Jolie",
            "--gallery",
            "custody",
            "--format",
            "ansi-nist",
            "-o",
            str(out),
            "--ori",
            "GB0010000",
            "--dai",
            "NL0020000",
            "--json",
        )
    )
    data = out.read_bytes()
    assert exported["images"] == 2 and exported["sha256"] == hashlib.sha256(data).hexdigest()

    message = nistitl.Message()  # read with nistitl itself, not through facetrail
    message.parse(data)
    header = message[0]
    assert header.VER == "0502" and header.ORI == "GB0010000" and header.DAI == "NL0020000"
    assert exported["control_number"] == header.TCN
    originals = [
        p.read_bytes() for p in sorted((faces_dir / "deepface" / "Angelina_Jolie").glob("*.jpg"))
    ][:2]
    records = list(message.iter(10))
    assert len(records) == 2
    for idc, (record, original) in enumerate(zip(records, originals, strict=True), start=1):
        assert int(record.LEN) > len(record.DATA)  # 10.001: the record's length in bytes
        assert int(record.IDC) == idc
        assert record.IMT in IMAGE_TYPES and record.IMT == "FACE"
        assert record.SRC and len(record.SRC) <= MAX_SOURCE_LENGTH
        assert record.PHD == "20240301"  # the stored collected-at date
        date(int(record.PHD[:4]), int(record.PHD[4:6]), int(record.PHD[6:]))
        decoded = load_image(record.DATA)
        assert (int(record.HLL), int(record.VLL)) == (decoded.width, decoded.height)
        assert int(record.SLC) in (0, 1, 2) and int(record.THPS) >= 1 and int(record.TVPS) >= 1
        assert record.CGA in COMPRESSIONS and COMPRESSIONS[record.CGA] == decoded.format
        assert record.CSP in COLOUR_SPACES and record.CSP != GREY  # colour photos
        assert int(record.SAP) in SAP_LEVELS
        assert original == record.DATA  # the bytes as enrolled, unchanged
        assert np.array_equal(decoded.pixels, load_image(original).pixels)
    type2 = next(message.iter(2))
    lengths = [int(header.LEN), int(type2.LEN), *(int(r.LEN) for r in records)]
    assert sum(lengths) == len(data)  # every record's LEN is its exact size
    assert type2[900].value == "Angelina_Jolie"  # 2.900: the subject
    sent = {(idc, key): value for idc, key, value in type2[901].value}  # 2.901 provenance
    for idc, original in enumerate(originals, start=1):
        assert sent[(str(idc), "sha256")] == hashlib.sha256(original).hexdigest()
        assert sent[(str(idc), "legal_basis")] == LEGAL
        assert sent[(str(idc), "source")] == "custody suite 4"
    assert exported["sap"] == [int(r.SAP) for r in records]

    app = facetrail.open(custody)
    try:
        entries = [e for e in app.audit_entries() if e["action"] == "subject.export"]
    finally:
        app.close()
    assert entries[-1]["target"] == "Angelina_Jolie"
    assert entries[-1]["details"]["sha256"] == exported["sha256"]
    assert entries[-1]["details"]["destination"] == "NL0020000"

    # The partner enrols the export: facetrail's own export names the subject in 2.900.
    partner = tmp_path / "partner"
    report = _ok(
        _cli(partner, "enrol", str(out), "--gallery", "wanted", "--legal-basis", LEGAL, "--json")
    )
    assert report["enrolled"] == 2 and report["failed"] == 0
    assert {i["subject"] for i in report["items"]} == {"Angelina_Jolie"}
    assert [i["record"] for i in report["items"]] == ["Type-10 IDC 1", "Type-10 IDC 2"]
    original = _templates(custody, "custody", "Angelina_Jolie")
    again = _templates(partner, "wanted", "Angelina_Jolie")
    assert len(original) == len(again) == 2
    for a, b in zip(original, again, strict=True):
        assert np.allclose(a, b, atol=TEMPLATE_TOLERANCE), float(np.abs(a - b).max())
    images = _images(partner, "wanted")
    assert all(i.provenance and i.provenance["transaction"] == header.TCN for i in images)
    assert all(i.provenance["legal_basis"] == LEGAL for i in images)  # sent in 2.901
    assert all(i.provenance["source"] == "custody suite 4" for i in images)
    assert [i.collected_at.date() for i in images if i.collected_at] == [date(2024, 3, 1)] * 2


def test_export_refuses_a_templates_only_gallery(
    custody: Path, tmp_path: Path, faces_dir: Path
) -> None:
    photo = sorted((faces_dir / "deepface" / "Matt_Damon").glob("*.jpg"))[0]
    enrol = _cli(
        custody,
        "enrol",
        str(photo),
        "--gallery",
        "templates-only",
        "--subject",
        "Matt_Damon",
        "--no-keep-photos",
        "--legal-basis",
        LEGAL,
        "--json",
    )
    assert _ok(enrol)["enrolled"] == 1
    out = tmp_path / "none.an2"
    refused = _cli(
        custody, "subjects", "export", "Matt_Damon", "--gallery", "templates-only", "-o", str(out)
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "templates only" in refused.stderr and "no photos to export" in refused.stderr
    assert not out.exists() and not list(tmp_path.glob(".none.an2*"))
    unknown = _cli(
        custody,
        "subjects",
        "export",
        "Angelina_Jolie",
        "--gallery",
        "custody",
        "--format",
        "xml",
        "-o",
        str(out),
    )
    assert unknown.returncode == 2 and "ansi-nist" in unknown.stderr and not out.exists()


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> tuple[Path, Path]:
    """nistitl-written transactions of real faces: colour JPEG, grey JPEG and PNG records."""
    folder = tmp_path_factory.mktemp("incoming")
    alex = faces_dir / "face_recognition" / "Alex_Lacamoire"
    (folder / "alex.an2").write_bytes(
        _nistitl_transaction(
            "NL-TCN-0001",
            "P-1001",
            [
                ((alex / "img1.jpg").read_bytes(), "JPEGB", "YCC"),
                (_grey_jpeg(alex / "alex_lacamoire1.jpg"), "JPEGB", "GRAY"),
                ((alex / "alex-lacamoire.png").read_bytes(), "PNG", "RGB"),
            ],
        )
    )
    obama = faces_dir / "face_recognition" / "Barack_Obama"
    (folder / "obama.eft").write_bytes(
        _nistitl_transaction(
            "NL-TCN-0002",
            "P-1002",
            [
                ((obama / "obama.jpg").read_bytes(), "JPEGB", "YCC"),
                (_grey_jpeg(obama / "obama1.jpg"), "JPEGB", "GRAY"),
            ],
        )
    )
    (folder / "notes.txt").write_text("not a transaction")
    probe = tmp_path_factory.mktemp("probe") / "probe.nist"
    probe.write_bytes(
        _nistitl_transaction(
            "NL-PROBE-7", "unknown", [((obama / "obama3.jpg").read_bytes(), "JPEGB", "YCC")]
        )
    )
    return folder, probe


def test_nistitl_transactions_enrol_and_one_is_a_search_probe(
    transactions: tuple[Path, Path], tmp_path: Path
) -> None:
    folder_path, probe = transactions
    home = tmp_path / "home"
    single = _ok(
        _cli(
            home,
            "enrol",
            str(folder_path / "alex.an2"),
            "--gallery",
            "partner",
            "--subject-field",
            "2.030",
            "--legal-basis",
            LEGAL,
            "--json",
        )
    )
    assert single["enrolled"] == 3 and single["subjects_created"] == 1
    assert {i["subject"] for i in single["items"]} == {"P-1001"}
    folder = _ok(
        _cli(
            home,
            "enrol",
            str(folder_path),
            "--gallery",
            "partner",
            "--legal-basis",
            LEGAL,
            "--json",
        )
    )
    by_status = {
        s: [i for i in folder["items"] if i["status"] == s] for s in ("enrolled", "skipped")
    }
    # alex.an2 again: already enrolled (as P-1001 its images are, as the TCN they are new).
    assert {i["subject"] for i in by_status["enrolled"]} == {"NL-TCN-0001", "NL-TCN-0002"}
    assert any(i["path"].endswith("notes.txt") for i in by_status["skipped"])
    assert folder["failed"] == 0
    again = _ok(
        _cli(
            home,
            "enrol",
            str(folder_path),
            "--gallery",
            "partner",
            "--legal-basis",
            LEGAL,
            "--json",
        )
    )
    assert again["enrolled"] == 0 and again["skipped"] == 6  # resumable: 5 images + notes.txt

    images = [i for i in _images(home, "partner") if i.provenance]
    formats = sorted(i.format for i in images)
    assert formats == ["jpeg"] * 6 + ["png"] * 2
    for image in images:
        assert image.source == "NL POLICE CUSTODY"  # 10.004 SRC
        assert image.legal_basis == LEGAL
        assert image.collected_at is not None and image.collected_at.year == 2023  # 10.005 PHD
        assert image.provenance["sap"] == "30" and image.provenance["pose"] == "F"
        assert image.provenance["originating_agency"] == "NL0020000"
        assert image.file_name.startswith(("alex.an2 (Type-10 IDC", "obama.eft (Type-10 IDC"))
        assert image.photo_path is not None
    shown = _ok(_cli(home, "subjects", "show", "NL-TCN-0002", "--gallery", "partner", "--json"))
    assert [r["provenance"]["record_idc"] for r in shown["image_records"]] == ["1", "2"]
    assert shown["image_records"][1]["provenance"]["compression"] == "JPEGB"

    auth = _ok(_cli(home, "authorise", *AUTH, "--gallery", "partner", "--json"))
    answer = tmp_path / "answer.an2"
    found = _ok(
        _cli(
            home,
            "search",
            str(probe),
            "--gallery",
            "partner",
            "--authorisation",
            str(auth["id"]),
            "--top",
            "3",
            "--export-candidates",
            str(answer),
            "--json",
        )
    )
    best = found["faces"][0]["candidates"][0]
    assert best["subject"] == "NL-TCN-0002" and best["above_threshold"]
    message = nistitl.Message()
    message.parse(answer.read_bytes())
    assert message[0].TOT == "SRE" and message[0].TCR == "NL-PROBE-7"
    assert message[0].DAI == "NL0020000"  # the answer goes back to the probe's agency
    type2 = next(message.iter(2))
    candidates = found["faces"][0]["candidates"]
    assert type2[903].value == str(len(candidates))
    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    finally:
        app.close()
    assert actions[-2:] == ["search", "search.export"]


def test_transaction_enrol_export_reenrol_on_both_databases(
    database_url: str, tmp_path: Path, transactions: tuple[Path, Path]
) -> None:
    folder, probe = transactions
    app = facetrail.open(tmp_path / "home", database_url=database_url)
    try:
        report = app.enrol(folder / "alex.an2", gallery="custody", legal_basis=LEGAL)
        assert report.enrolled == 3 and {i.subject for i in report.items} == {"NL-TCN-0001"}
        shown = app.subject("custody", "NL-TCN-0001")
        assert [r.provenance["record_idc"] for r in shown.image_records if r.provenance] == [
            "1",
            "2",
            "3",
        ]
        assert [r.format for r in shown.image_records] == ["jpeg", "jpeg", "png"]
        out = tmp_path / "alex-out.an2"
        exported = app.export_subject("custody", "NL-TCN-0001", out, destination_agency="NL0020000")
        assert exported.images == 3 and out.read_bytes()[:6] == b"1.001:"
        again = app.enrol(out, gallery="returned", legal_basis=LEGAL)
        assert again.enrolled == 3 and {i.subject for i in again.items} == {"NL-TCN-0001"}
        with app.database.reader() as session:
            rows = session.execute(
                select(Gallery.name, Template.vector, Template.dim, Image.provenance)
                .join(Image, Image.id == Template.image_id)
                .join(Subject, Subject.id == Image.subject_id)
                .join(Gallery, Gallery.id == Subject.gallery_id)
                .order_by(Gallery.name, Image.id)
            ).all()
        vectors = {
            name: [vector_from_bytes(v, d, app.kernel.sealer) for g, v, d, _ in rows if g == name]
            for name in ("custody", "returned")
        }
        for a, b in zip(vectors["custody"], vectors["returned"], strict=True):
            assert np.allclose(a, b, atol=TEMPLATE_TOLERANCE)
        returned = [p for g, _, _, p in rows if g == "returned"]
        assert [p["transaction"] for p in returned] == [exported.control_number] * 3
        assert [p["sap"] for p in returned] == [str(s) for s in exported.sap]
        auth = app.authorise(
            purpose="p",
            case="c",
            legal_basis="l",
            necessity="n",
            proportionality="p",
            officer="o",
            rank="r",
            galleries=["custody"],
        )
        result = app.search(probe, gallery="custody", authorisation=auth.id, top=1)
        assert result.faces and result.faces[0].candidates[0].subject == "NL-TCN-0001"
        assert not result.faces[0].candidates[0].above_threshold  # Obama is not Alex
    finally:
        app.close()


def test_the_same_image_twice_is_enrolled_once(
    database_url: str, tmp_path: Path, faces_dir: Path
) -> None:
    photo = (faces_dir / "face_recognition" / "Rose_Leslie").glob("*.jpg")
    data = sorted(photo)[0].read_bytes()
    twice = tmp_path / "twice.an2"
    twice.write_bytes(_nistitl_transaction("NL-TCN-9", "P-9", [(data, "JPEGB", "YCC")] * 2))
    app = facetrail.open(tmp_path / "home", database_url=database_url)
    try:
        report = app.enrol(twice, gallery="custody", legal_basis=LEGAL)
        assert (report.enrolled, report.skipped, report.failed) == (1, 1, 0)
        skipped = next(i for i in report.items if i.status == "skipped")
        assert skipped.record == "Type-10 IDC 2" and "twice.an2 (Type-10 IDC 1)" in skipped.reason
        assert app.subject("custody", "NL-TCN-9").images == 1
    finally:
        app.close()


def test_a_folder_is_enrolled_a_few_files_at_a_time(
    tmp_path: Path, transactions: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from facetrail.services import enrolment

    folder, _ = transactions
    chunks: list[int] = []
    plan = enrolment.plan_records

    def counted(request: enrolment.EnrolRequest):  # type: ignore[no-untyped-def]
        for tasks, items in plan(request):
            chunks.append(len(tasks))
            yield tasks, items

    monkeypatch.setattr(enrolment, "PLAN_BYTES", 1)  # every file its own group
    monkeypatch.setattr(enrolment, "plan_records", counted)
    app = facetrail.open(tmp_path / "home")
    try:
        report = app.enrol(folder, gallery="custody", legal_basis=LEGAL)
    finally:
        app.close()
    assert chunks == [3, 2]  # alex.an2, then notes.txt (passed over) and obama.eft
    assert (report.enrolled, report.skipped, report.failed) == (5, 1, 0)
    assert report.subjects_created == 2
