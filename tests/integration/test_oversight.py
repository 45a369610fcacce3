"""Oversight on real faces: retention with a fake clock, deletion requests, the FOI report
counted independently from the audit log, and encryption at rest with key rotation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import facetrail
from facetrail.errors import AuthorisationError, StoreError
from facetrail.facade import Facetrail
from facetrail.index.catalog import load_index
from facetrail.security import keyring as crypto
from facetrail.store.models import Image, Subject, Template

AUTH = {
    "case": "OP-7",
    "necessity": "no other lead",
    "proportionality": "one probe, custody gallery only",
    "officer": "R. Patel",
    "rank": "Superintendent",
    "galleries": ["custody"],
}
COLLECTED = datetime(2020, 1, 1, tzinfo=UTC)


def _photo(faces_dir: Path, person: str, number: int = 1) -> Path:
    """The person's n-th photo (sorted by name) in the deepface set."""
    return sorted((faces_dir / "deepface" / person).glob("*.jpg"))[number - 1]


def _enrol(app: Facetrail, faces_dir: Path, person: str, **provenance: object) -> None:
    report = app.enrol(_photo(faces_dir, person), subject=person, **provenance)  # type: ignore[arg-type]
    assert report.enrolled == 1, report.items


def _state(app: Facetrail) -> dict[str, dict[str, object]]:
    """Per subject: template ids, photo paths, and whether each is in the on-disk index."""
    with app.database.reader() as session:
        rows = session.execute(
            select(
                Subject.external_id,
                Subject.gallery_id,
                Template.id,
                Template.model,
                Image.photo_path,
            )
            .join(Image, Image.subject_id == Subject.id)
            .join(Template, Template.image_id == Image.id)
        ).all()
    state: dict[str, dict[str, object]] = {}
    for subject, gallery_id, template_id, model, photo in rows:
        index = load_index(app.catalog.path(gallery_id, model))
        state[subject] = {
            "template": template_id,
            "photo": app.kernel.photos.resolve(photo),  # stored relative to the home
            "photo_exists": app.kernel.photos.resolve(photo).exists(),
            "in_index": template_id in index,
        }
    return state


@pytest.fixture
def home(tmp_path: Path, faces_dir: Path) -> Facetrail:
    app = facetrail.open(tmp_path / "home", user="pc1")
    yield app
    app.close()


def test_retention_run_with_fake_clock_deletes_due_images_and_nothing_else(
    home: Facetrail, faces_dir: Path
) -> None:
    custody = {"gallery": "custody", "source": "custody suite", "collected_at": COLLECTED}
    _enrol(home, faces_dir, "Elon_Musk", legal_basis="PACE s.64A", **custody)
    _enrol(home, faces_dir, "Jeff_Bezos", legal_basis="PACE s.64A", **custody)
    _enrol(home, faces_dir, "Matt_Damon", legal_basis="consent", **custody)
    _enrol(
        home,
        faces_dir,
        "Katy_Perry",
        gallery="other",
        source="press",
        legal_basis="PACE s.64A",
        collected_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    home.retention.set_policy("legal_basis", "PACE s.64A", 365)
    home.retention.set_policy("gallery", "custody", 3650)
    before = _state(home)
    assert all(s["in_index"] and s["photo_exists"] for s in before.values())

    fake_today = date(2026, 1, 1)  # PACE images collected 2020 are due; 2025's is not yet
    planned = home.retention.run(fake_today, dry_run=True)
    assert sorted(d.subject for d in planned.due) == ["Elon_Musk", "Jeff_Bezos"]
    assert _state(home) == before  # a dry run deletes nothing

    report = home.retention.run(fake_today)
    assert report.images_deleted == 2 and report.templates_deleted == 2
    assert report.photos_deleted == 2 and report.subjects_deleted == 2
    after = _state(home)
    assert sorted(after) == ["Katy_Perry", "Matt_Damon"]
    assert after == {k: v for k, v in before.items() if k in after}  # the rest untouched
    for gone in ("Elon_Musk", "Jeff_Bezos"):
        assert not Path(str(before[gone]["photo"])).exists()
        for gallery_id, model in ((1, "sface"),):
            assert before[gone]["template"] not in load_index(home.catalog.path(gallery_id, model))
    deletions = [e for e in home.audit_entries() if e["action"] == "retention.delete"]
    assert sorted(e["target"] for e in deletions) == ["Elon_Musk", "Jeff_Bezos"]
    for entry in deletions:  # provenance, never biometric data
        assert set(entry["details"]) <= {
            "image_id",
            "sha256",
            "source",
            "legal_basis",
            "retain_until",
            "reason",
            "templates",
            "as_of",
        }
    assert home.retention.run(fake_today).images_deleted == 0
    assert home.verify_audit().ok


def test_deletion_request_granted_erases_at_once_refused_keeps(
    home: Facetrail, faces_dir: Path
) -> None:
    for person in ("Elon_Musk", "Jeff_Bezos"):
        _enrol(home, faces_dir, person, gallery="custody", source="custody suite")
    before = _state(home)
    first = home.deletions.request(
        gallery="custody", subject="Elon_Musk", requester="ref DSAR-1", grounds="no charge"
    )
    second = home.deletions.request(
        gallery="custody", subject="Jeff_Bezos", requester="ref DSAR-2", grounds="no charge"
    )
    assert [r.status for r in home.deletions.list()] == ["pending", "pending"]
    granted = home.deletions.decide(
        first.id, grant=True, reason="released without charge", officer="A. Khan", rank="DCI"
    )
    assert granted.status == "granted" and granted.images_deleted == 1
    assert granted.photos_deleted == 1 and granted.decided_by == "A. Khan"
    refused = home.deletions.decide(second.id, grant=False, reason="charged; retention lawful")
    assert refused.status == "refused" and refused.images_deleted == 0
    after = _state(home)
    assert sorted(after) == ["Jeff_Bezos"] and after["Jeff_Bezos"] == before["Jeff_Bezos"]
    assert not Path(str(before["Elon_Musk"]["photo"])).exists()
    assert before["Elon_Musk"]["template"] not in load_index(home.catalog.path(1, "sface"))
    assert [r.status for r in home.deletions.list("granted")] == ["granted"]


def test_foi_report_matches_counts_from_the_audit_log(home: Facetrail, faces_dir: Path) -> None:
    for person in ("Elon_Musk", "Jeff_Bezos", "Matt_Damon"):
        _enrol(
            home,
            faces_dir,
            person,
            gallery="custody",
            source="custody suite",
            legal_basis="PACE s.64A",
        )
    _enrol(home, faces_dir, "Katy_Perry", gallery="custody", source="public appeal")
    home.dpias.add(
        "DPIA-1",
        title="Retrospective FR",
        version="2",
        approved_on=date(2025, 1, 1),
        approver="DPO",
    )
    robbery = home.authorise(
        purpose="identify robbery suspect",
        legal_basis="common law",
        dpia="DPIA-1",
        offence_category="robbery",
        **AUTH,
    )
    missing = home.authorise(
        purpose="find missing person",
        legal_basis="Children Act 1989",
        kind="retrospective_search",
        **{**AUTH, "rank": "Inspector"},
    )
    probe = _photo(faces_dir, "Elon_Musk", 2)
    for _ in range(2):
        home.search(probe, gallery="custody", authorisation=robbery.id, top=5)
    home.search(_photo(faces_dir, "Matt_Damon", 2), gallery="custody", authorisation=missing.id)
    home.revoke_authorisation(missing.id, "person found")
    with pytest.raises(AuthorisationError, match="revoked"):
        home.search(probe, gallery="custody", authorisation=missing.id)
    home.verify(probe, _photo(faces_dir, "Elon_Musk", 1))
    request = home.deletions.request(
        gallery="custody", subject="Katy_Perry", requester="ref DSAR-9", grounds="appeal closed"
    )
    home.deletions.decide(request.id, grant=True, reason="appeal closed")
    home.deletions.request(gallery="custody", subject="Matt_Damon", requester="r", grounds="g")

    today = datetime.now(UTC).date()
    report = home.reports.foi(date(2000, 1, 1), today)
    log = home.audit_entries()

    # Independent counts, from the audit log alone.
    grants = {
        e["authorisation_id"]: e["details"] for e in log if e["action"] == "authorisation.grant"
    }
    searches = [e for e in log if e["action"] == "search"]
    ok = [e for e in searches if e["outcome"] == "ok"]
    by_purpose = Counter(
        (grants[e["authorisation_id"]]["purpose"], grants[e["authorisation_id"]]["legal_basis"])
        for e in ok
    )
    assert report["searches"]["total"] == len(ok) == 3
    assert report["searches"]["refused"] == sum(e["outcome"] == "refused" for e in searches) == 1
    assert {
        (r["purpose"], r["legal_basis"]): r["count"] for r in report["searches"]["by_purpose"]
    } == dict(by_purpose)
    assert report["searches"]["faces_processed"] == sum(e["details"]["faces"] for e in ok)
    assert report["verifications"] == sum(e["action"] == "verify" for e in log)
    by_rank = Counter((d["rank"], d["kind"]) for d in grants.values())
    assert {
        (r["rank"], r["kind"]): r["count"] for r in report["authorisations"]["by_rank"]
    } == dict(by_rank)
    assert report["authorisations"]["revoked"] == sum(
        e["action"] == "authorisation.revoke" for e in log
    )
    decided = [e["details"] for e in log if e["action"] == "deletion.decide"]
    assert (
        report["deletion_requests"]["received"]
        == sum(e["action"] == "deletion.request" for e in log)
        == 2
    )
    assert (
        report["deletion_requests"]["granted"]
        == sum(d["decision"] == "granted" for d in decided)
        == 1
    )
    enrolled = Counter(e["details"]["source"] for e in log if e["action"] == "enrol")
    deleted = Counter(e["details"]["source"] for e in log if e["action"] == "deletion.delete")
    assert report["images"]["enrolled_by_source"] == dict(enrolled)
    assert report["images"]["deleted_by_source"] == dict(deleted) == {"public appeal": 1}
    assert report["images"]["held_by_source"] == dict(enrolled - deleted)
    assert [d["reference"] for d in report["dpias_in_force"]] == ["DPIA-1"]
    assert report["collaborations"] == {"federated_queries_in": 0, "federated_queries_out": 0}

    findings = home.reports.dpia_check()
    flagged = Counter((f.action, f.authorisation_id) for f in findings)
    assert flagged == {("search", missing.id): 1, ("verify", None): 1}

    nothing = home.reports.foi(date(2001, 1, 1), date(2001, 12, 31))
    assert nothing["searches"]["total"] == 0 and nothing["authorisations"]["granted"] == 0


def _raw_files(home_dir: Path) -> list[Path]:
    return [p for p in home_dir.rglob("*") if p.is_file()]


def test_encryption_at_rest_leaves_no_plaintext_and_rotates(
    tmp_path: Path, faces_dir: Path
) -> None:
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    home_dir = tmp_path / "home"
    app = facetrail.open(home_dir, key=old_key)
    people = ("Elon_Musk", "Jeff_Bezos", "Matt_Damon")
    for person in people:
        _enrol(app, faces_dir, person, gallery="custody", source="custody suite")
    auth = app.authorise(purpose="test", legal_basis="test", **AUTH)
    hit = app.search(_photo(faces_dir, "Elon_Musk", 2), gallery="custody", authorisation=auth.id)
    assert hit.faces[0].candidates[0].subject == "Elon_Musk"
    keyring = crypto.parse_keyring(old_key, "test")
    with app.database.reader() as session:
        blobs = list(session.scalars(select(Template.vector)))
    plain_vectors = [keyring.open(b) for b in blobs]
    analyzer = app.analyzers.get("yunet+sface")
    fresh = analyzer.analyze(analyzer_image := _load(faces_dir, "Elon_Musk"))[0].template("sface")
    assert analyzer_image is not None
    assert max(float(np.dot(np.frombuffer(v, np.float32), fresh)) for v in plain_vectors) > 0.99
    app.close()

    photos = [_photo(faces_dir, p).read_bytes() for p in people]
    raw = b"".join(p.read_bytes() for p in _raw_files(home_dir))
    for vector in plain_vectors:
        assert len(vector) == 128 * 4 and vector not in raw
        assert vector[:64] not in raw and vector[-64:] not in raw
    for photo in photos:
        middle = len(photo) // 2
        assert photo[middle : middle + 64] not in raw and photo[:256] not in raw

    # Without the key: a clear error, nothing served.
    keyless = facetrail.open(home_dir)
    with pytest.raises(StoreError, match="encrypted"):
        keyless.catalog.forget()
        keyless.rebuild_index()
    keyless.close()

    # Rotation: new key first, old key kept until everything is re-sealed.
    rotating = facetrail.open(home_dir, key=f"{new_key},{old_key}")
    result = rotating.keys.rotate()
    assert result.templates_resealed == result.templates_total == 3
    assert result.files_resealed == result.files_total >= 4  # 3 photos + the index
    assert rotating.keys.rotate().templates_resealed == 0  # idempotent
    rotating.close()
    only_new = facetrail.open(home_dir, key=new_key)
    hit = only_new.search(
        _photo(faces_dir, "Jeff_Bezos", 2), gallery="custody", authorisation=auth.id
    )
    assert hit.faces[0].candidates[0].subject == "Jeff_Bezos"
    only_new.close()
    only_old = facetrail.open(home_dir, key=old_key)
    with pytest.raises(StoreError, match="not in the configured"):
        only_old.catalog.forget()
        only_old.rebuild_index()
    only_old.close()
    raw = b"".join(p.read_bytes() for p in _raw_files(home_dir))
    assert not any(v in raw for v in plain_vectors)


def _load(faces_dir: Path, person: str) -> np.ndarray:
    from facetrail.media.images import load_image

    return load_image(_photo(faces_dir, person)).pixels
