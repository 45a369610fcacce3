"""Killing an enrolment midway (real subprocess, SIGKILL) leaves a consistent, resumable store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import facetrail
from facetrail.index.faiss_index import FaissIndex
from facetrail.store.models import Image, IndexState, Template

from .helpers import link_gallery

PEOPLE = 80
KILL_AFTER_IMAGES = 15
DEADLINE_S = 240


def _committed_images(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet


@pytest.mark.slow
def test_sigkill_mid_enrolment_then_rerun_agrees_exactly(faces_dir: Path, tmp_path: Path) -> None:
    people = {}
    for folder in sorted((faces_dir / "lfw-dev").iterdir()):
        photos = sorted(folder.glob("*.jpg"))[:1] if folder.is_dir() else []
        if photos:
            people[folder.name] = photos
        if len(people) == PEOPLE:
            break
    gallery = link_gallery(tmp_path / "gallery", people)
    home = tmp_path / "home"
    command = [
        sys.executable,
        "-m",
        "facetrail",
        "--home",
        str(home),
        "enrol",
        str(gallery),
        "--gallery",
        "g",
        "--legal-basis",
        "test",
        "--json",
    ]
    env = {**os.environ, "FACETRAIL_WORKERS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    started = time.monotonic()
    database = home / "facetrail.db"
    while _committed_images(database) < KILL_AFTER_IMAGES:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() - started < DEADLINE_S, "enrolment made no progress"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    partial = _committed_images(database)
    assert KILL_AFTER_IMAGES <= partial < PEOPLE, "the kill must land mid-enrolment"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_S, env=env)
    assert rerun.returncode in (0, 1), rerun.stderr

    app = facetrail.open(home)
    try:
        with app.database.reader() as session:
            images = session.scalar(select(func.count(Image.id)))
            distinct = session.scalar(
                select(func.count()).select_from(
                    select(Image.subject_id, Image.sha256).distinct().subquery()
                )
            )
            template_ids = sorted(session.scalars(select(Template.id)))
            generation = session.scalar(select(IndexState.generation))
        assert images == distinct, "an image was enrolled twice"
        assert images >= partial
        assert images >= PEOPLE - 3  # a few LFW photos may hold no detectable face
        assert len(template_ids) == images
        on_disk = FaissIndex.load(app.catalog.path(1, "sface"))
        assert sorted(on_disk.ids().tolist()) == template_ids
        assert on_disk.version == generation
        assert app.verify_audit().ok
        enrol_entries = [e for e in app.audit_entries() if e["action"] == "enrol"]
        assert len(enrol_entries) == images
    finally:
        app.close()
