"""Enrolment never loses a batch to one bad file or folder, and reports every entry it skips."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

import facetrail
from facetrail.errors import ImageError
from facetrail.facade import Facetrail
from facetrail.services.enrolment import CONCURRENT_SKIP, Enroller, EnrolRequest
from facetrail.store.files import TEMP_PREFIX
from facetrail.store.models import Gallery, Image, Subject

DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


def _photo(faces_dir: Path, person: str, index: int = 0) -> Path:
    return sorted((faces_dir / "deepface" / person).glob("*.jpg"))[index]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(facetrail.__file__).parents[1]))
    return subprocess.run(
        [sys.executable, "-m", "facetrail.interfaces.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def app(tmp_path: Path) -> Facetrail:
    application = facetrail.open(tmp_path / "home", create=True)
    yield application
    application.close()


def test_every_folder_entry_not_enrolled_is_reported_with_its_reason(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Matt_Damon"
    folder.mkdir(parents=True)
    shutil.copy(_photo(faces_dir, "Matt_Damon"), folder / "good.jpg")
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1" * 20)
    (folder / "scan.tif").write_bytes(b"II*\x00" + bytes(200))
    (folder / "noextension").write_bytes(b"just some notes\n" * 10)
    os.mkfifo(folder / "pipe.jpg")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "sock.jpg"))
    (folder / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    device = next(d for d in DEVICES if stat.S_ISCHR(os.stat(d).st_mode))
    (folder / "null.jpg").symlink_to(device)
    (folder / "nested").mkdir()
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "in" / "loose.jpg").write_bytes(_photo(faces_dir, "Matt_Damon", 1).read_bytes())

    report = app.enrol(tmp_path / "in", gallery="g")

    by_name = {Path(item.path).name: item for item in report.items}
    expected = {p.name for p in folder.iterdir()} | {"loose.jpg"}
    assert set(by_name) == expected  # nothing vanished from the report
    assert by_name["good.jpg"].status == "enrolled"
    reasons = {name: item.reason for name, item in by_name.items()}
    assert "named pipe" in reasons["pipe.jpg"]
    assert "socket" in reasons["sock.jpg"]
    assert "does not exist" in reasons["dangling.jpg"]
    assert "character device" in reasons["null.jpg"]
    assert "not a supported image" in reasons["photo.heic"]
    assert "not a supported image" in reasons["scan.tif"]
    assert "not a supported image" in reasons["noextension"]
    assert "sub-folders" in reasons["nested"]
    assert "hidden" in reasons[".DS_Store"]
    assert "not in a subject folder" in reasons["loose.jpg"]
    assert report.enrolled == 1
    assert report.enrolled + report.skipped + report.failed == len(expected)


def test_a_single_fifo_or_socket_path_is_a_clear_error(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="named pipe"):
        app = facetrail.open(tmp_path / "home", create=True)
        try:
            app.enrol(fifo, gallery="g", subject="x")
        finally:
            app.close()
    sock = tmp_path / "s.jpg"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
        result = _cli(tmp_path / "home", "enrol", str(sock), "--gallery", "g", "--subject", "x")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "socket" in result.stderr


def test_an_identical_file_twice_in_a_folder_is_skipped_not_a_batch_failure(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Katy_Perry"
    folder.mkdir(parents=True)
    shutil.copy(_photo(faces_dir, "Katy_Perry"), folder / "a.jpg")
    shutil.copy(_photo(faces_dir, "Katy_Perry"), folder / "a (1).jpg")
    other = tmp_path / "in" / "Elon_Musk"
    other.mkdir()
    shutil.copy(_photo(faces_dir, "Elon_Musk"), other / "e.jpg")

    report = app.enrol(tmp_path / "in", gallery="g")
    status = {Path(i.path).name: (i.status, i.reason) for i in report.items}
    assert status["a (1).jpg"] == ("enrolled", "")  # sorted first: " " before "."
    assert status["a.jpg"][0] == "skipped" and "identical to 'a (1).jpg'" in status["a.jpg"][1]
    assert status["e.jpg"][0] == "enrolled"
    rerun = app.enrol(tmp_path / "in", gallery="g")  # and every rerun works too
    assert (rerun.enrolled, rerun.skipped, rerun.failed) == (0, 3, 0)


def test_the_same_photo_enrolled_by_two_runs_at_once_converges(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Jeff_Bezos"
    folder.mkdir(parents=True)
    shutil.copy(_photo(faces_dir, "Jeff_Bezos"), folder / "j.jpg")
    kernel = app.kernel
    # The second run read the gallery before the first committed: it sees no subject and
    # no photo, as a concurrent process does.
    late = Enroller(kernel.database, kernel.catalog, kernel.photos, kernel.analyzers, "b", 1)
    first = app.enrol(tmp_path / "in", gallery="g")
    assert first.enrolled == 1
    with kernel.reader() as session:
        gallery = session.scalar(select(Gallery).where(Gallery.name == "g"))
    late._existing = lambda gallery_id: ({}, set())  # type: ignore[method-assign]
    second = late.run(EnrolRequest(tmp_path / "in", "g"), gallery)
    assert [(i.status, i.reason) for i in second.items] == [("skipped", CONCURRENT_SKIP)]
    with kernel.reader() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 1
        assert session.scalar(select(func.count()).select_from(Subject)) == 1
    assert app.verify_audit().ok


def test_folder_names_are_normalised_or_refused_and_one_bad_folder_never_stops_the_run(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    names = {
        "Tony_Blair": "Matt_Damon",
        "Tony_Blair ": "Matt_Damon",
        "zero\u200bwidth": "Elon_Musk",
        "bidi\u202eevil": "Elon_Musk",
        os.fsdecode(b"caf\xe9"): "Elon_Musk",
        "x" * 250: "Elon_Musk",
        "Tony_Bl\u0430ir": "Elon_Musk",  # Cyrillic a: a homoglyph
        "Zoe\u0308": "Katy_Perry",  # decomposed: stored as NFC "Zoë"
    }
    for index, (name, person) in enumerate(names.items()):
        (root / name).mkdir(parents=True)
        shutil.copy(_photo(faces_dir, person, index % 2), root / name / f"p{index}.jpg")

    report = app.enrol(root, gallery="g")
    by_file = {Path(i.path).name: i for i in report.items}
    assert len(by_file) == len(names)
    assert by_file["p0.jpg"].status == "enrolled"
    assert by_file["p1.jpg"].status == "enrolled" and by_file["p1.jpg"].subject == "Tony_Blair"
    assert any("normalised" in w for w in by_file["p1.jpg"].warnings)
    for index, why in (
        (2, "invisible format"),
        (3, "invisible format"),
        (4, "not valid UTF-8"),
        (5, "over the 200-character limit"),
        (6, "mixes letters"),
    ):
        item = by_file[f"p{index}.jpg"]
        assert item.status == "failed" and why in item.reason, item
        assert "subject folder" in item.reason
    assert by_file["p7.jpg"].status == "enrolled" and by_file["p7.jpg"].subject == "Zo\u00eb"
    assert sorted(s.subject for s in app.subjects("g")) == ["Tony_Blair", "Zo\u00eb"]
    assert app.subject("g", "Tony_Blair ").subject == "Tony_Blair"  # looked up normalised
    assert app.subject("g", "Zoe\u0308").subject == "Zo\u00eb"
    json.dumps(report.model_dump(mode="json")).encode()  # printable: no lone surrogates


def test_stale_temp_files_of_killed_runs_are_removed(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Jack_Dorsey"
    folder.mkdir(parents=True)
    shutil.copy(_photo(faces_dir, "Jack_Dorsey"), folder / "j.jpg")
    app.enrol(tmp_path / "in", gallery="g")
    with app.kernel.reader() as session:
        gallery_id = session.scalar(select(Gallery.id).where(Gallery.name == "g"))
    shard = app.kernel.photos.root / str(gallery_id) / "ab"
    shard.mkdir(parents=True, exist_ok=True)
    stale, fresh = shard / f"{TEMP_PREFIX}stale", shard / f"{TEMP_PREFIX}fresh"
    stale.write_bytes(b"half a photo")
    fresh.write_bytes(b"being written now")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    report = app.enrol(tmp_path / "in", gallery="g")
    assert report.temp_files_removed == 1
    assert not stale.exists() and fresh.exists()


def test_a_photo_the_database_refuses_fails_alone_not_its_batch(
    app: Facetrail, faces_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Sundar_Pichai"
    folder.mkdir(parents=True)
    for index, name in enumerate(("a.jpg", "poison.jpg", "z.jpg")):
        shutil.copy(_photo(faces_dir, ("Sundar_Pichai", "Marissa_Mayer", "Jeff_Bezos")[index]),
                    folder / name)  # fmt: skip
    with app.database.transaction() as session:  # a real constraint, on one row only
        session.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON images"
                " WHEN NEW.file_name = 'poison.jpg' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
        )
    report = app.enrol(tmp_path / "in", gallery="g")
    status = {Path(i.path).name: (i.status, i.reason) for i in report.items}
    assert status["a.jpg"][0] == status["z.jpg"][0] == "enrolled"
    assert status["poison.jpg"] == ("failed", "could not be stored: poisoned row")
    with app.kernel.reader() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 2
        kept = session.scalars(select(Image.photo_path)).all()
    stored = {p.name for p in app.kernel.photos.root.rglob("*") if p.is_file()}
    assert stored == {Path(p).name for p in kept}  # the refused photo's file was removed
    assert app.verify_audit().ok
    assert len([e for e in app.audit_entries() if e["action"] == "enrol"]) == 2
