"""Erasure reaches every copy of a person and survives SIGKILL; homes copied or moved stay apart.

One real deployment on the hamilton clip (watchlist frozen, Lin-Manuel Miranda alerted
on) and an evaluation template cache holding the watchlist photos; each test erases
Lin from a `cp -a` copy of that home (subject delete, granted request, retention) and
then looks for him everywhere: rows, files, faces in images, float runs in every file,
index ids, cache entries. The original home must not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import fftconvolve
from sqlalchemy import inspect, select, text

import facetrail
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation.templates import compute_templates
from facetrail.index.catalog import load_index
from facetrail.media.images import load_image
from facetrail.store.erasure_models import ErasureJob
from facetrail.store.live_models import Alert, FrozenTemplate
from facetrail.store.models import Image, Subject, Template

CLIP = "video/short_hamilton_clip.mp4"
REFERENCES = "video/references"
PERSON = "Lin_Manuel_Miranda"
AUTH = {
    "purpose": "locate people wanted on warrant at a public event",
    "case": "OP-ERASE-1",
    "legal_basis": "common law policing powers",
    "necessity": "wanted persons expected at the venue",
    "proportionality": "one camera, two hours, watchlist of five",
    "officer": "R. Patel",
    "rank": "Superintendent",
}
SAME_FACE_COSINE = 0.6  # SFace: same person >= 0.6 across frames, different people < 0.35
COPY_COSINE = 0.9  # a stored copy of a template (frozen, index, cache) is ~1.0
DEADLINE_S = 180


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _popen(home: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A home where a watchlist froze Lin, a deployment alerted on him and eval cached him."""
    home = tmp_path_factory.mktemp("erasure") / "original"
    references = shared_data / REFERENCES
    app = facetrail.open(home)
    try:
        app.enrol(references, gallery="watch", legal_basis="test", source="references")
        auth = app.authorise(**AUTH, galleries=["watch"], kind="live_deployment").id
        pipeline = app.galleries()[0].pipeline
    finally:
        app.close()
    compute_templates(
        sorted(references.glob("*/*")), pipeline, cache_dir=home / "cache" / "templates", workers=1
    )
    created = _cli(home, "watchlist", "create", "hamilton", "--gallery", "watch",
                   "--reason", "wanted on warrant", "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    run = _cli(home, "watch", str(shared_data / CLIP), "--watchlist", "hamilton",
               "--authorisation", str(auth), "--json-alerts")  # fmt: skip
    assert run.returncode == 0, run.stderr
    alerted = [json.loads(line) for line in run.stdout.splitlines() if '"alert_id"' in line]
    assert PERSON in {a["subject"] for a in alerted}
    return home


def _copy(original: Path, target: Path, *, move_to: Path | None = None) -> Path:
    """`cp -a` the home (and `mv` the copy when asked)."""
    subprocess.run(["cp", "-a", str(original), str(target)], check=True)
    if move_to is not None:
        subprocess.run(["mv", str(target), str(move_to)], check=True)
        return move_to
    return target


def _files(home: Path) -> dict[str, str]:
    """Every stored file under the home but the database, by relative path: its SHA-256."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.startswith("facetrail.db") and not p.name.endswith(".lock")
    }


def _results(home: Path) -> dict[str, Any]:
    """What the home answers: subjects and alerts (JSON of the CLI)."""
    subjects = _cli(home, "subjects", "list", "--json")
    alerts = _cli(home, "alerts", "list", "--json")
    assert subjects.returncode == 0 and alerts.returncode == 0, subjects.stderr + alerts.stderr
    return {"subjects": json.loads(subjects.stdout), "alerts": json.loads(alerts.stdout)}


def _person(home: Path) -> dict[str, Any]:
    """Everything the home holds of the person: ids, hashes, templates, paths (absolute)."""
    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            subject = session.scalar(select(Subject).where(Subject.external_id == PERSON))
            assert subject is not None
            images = list(session.scalars(select(Image).where(Image.subject_id == subject.id)))
            templates = list(
                session.scalars(
                    select(Template).where(Template.image_id.in_([i.id for i in images]))
                )
            )
            frozen = list(
                session.scalars(
                    select(FrozenTemplate).where(FrozenTemplate.subject_id == subject.id)
                )
            )
            alerts = list(session.scalars(select(Alert).where(Alert.subject_id == subject.id)))
        files = [app.kernel.photos.resolve(i.photo_path) for i in images if i.photo_path]
        files += [
            app.kernel.watchlist_references.resolve(f.reference_path)
            for f in frozen
            if f.reference_path
        ]
        files += [app.kernel.alert_crops.resolve(a.crop_path) for a in alerts if a.crop_path]
        return {
            "subject_id": subject.id,
            "sha256": {i.sha256 for i in images},
            "template_ids": {t.id for t in templates},
            "templates": [np.frombuffer(t.vector, np.float32).copy() for t in templates],
            "files": files,
            "frozen": len(frozen),
            "alert_ids": {a.id for a in alerts},
        }
    finally:
        app.close()


def _best_cosine_in_bytes(data: bytes, templates: np.ndarray) -> float:
    """Highest cosine between any unit-norm float32 run in `data` and one of `templates`."""
    best = -1.0
    dim = templates.shape[1]
    for offset in range(4):
        usable = (len(data) - offset) // 4
        if usable < dim:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            values = np.frombuffer(data, np.float32, usable, offset).astype(np.float64)
        values[~np.isfinite(values) | (np.abs(values) > 1.0)] = 0.0
        norms = np.sqrt(np.convolve(values**2, np.ones(dim), "valid"))
        unit = np.abs(norms - 1.0) < 0.05
        if not unit.any():
            continue
        for template in templates:
            dots = fftconvolve(values, template[::-1], "valid")
            best = max(best, float(dots[unit].max()))
    return best


def _traces(home: Path, person: dict[str, Any]) -> list[str]:
    """Where the home still holds the person (empty when erased completely)."""
    found: list[str] = []
    templates = np.stack(person["templates"]).astype(np.float64)
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    for path in person["files"]:
        if path.exists():
            found.append(f"file {path}")
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() in person["sha256"]:
            found.append(f"photo bytes in {path}")
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            for face in analyzer.analyze(load_image(data, name=str(path)).pixels):
                if float((templates @ face.template("sface").astype(np.float64)).max()) >= (
                    SAME_FACE_COSINE
                ):
                    found.append(f"their face in {path}")
        elif _best_cosine_in_bytes(data, templates) >= COPY_COSINE:
            found.append(f"a template in {path}")
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as cache:
                cached = {str(s) for s in cache["sha256"]}
            found += [f"cache entry {sha[:12]} in {path}" for sha in person["sha256"] & cached]
        if path.suffix == ".faiss":
            held = set(load_index(path).ids().tolist())
            found += [f"index id {i} in {path}" for i in person["template_ids"] & held]
    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            for table in inspect(session.get_bind()).get_table_names():
                if table in {"audit_entries", "audit_head"}:
                    continue  # the audit trail keeps provenance of the erasure itself
                for row in session.execute(text(f'SELECT * FROM "{table}"')):
                    if PERSON in json.dumps([str(v) for v in row]):
                        found.append(f"row of {table} names them")
            pending = session.scalars(
                select(ErasureJob.id).where(ErasureJob.finished_at.is_(None))
            ).all()
            found += [f"erasure {j} pending" for j in pending]
    finally:
        app.close()
    return found


def _erase_subject(home: Path) -> list[str]:
    return ["subjects", "delete", PERSON, "--gallery", "watch", "--reason", "DSAR", "--json"]


def _erase_request(home: Path) -> list[str]:
    made = _cli(home, "deletion", "request", "--gallery", "watch", "--subject", PERSON,
                "--requester", "ref DSAR-1", "--grounds", "no longer wanted", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    request = json.loads(made.stdout)["id"]
    return ["deletion", "decide", str(request), "--grant", "--reason", "granted", "--json"]


def _erase_retention(home: Path) -> list[str]:
    with sqlite3.connect(home / "facetrail.db") as connection:
        subject_id = connection.execute(
            "SELECT id FROM subjects WHERE external_id = ?", (PERSON,)
        ).fetchone()[0]
        connection.execute(
            "UPDATE images SET retain_until = ? WHERE subject_id = ?",
            ((date.today() - timedelta(days=1)).isoformat(), subject_id),
        )
    return ["retention", "run", "--json"]


PATHS: dict[str, Callable[[Path], list[str]]] = {
    "subject-delete": _erase_subject,
    "granted-request": _erase_request,
    "retention": _erase_retention,
}


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PATHS))
def test_erasure_leaves_nothing_of_the_person_and_the_original_unchanged(
    original: Path, tmp_path: Path, path: str
) -> None:
    files_before, results_before = _files(original), _results(original)
    home = _copy(original, tmp_path / "copy")
    person = _person(home)
    assert person["frozen"] and person["alert_ids"] and person["files"]
    assert len(_traces(home, person)) >= 5, "the scan must see the person before erasure"
    alerts_before = _results(home)["alerts"]
    done = _cli(home, *PATHS[path](home))
    assert done.returncode == 0, done.stderr
    removed = json.loads(done.stdout)["removed"]
    assert removed["photos"] == 1 and removed["index_entries"] == len(person["template_ids"])
    assert removed["frozen_templates"] == person["frozen"]
    assert removed["alert_crops"] == len(person["alert_ids"])
    assert removed["alerts_anonymised"] == len(person["alert_ids"])
    assert removed["reference_crops"] >= 1 and removed["cache_entries"] == 1
    assert _traces(home, person) == []
    # The alerts stay for statistics, without the subject.
    alerts_after = _results(home)["alerts"]
    assert len(alerts_after) == len(alerts_before)
    erased = [a for a in alerts_after if a["alert_id"] in person["alert_ids"]]
    assert erased and all(a["subject"] == "(erased)" and a["crop_path"] is None for a in erased)
    assert all(a["reason"] is None for a in erased)  # no watchlist reason kept of the person
    # The original home: every file and every answer as before.
    assert _files(original) == files_before
    assert _results(original) == results_before


def _subject_rows(database: Path) -> int | None:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(
                "SELECT count(*) FROM subjects WHERE external_id = ?", (PERSON,)
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return None  # locked for a moment: poll again


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PATHS))
def test_sigkill_right_after_the_erasure_commit_then_next_command_finishes_it(
    original: Path, tmp_path: Path, path: str
) -> None:
    files_before = _files(original)
    home = _copy(original, tmp_path / "copy", move_to=tmp_path / "moved")
    person = _person(home)
    command = PATHS[path](home)
    database = home / "facetrail.db"
    process = _popen(home, *command)
    started = time.monotonic()
    while _subject_rows(database) != 0:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() - started < DEADLINE_S, "the erasure never committed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(database) as connection:
        pending = connection.execute(
            "SELECT count(*) FROM erasure_jobs WHERE finished_at IS NULL"
        ).fetchone()[0]
    assert pending == 1, "the kill must land between the commit and the removals"
    assert any(p.exists() for p in person["files"]), "files are still there after the kill"
    after = _cli(home, "subjects", "list", "--json")  # any next command finishes it
    assert after.returncode == 0, after.stderr
    assert _traces(home, person) == []
    assert _files(original) == files_before  # the moved copy never touched the original


def test_repair_reports_nothing_pending_on_a_clean_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _cli(home, "init").returncode == 0
    repaired = _cli(home, "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout) == {"finished": {}, "pending": {}}


def test_copied_home_before_upgrade_converts_paths_to_its_own_files(
    tmp_path: Path, shared_data: Path
) -> None:
    """A home with absolute paths (as stored before 0010_relative_paths), copied, upgraded:
    each copy points at its own files."""
    home = tmp_path / "a"
    app = facetrail.open(home)
    try:
        app.enrol(shared_data / REFERENCES, gallery="watch", legal_basis="test")
    finally:
        app.close()
    with sqlite3.connect(home / "facetrail.db") as connection:
        connection.execute("UPDATE images SET photo_path = ? || '/' || photo_path", (str(home),))
        connection.execute("DELETE FROM alembic_version WHERE version_num = '0010_relative_paths'")
        connection.execute("INSERT INTO alembic_version VALUES ('0003_live')")
    copy = _copy(home, tmp_path / "b")
    upgraded = _cli(copy, "db", "upgrade", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    with sqlite3.connect(copy / "facetrail.db") as connection:
        paths = [row[0] for row in connection.execute("SELECT photo_path FROM images")]
    assert paths and all(not os.path.isabs(p) and (copy / p).is_file() for p in paths)
    deleted = _cli(copy, "subjects", "delete", PERSON, "--gallery", "watch", "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["photos_deleted"] == 1
    assert len(list((home / "photos").rglob("*.*"))) == len(paths)  # the original kept all
    shutil.rmtree(copy)
