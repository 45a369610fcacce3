"""Store, audit chain, authorisations and index/DB consistency on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text, update

from facetrail.core.audit import append_audit, verify_chain
from facetrail.errors import AuthorisationError, InvalidInputError, NotFoundError
from facetrail.index.catalog import IndexCatalog, bump_generation
from facetrail.services.authorisations import AuthorisationRequest, check_covers, grant
from facetrail.store.database import Database
from facetrail.store.models import AuditEntry, Authorisation, Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

DIM = 8


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def _gallery(db: Database, name: str = "custody") -> int:
    with db.transaction() as session:
        gallery = Gallery(name=name, pipeline="yunet+sface")
        session.add(gallery)
        session.flush()
        return gallery.id


def _add_template(db: Database, gallery_id: int, subject: str, vector: np.ndarray) -> int:
    with db.transaction() as session:
        record = session.scalar(
            select(Subject).where(Subject.gallery_id == gallery_id, Subject.external_id == subject)
        )
        if record is None:
            record = Subject(gallery_id=gallery_id, external_id=subject)
            session.add(record)
            session.flush()
        image = Image(
            subject_id=record.id,
            sha256=f"{subject}-{vector[0]:.6f}".ljust(64, "0")[:64],
            format="jpeg",
            width=100,
            height=100,
        )
        session.add(image)
        session.flush()
        template = Template(
            image_id=image.id,
            gallery_id=gallery_id,
            model="sface",
            model_version="test",
            dim=DIM,
            vector=vector.astype(np.float32).tobytes(),
            box=[0, 0, 10, 10],
            landmarks=[[0, 0]] * 5,
            quality=50.0,
            quality_components={},
        )
        session.add(template)
        session.flush()
        bump_generation(session, gallery_id, "sface")
        return template.id


def _unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    assert db.current_revisions() == db.head_revisions() != set()
    db.upgrade()
    assert db.current_revisions() == db.head_revisions()


def test_failed_transaction_leaves_nothing(db: Database) -> None:
    _gallery(db, "kept")
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.add(Gallery(name="half-written", pipeline="yunet+sface"))
        session.flush()
        raise RuntimeError("crash mid-operation")
    with db.reader() as session:
        assert list(session.scalars(select(Gallery.name))) == ["kept"]


def test_audit_chain_verifies_and_detects_edit_delete_reorder(db: Database) -> None:
    with db.transaction() as session:
        for number in range(5):
            append_audit(session, actor="pc1", action="search", outcome="ok", target=str(number))
    with db.reader() as session:
        assert verify_chain(session).ok
        assert verify_chain(session).entries == 5
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))

    with db.engine.begin() as connection:  # edit entry 3 behind facetrail's back
        connection.execute(
            update(AuditEntry).where(AuditEntry.id == ids[2]).values(target="changed")
        )
    with db.reader() as session:
        check = verify_chain(session)
    assert not check.ok and check.first_bad_id == ids[2]
    assert "hash" in check.problem

    with db.engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(target="2"))
        connection.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": ids[1]})
    with db.reader() as session:
        check = verify_chain(session)
    assert not check.ok and check.first_bad_id == ids[2]
    assert "follow" in check.problem


def test_authorisation_scope_validity_and_revocation(db: Database) -> None:
    _gallery(db, "custody")
    _gallery(db, "licences")
    request = AuthorisationRequest(
        purpose="identify a suspect",
        case_reference="CASE-1",
        legal_basis="PACE 1984",
        necessity="no other lead",
        proportionality="single search",
        officer_name="J. Smith",
        officer_rank="Superintendent",
        galleries=("custody",),
        dpia_reference="DPIA-7",
        unrecorded_dpia=True,  # DPIA-7 is not recorded: acknowledged
        valid_days=7,
    )
    with db.transaction() as session:
        granted = grant(session, request, created_by="officer")
        auth_id = granted.id
    with db.reader() as session:
        record = session.get(Authorisation, auth_id)
        check_covers(
            record, authorisation_id=auth_id, kind="retrospective_search", gallery="custody"
        )
        with pytest.raises(AuthorisationError, match="does not cover gallery 'licences'"):
            check_covers(
                record, authorisation_id=auth_id, kind="retrospective_search", gallery="licences"
            )
        with pytest.raises(AuthorisationError, match="expired"):
            check_covers(
                record,
                authorisation_id=auth_id,
                kind="retrospective_search",
                gallery="custody",
                now=utcnow() + timedelta(days=8),
            )
        with pytest.raises(AuthorisationError, match="live_deployment"):
            check_covers(
                record, authorisation_id=auth_id, kind="live_deployment", gallery="custody"
            )
        with pytest.raises(AuthorisationError, match="does not exist"):
            check_covers(None, authorisation_id=999, kind="retrospective_search", gallery="custody")
    with db.transaction() as session:
        session.get(Authorisation, auth_id).revoked_at = utcnow()
    with db.reader() as session, pytest.raises(AuthorisationError, match="revoked"):
        check_covers(
            session.get(Authorisation, auth_id),
            authorisation_id=auth_id,
            kind="retrospective_search",
            gallery="custody",
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"necessity": "  "}, "necessity"),
        ({"galleries": ()}, "gallery"),
        ({"valid_days": 0}, "valid-days"),
        ({"kind": "covert"}, "kind"),
    ],
)
def test_authorisation_refuses_incomplete_requests(
    db: Database, change: dict[str, object], message: str
) -> None:
    _gallery(db, "custody")
    fields: dict[str, object] = {
        "purpose": "p",
        "case_reference": "c",
        "legal_basis": "l",
        "necessity": "n",
        "proportionality": "pr",
        "officer_name": "o",
        "officer_rank": "r",
        "galleries": ("custody",),
    }
    fields.update(change)
    with pytest.raises(InvalidInputError, match=message), db.transaction() as session:
        grant(session, AuthorisationRequest(**fields), created_by="x")  # type: ignore[arg-type]
    with db.reader() as session:
        assert session.scalar(select(Authorisation.id)) is None


def test_authorisation_for_unknown_gallery_is_refused(db: Database) -> None:
    request = AuthorisationRequest("p", "c", "l", "n", "pr", "o", "r", galleries=("nowhere",))
    with pytest.raises(NotFoundError, match="nowhere"), db.transaction() as session:
        grant(session, request, created_by="x")


def test_index_catalog_reconciles_stale_index_with_database(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    gallery_id = _gallery(db)
    vectors = {
        _add_template(db, gallery_id, f"s{i}", v): v
        for i, v in enumerate(_unit(rng) for _ in range(20))
    }
    catalog = IndexCatalog(db, tmp_path / "index")
    index = catalog.get(gallery_id, "sface", DIM)
    assert sorted(index.ids().tolist()) == sorted(vectors)
    probe_id, probe = next(iter(vectors.items()))
    assert index.search(probe[None, :], 1)[1][0, 0] == probe_id

    # Another process adds and deletes templates: a fresh catalog loads the saved (stale)
    # file and must reconcile it to exactly the database's templates.
    new_id = _add_template(db, gallery_id, "late", _unit(rng))
    with db.transaction() as session:
        session.delete(session.get(Template, probe_id))
        bump_generation(session, gallery_id, "sface")
    fresh = IndexCatalog(db, tmp_path / "index").get(gallery_id, "sface", DIM)
    expected = (set(vectors) - {probe_id}) | {new_id}
    assert set(fresh.ids().tolist()) == expected
    assert probe_id not in fresh.search(probe[None, :], 21)[1][0].tolist()


def test_index_rebuild_from_database_alone(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    gallery_id = _gallery(db)
    ids = [_add_template(db, gallery_id, f"s{i}", _unit(rng)) for i in range(10)]
    catalog = IndexCatalog(db, tmp_path / "index")
    catalog.get(gallery_id, "sface", DIM)
    catalog.path(gallery_id, "sface").write_bytes(b"garbage, not an index")
    assert catalog.rebuild(gallery_id, "sface", DIM) == 10
    reloaded = IndexCatalog(db, tmp_path / "index").get(gallery_id, "sface", DIM)
    assert sorted(reloaded.ids().tolist()) == sorted(ids)
