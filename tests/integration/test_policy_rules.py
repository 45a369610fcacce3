"""Policy enforced, not just reported (real faces): effective retention in search and
watchlists, no future collection dates, `--today` only for dry runs, deletion requests
only for subjects held (one pending), searches audited with what was shown, one
administrator from concurrent bootstraps (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import facetrail
from facetrail.core.access import PermissionDeniedError
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.facade import Facetrail
from facetrail.store.models import Image
from facetrail.store.oversight_models import User

AUTH = {
    "purpose": "identify a suspect",
    "case": "OP-9",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe",
    "officer": "R. Patel",
    "rank": "Superintendent",
    "galleries": ["custody"],
}
COLLECTED = datetime(2020, 1, 1, tzinfo=UTC)


def _photo(faces_dir: Path, person: str, number: int = 1) -> Path:
    return sorted((faces_dir / "deepface" / person).glob("*.jpg"))[number - 1]


@pytest.fixture
def home(tmp_path: Path, faces_dir: Path) -> Facetrail:
    """Elon Musk held under 'PACE' since 2020, Jeff Bezos under 'consent'."""
    app = facetrail.open(tmp_path / "home", user="pc1")
    for person, basis in (("Elon_Musk", "PACE"), ("Jeff_Bezos", "consent")):
        report = app.enrol(
            _photo(faces_dir, person), gallery="custody", subject=person,
            legal_basis=basis, collected_at=COLLECTED,
        )  # fmt: skip
        assert report.enrolled == 1
    yield app
    app.close()


def _candidates(app: Facetrail, probe: Path, authorisation: int) -> list[str]:
    result = app.search(probe, gallery="custody", authorisation=authorisation, top=5)
    return [c.subject for c in result.faces[0].candidates]


def test_search_never_shows_an_image_past_its_legal_basis_period(
    home: Facetrail, faces_dir: Path
) -> None:
    auth = home.authorise(**AUTH).id
    probe = _photo(faces_dir, "Elon_Musk", 2)
    assert _candidates(home, probe, auth)[0] == "Elon_Musk"
    home.retention.set_policy("legal_basis", "PACE", 365)  # ended 2021: due, not yet run
    assert "Elon_Musk" not in _candidates(home, probe, auth)
    assert "Jeff_Bezos" in _candidates(home, probe, auth)  # the rest is still searched


def test_a_watchlist_excludes_a_subject_past_the_gallery_period(home: Facetrail) -> None:
    home.retention.set_policy("gallery", "custody", 30)
    created = home.watchlists.create("w", gallery="custody", reason="wanted on warrant")
    assert created.eligible == 0
    assert {e.subject for e in created.excluded} == {"Elon_Musk", "Jeff_Bezos"}


def test_a_future_collection_date_is_refused_and_nothing_stored(
    home: Facetrail, faces_dir: Path
) -> None:
    with pytest.raises(InvalidInputError, match=r"--collected-at 2199-01-01.*future"):
        home.enrol(
            _photo(faces_dir, "Matt_Damon"), gallery="custody", subject="Matt_Damon",
            legal_basis="PACE", collected_at=datetime(2199, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    with home.database.reader() as session:
        assert session.scalar(select(func.count(Image.id))) == 2


def test_retention_run_with_another_day_only_as_a_dry_run(home: Facetrail) -> None:
    home.retention.set_policy("legal_basis", "PACE", 365)
    command = [sys.executable, "-m", "facetrail", "--home", str(home.kernel.home)]
    real = subprocess.run(
        [*command, "retention", "run", "--today", "2199-01-01"], capture_output=True, text=True
    )
    assert real.returncode != 0 and "--dry-run" in real.stderr
    with home.database.reader() as session:
        assert session.scalar(select(func.count(Image.id))) == 2  # nothing deleted
    dry = subprocess.run(
        [*command, "retention", "run", "--today", "2199-01-01", "--dry-run", "--json"],
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert '"dry_run": true' in dry.stdout


def test_deletion_requests_only_for_subjects_held_and_one_pending_each(home: Facetrail) -> None:
    with pytest.raises(NotFoundError, match="holds no subject 'Nobody'"):
        home.deletions.request(gallery="custody", subject="Nobody", requester="r", grounds="g")
    first = home.deletions.request(
        gallery="custody", subject="Elon_Musk", requester="r", grounds="g"
    )
    with pytest.raises(InvalidInputError, match=f"request {first.id} .* still pending"):
        home.deletions.request(gallery="custody", subject="Elon_Musk", requester="r", grounds="g")
    assert [r.subject for r in home.deletions.list()] == ["Elon_Musk"]


def test_the_search_audit_records_the_candidates_shown(home: Facetrail, faces_dir: Path) -> None:
    auth = home.authorise(**AUTH).id
    result = home.search(_photo(faces_dir, "Elon_Musk", 2), gallery="custody", authorisation=auth)
    entry = next(e for e in reversed(home.audit_entries()) if e["action"] == "search")
    shown = entry["details"]["shown"]
    for face in shown:  # scores are audited to 6 decimals
        for candidate in face:
            candidate["score"] = pytest.approx(candidate["score"], abs=1e-6)
    assert shown == [
        [
            {
                "rank": c.rank,
                "subject": c.subject,
                "image_id": c.image_id,
                "score": round(c.score, 6),
            }
            for c in face.candidates
        ]
        for face in result.faces
    ]
    assert shown[0] and shown[0][0]["subject"] == "Elon_Musk"


def test_concurrent_bootstraps_make_exactly_one_administrator(
    database_url: str, tmp_path: Path
) -> None:
    opened = [
        facetrail.open(tmp_path / f"h{i}", database_url=database_url, user=f"u{i}")
        for i in range(4)
    ]
    barrier = threading.Barrier(len(opened))
    outcomes: list[str] = []

    def attempt(app: Facetrail, name: str) -> None:
        barrier.wait()
        try:
            app.users.bootstrap(name, "a long enough password")
            outcomes.append("ok")
        except PermissionDeniedError:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=attempt, args=(app, f"admin{i}")) for i, app in enumerate(opened)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert sorted(outcomes) == ["ok"] + ["refused"] * (len(opened) - 1)
        with opened[0].database.reader() as session:
            assert session.scalar(select(func.count(User.id))) == 1
    finally:
        for app in opened:
            app.close()
