"""Malformed ANSI/NIST-ITL transactions through `facetrail enrol`: refused, store unchanged.

Every case of tests/unit/test_records_malformed.py that the default limits refuse is
written to a file and enrolled with the real command line (its `main`, as the console
script runs it): each must exit non-zero with one clear line naming what is wrong, and no
table of the database nor any file of the home may change. SQLite runs every case,
PostgreSQL a subset.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import select

import facetrail
from facetrail.interfaces.cli.main import main as cli_main
from facetrail.store.models import Base
from tests.unit.records_support import nistitl_transaction
from tests.unit.test_records_malformed import CASES, Case

MIN_REFUSED = 200
POSTGRES_EVERY = 8  # PostgreSQL runs every 8th case
CLI_REFUSED = 2  # exit code of a FacetrailError
FOLDER_CASES = 30
CASES_AT_DEFAULT_LIMITS = [case for case in CASES if case.limits is None]


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    """Run the console entry point in this process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["facetrail", "--home", str(home), *args]
    code: int | str | None = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            cli_main()
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
    return int(code or 0), out.getvalue(), err.getvalue()


def store_digest(app: facetrail.Facetrail) -> dict[str, str]:
    """A SHA-256 of every table's rows (in key order) and of every file under the home."""
    digests: dict[str, str] = {}
    with app.database.reader() as session:
        for table in sorted(Base.metadata.sorted_tables, key=lambda t: t.name):
            query = select(table).order_by(*table.primary_key.columns)
            rows = [tuple(map(repr, row)) for row in session.execute(query)]
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    home = app.kernel.home
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.name.startswith("facetrail.db"):
            relative = str(path.relative_to(home))
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture
def home(database_url: str, tmp_path: Path, faces_dir: Path) -> Iterator[Path]:
    """A home on `database_url` whose gallery holds one subject enrolled from a transaction."""
    folder = faces_dir / "face_recognition" / "Kit_Harington"
    photo = sorted(folder.glob("*.jpg"))[0].read_bytes()
    from PIL import Image as PILImage

    size = PILImage.open(io.BytesIO(photo)).size
    valid = tmp_path / "valid.an2"
    valid.write_bytes(nistitl_transaction([(photo, size, "JPEGB", "YCC")]))
    root = tmp_path / "home"
    app = facetrail.open(root, database_url=database_url)
    try:
        report = app.enrol(valid, gallery="custody", legal_basis="test")
        assert report.enrolled == 1, report
    finally:
        app.close()
    yield root


def _digest(root: Path, database_url: str) -> dict[str, str]:
    app = facetrail.open(root, database_url=database_url, create=False)
    try:
        return store_digest(app)
    finally:
        app.close()


def _refuse_all(
    root: Path, database_url: str, cases: list[Case], work: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """Enrol each case's file through the CLI; assert each refusal; return how many."""
    monkeypatch.setenv("FACETRAIL_DATABASE_URL", database_url)
    refused = 0
    for number, case in enumerate(cases):
        path = work / f"case{number:03d}.an2"
        path.write_bytes(case.data)
        code, out, err = _run(
            root, "enrol", str(path), "--gallery", "custody", "--legal-basis", "test", "--json"
        )
        message = "".join(err.split())  # the console wraps (and folds) long lines
        assert code == CLI_REFUSED, (case.name, code, out, err)
        assert "Traceback" not in err and out == "", (case.name, err)
        assert err.startswith("error:") and err.count("error:") == 1, (case.name, err)
        assert str(path) in message, (case.name, message)
        assert "".join(case.expect.split()) in message, (case.name, case.expect, err)
        refused += 1
    return refused


def test_malformed_transactions_are_refused_and_change_nothing(
    home: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = CASES_AT_DEFAULT_LIMITS
    if database_url.startswith("postgresql"):
        cases = cases[::POSTGRES_EVERY]
    else:
        assert len(cases) >= MIN_REFUSED
    before = _digest(home, database_url)
    assert any(name.startswith("photos/") for name in before)  # there is something to lose
    work = tmp_path / "incoming"
    work.mkdir()
    refused = _refuse_all(home, database_url, cases, work, monkeypatch)
    assert refused == len(cases)
    assert _digest(home, database_url) == before


def test_a_folder_of_malformed_transactions_stores_nothing(
    home: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACETRAIL_DATABASE_URL", database_url)
    folder = tmp_path / "batch"
    folder.mkdir()
    step = max(1, len(CASES_AT_DEFAULT_LIMITS) // FOLDER_CASES)
    cases = CASES_AT_DEFAULT_LIMITS[::step][:FOLDER_CASES]
    for number, case in enumerate(cases):
        (folder / f"case{number:03d}.nist").write_bytes(case.data)
    before = _digest(home, database_url)
    for gallery in ("custody", "new-gallery"):  # an existing gallery, and one not created
        code, out, err = _run(
            home, "enrol", str(folder), "--gallery", gallery, "--legal-basis", "t"
        )
        assert code == 1 and "Traceback" not in err, err
        assert "".join(err.split()).count("failed:") == len(cases) and " 0 enrolled" in out
        code, out, err = _run(
            home, "enrol", str(folder), "--gallery", gallery, "--legal-basis", "t", "--json"
        )
        assert "Traceback" not in err, err
        report = json.loads(out)
        assert report["failed"] == len(cases) and report["enrolled"] == 0
        for item, case in zip(report["items"], cases, strict=True):
            assert item["status"] == "failed" and case.expect in item["reason"], (case.name, item)
            assert item["reason"].startswith(item["path"])  # names the file, then what is wrong
    assert _digest(home, database_url) == before
    # The control: a valid transaction through the same command does change the digest.
    code, _, err = _run(
        home,
        "enrol",
        str(tmp_path / "valid.an2"),
        "--gallery",
        "custody",
        "--subject",
        "other",
        "--legal-basis",
        "t",
    )
    assert code == 0, err
    after = _digest(home, database_url)
    assert after != before and after["images"] != before["images"]


def test_subject_field_mistakes_are_refused(
    home: Path, database_url: str, tmp_path: Path, faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACETRAIL_DATABASE_URL", database_url)
    valid = str(tmp_path / "valid.an2")
    photo = str(sorted((faces_dir / "face_recognition" / "Kit_Harington").glob("*.jpg"))[0])
    before = _digest(home, database_url)
    for args, expect in [
        ((valid, "--subject-field", "2.999"), "2.999: is missing"),
        ((valid, "--subject-field", "10.004"), "use 1.009, 1.010 or a 2.NNN"),
        ((valid, "--subject-field", "1.010"), "1.010 TCR: is missing"),
        ((photo, "--subject-field", "2.030", "--subject", "k"), "is not one"),
        ((str(tmp_path / "absent.an2"),), "no such file"),
    ]:
        code, _, err = _run(home, "enrol", *args, "--gallery", "custody", "--legal-basis", "t")
        assert code == CLI_REFUSED and "Traceback" not in err, (args, err)
        assert "".join(expect.split()) in "".join(err.split()), (args, err)
    assert _digest(home, database_url) == before
