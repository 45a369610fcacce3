"""Milvus galleries against a real milvus-lite server that is killed and restarted.

The database is the source of truth: an enrolment that goes on while the server is
down leaves the collection behind, and the next search (or `index rebuild`) brings it
to exactly the database's templates; a subject deleted while the server is down is
never returned once it is back, because the collection is reconciled before the search.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import facetrail
from facetrail.errors import IndexError_
from facetrail.facade import Facetrail
from facetrail.index.milvus_index import MilvusIndex
from facetrail.services.results import EnrolItem
from facetrail.store.models import Gallery, Template
from tests.integration.helpers import link_gallery, person_images
from tests.milvus_server import MilvusServer, started_server

PEOPLE = 60
KILL_AFTER = 10  # photos of the second enrolment before the server is killed
AUTH = {
    "purpose": "identify an unknown suspect",
    "case": "OP-MILVUS-1",
    "legal_basis": "common law policing powers",
    "necessity": "no other means of identification",
    "proportionality": "one probe, one gallery",
    "officer": "R. Patel",
    "rank": "Superintendent",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MilvusServer]:
    """A server of this test's own (it gets killed)."""
    started = started_server(tmp_path / "milvus-data")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def lfw_people(faces_dir: Path) -> dict[str, list[Path]]:
    people = {p: i for p, i in person_images(faces_dir / "lfw-dev").items() if len(i) >= 4}
    return dict(list(people.items())[:PEOPLE])


def _collection_ids(url: str, gallery_id: int, app: Facetrail) -> np.ndarray:
    """The template ids in the app's collection (named with its home's namespace)."""
    namespace = app.kernel.catalog.milvus.namespace
    with MilvusIndex(url, gallery_id, "sface", 128, namespace=namespace) as collection:
        return collection.ids()


def _db_ids(app: Facetrail, gallery_id: int) -> np.ndarray:
    with app.kernel.reader() as session:
        ids = session.scalars(select(Template.id).where(Template.gallery_id == gallery_id))
        return np.sort(np.fromiter(ids, np.int64))


def _gallery_id(app: Facetrail, name: str) -> int:
    with app.kernel.reader() as session:
        return session.scalars(select(Gallery.id).where(Gallery.name == name)).one()


@pytest.mark.slow
def test_server_killed_during_enrolment_then_reconciled_and_rebuilt(
    tmp_path: Path, server: MilvusServer, lfw_people: dict[str, list[Path]]
) -> None:
    first = link_gallery(tmp_path / "first", {p: i[:1] for p, i in lfw_people.items()})
    more = link_gallery(tmp_path / "more", {p: i[1:3] for p, i in lfw_people.items()})
    app = facetrail.open(tmp_path / "home", index_url=server.url)
    try:
        app.create_gallery("g", index="milvus")
        assert app.enrol(first, gallery="g", legal_basis="test").enrolled >= PEOPLE - 2
        gallery_id = _gallery_id(app, "g")
        assert np.array_equal(
            _collection_ids(server.url, gallery_id, app), _db_ids(app, gallery_id)
        )

        def kill_midway(item: EnrolItem, done: int, total: int) -> None:
            if done == KILL_AFTER:
                server.kill()

        # More photos of known subjects: committed to the database while the server is
        # gone (the index change fails after commit; the enrolment carries on).
        report = app.enrol(more, gallery="g", legal_basis="test", progress=kill_midway)
        assert report.enrolled >= 2 * PEOPLE - 4
        auth = app.authorise(**AUTH, galleries=["g"])
        probe = next(iter(lfw_people.values()))[3]
        with pytest.raises(IndexError_, match="is the server running"):
            app.search(probe, gallery="g", authorisation=auth.id)

        server.start()
        db_ids = _db_ids(app, gallery_id)
        lagging = _collection_ids(server.url, gallery_id, app)
        assert len(lagging) < len(db_ids)  # the collection missed what came while it was down
        result = app.search(probe, gallery="g", authorisation=auth.id)  # reconciles first
        assert result.faces and result.faces[0].candidates
        assert np.array_equal(_collection_ids(server.url, gallery_id, app), db_ids)

        # A crash that loses the collection's data entirely: `index rebuild` from SQL.
        namespace = app.kernel.catalog.milvus.namespace
        with MilvusIndex(server.url, gallery_id, "sface", 128, namespace=namespace) as collection:
            collection.remove(db_ids[: len(db_ids) // 2])
        rebuilt = app.rebuild_index("g")
        assert [r.templates for r in rebuilt] == [len(db_ids)]
        assert np.array_equal(_collection_ids(server.url, gallery_id, app), db_ids)
    finally:
        app.close()


@pytest.mark.slow
def test_subject_deleted_while_server_down_is_never_returned(
    tmp_path: Path, server: MilvusServer, lfw_people: dict[str, list[Path]]
) -> None:
    people = dict(list(lfw_people.items())[:8])
    folder = link_gallery(tmp_path / "gallery", {p: i[:2] for p, i in people.items()})
    app = facetrail.open(tmp_path / "home", index_url=server.url)
    try:
        app.create_gallery("g", index="milvus")
        app.enrol(folder, gallery="g", legal_basis="test")
        gallery_id = _gallery_id(app, "g")
        auth = app.authorise(**AUTH, galleries=["g"])
        gone = next(iter(people))
        probe = people[gone][2]
        before = app.search(probe, gallery="g", authorisation=auth.id, top=10)
        assert before.faces[0].candidates[0].subject == gone
        db_before = set(_db_ids(app, gallery_id).tolist())

        server.kill()
        deleted = app.delete_subject("g", gone, reason="erasure while the index is down")
        assert deleted.templates_deleted == 2 and deleted.photos_deleted == 2
        server.start()

        gone_ids = db_before - set(_db_ids(app, gallery_id).tolist())
        assert len(gone_ids) == 2
        assert gone_ids <= set(_collection_ids(server.url, gallery_id, app).tolist())  # still there
        # Another process (fresh kernel) and this one: neither ever returns the subject.
        other = facetrail.open(tmp_path / "home", create=False, index_url=server.url)
        try:
            for application in (other, app):
                after = application.search(probe, gallery="g", authorisation=auth.id, top=10)
                assert gone not in {c.subject for c in after.faces[0].candidates}
        finally:
            other.close()
        held = set(_collection_ids(server.url, gallery_id, app).tolist())
        assert not gone_ids & held
        assert held == set(_db_ids(app, gallery_id).tolist())
    finally:
        app.close()


def _cli(home: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if url:
        env["FACETRAIL_INDEX_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.slow
def test_cli_enrol_and_search_on_a_milvus_gallery(
    tmp_path: Path, milvus_url: str, lfw_people: dict[str, list[Path]]
) -> None:
    people = dict(list(lfw_people.items())[:5])
    folder = link_gallery(tmp_path / "gallery", {p: i[:1] for p, i in people.items()})
    home = tmp_path / "home"
    made = _cli(
        home, "--index-url", milvus_url, "galleries", "create", "mv", "--index", "milvus", "--json"
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["index"] == "milvus"
    enrol = _cli(
        home,
        "enrol",
        str(folder),
        "--gallery",
        "mv",
        "--legal-basis",
        "t",
        "--json",
        url=milvus_url,
    )
    assert enrol.returncode == 0, enrol.stderr
    assert json.loads(enrol.stdout)["enrolled"] == 5
    no_server = _cli(home, "subjects", "list", "--json")
    assert no_server.returncode == 0  # listing needs no index
    auth_args = [f"--{k.replace('_', '-')}={v}" for k, v in AUTH.items()]
    auth = _cli(home, "authorise", *auth_args, "--gallery", "mv", "--json")
    assert auth.returncode == 0, auth.stderr
    auth_id = json.loads(auth.stdout)["id"]
    person, images = next(iter(people.items()))
    args = ["search", str(images[1]), "--gallery", "mv", "--authorisation", str(auth_id), "--json"]
    refused = _cli(home, *args)
    assert refused.returncode != 0 and "FACETRAIL_INDEX_URL" in refused.stderr
    found = _cli(home, *args, url=milvus_url)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["faces"][0]["candidates"][0]["subject"] == person
