"""Both federation steps between real homes in one process: real models, faces, keys, records.

A searches B and C: B holds the person and answers a hit with references and scores only;
C's policy refuses the offence category. A's examiner confirms; B releases the Type-10
image with its provenance (automatically, or after an officer's approval).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from facetrail.errors import AuthorisationError, InvalidInputError
from facetrail.facade import Facetrail
from facetrail.records import read_transaction
from facetrail.services.federated_exchange import ConfirmRequest, FederatedExchange
from facetrail.services.federated_search import FederatedSearch, FederatedSearchRequest
from facetrail.store.federation_models import Exchange
from facetrail.store.types import utcnow
from tests.federation_support import AUTH, InProcessTransport, make_node, register, url_of

from .helpers import link_gallery, person_images

PERSON = "Barack_Obama"


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path
) -> Iterator[tuple[dict[str, Facetrail], InProcessTransport, Path]]:
    root = tmp_path_factory.mktemp("nodes")
    people = person_images(faces_dir / "face_recognition")
    probe = people[PERSON][2]
    held = {name: photos[:2] for name, photos in people.items()}
    nodes = {name: make_node(root, name) for name in ("A", "B", "C")}
    nodes["B"].enrol(
        link_gallery(root / "b-photos", held),
        gallery="custody",
        source="custody imaging",
        legal_basis="PACE 1984 s.64A",
    )
    others = {n: p[:1] for n, p in people.items() if n != PERSON}
    nodes["C"].enrol(link_gallery(root / "c-photos", others), gallery="custody")
    for name in ("B", "C"):
        register(nodes["A"], nodes[name])
    register(nodes["B"], nodes["A"], max_candidates=5)
    register(nodes["C"], nodes["A"], offence_categories=["murder"])
    transport = InProcessTransport({url_of(n): node for n, node in nodes.items()})
    yield nodes, transport, probe
    for node in nodes.values():
        node.close()


def _search(nodes: dict[str, Facetrail], transport: InProcessTransport, probe: Path, top: int = 3):
    a = nodes["A"]
    authorisation = a.authorise(**AUTH, galleries=["custody"]).id
    service = FederatedSearch(a.kernel, transport)
    request = FederatedSearchRequest(probe, ("B", "C"), authorisation, top=top)
    return service.search(a.context(), request)


def test_step1_hit_is_references_and_scores_only(federation) -> None:
    nodes, transport, probe = federation
    result = _search(nodes, transport, probe)
    by = {p.partner: p for p in result.partners}
    assert by["B"].status == "hit", by["B"]
    assert 1 <= len(by["B"].candidates) <= 3
    best = by["B"].candidates[0]
    assert best.reference.startswith("B-") and best.score > 0.3
    assert by["C"].status == "refused" and "offence category 'burglary'" in by["C"].reason
    # Nothing about the person crossed in step 1: no name in any message sent or answered.
    answered = nodes["B"].audit_entries()[-1]
    assert answered["action"] == "federation.answer.search"
    assert answered["details"]["request_id"] == result.request_id
    assert PERSON not in str(result.model_dump())
    a_entry = [e for e in nodes["A"].audit_entries() if e["action"] == "federation.search"][-1]
    assert a_entry["details"]["request_id"] == result.request_id
    c_entry = nodes["C"].audit_entries()[-1]
    assert c_entry["outcome"] == "refused" and c_entry["details"]["request_id"] == result.request_id


def test_step2_releases_type10_image_and_provenance(federation) -> None:
    nodes, transport, probe = federation
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    exchange = FederatedExchange(nodes["A"].kernel, transport)
    answer = exchange.confirm(
        nodes["A"].context(),
        ConfirmRequest(result.request_id, hit.reference, "ears, nose bridge and scar agree"),
    )
    assert answer.status == "released" and answer.record is not None
    record = answer.record
    assert record["subject"] == PERSON and record["reference"] == hit.reference
    assert record["legal_basis"] == ["PACE 1984 s.64A"]
    assert record["provenance"][0]["source"] == "custody imaging"
    transaction = read_transaction(base64.b64decode(record["type10"]), "released")
    assert transaction.face_images[0].sha256 == record["provenance"][0]["sha256"]
    assert transaction.face_images[0].source_agency == "B"
    released = [e for e in nodes["B"].audit_entries() if e["action"] == "federation.answer.confirm"]
    assert released[-1]["details"]["status"] == "released"
    assert released[-1]["details"]["request_id"] == result.request_id
    for node in nodes.values():
        assert node.verify_audit().ok


def test_step2_with_approval_then_overdue_then_released(federation) -> None:
    nodes, transport, probe = federation
    from facetrail.services.federation_policy import policy_from

    nodes["B"].partners.set_policy(
        "A", policy_from({"galleries": ["custody"], "step2": "approve", "deadline_hours": 2})
    )
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    exchange = FederatedExchange(nodes["A"].kernel, transport)
    request = ConfirmRequest(result.request_id, hit.reference, "same person on comparison")
    first = exchange.confirm(nodes["A"].context(), request)
    assert first.status == "pending_approval" and first.record is None
    assert first.due_at is not None and first.due_at > utcnow() + timedelta(hours=1)
    pending = nodes["B"].exchanges.releases(pending_only=True)
    assert [p.reference for p in pending] == [hit.reference] and not pending[0].overdue
    with nodes["B"].kernel.unit_of_work(nodes["B"].context()) as work:  # the deadline passes
        work.session.execute(update(Exchange).values(due_at=utcnow() - timedelta(minutes=1)))
    assert [o.reference for o in nodes["B"].exchanges.overdue()] == [hit.reference]
    nodes["B"].exchanges.decide(pending[0].id, release=True)
    second = exchange.confirm(nodes["A"].context(), request)
    assert second.status == "released" and second.record["subject"] == PERSON
    assert nodes["B"].exchanges.overdue() == []
    report = nodes["B"].exchanges.report("A")
    assert any(r["status"] == "released" for r in report["released_to_partner"])
    nodes["B"].partners.set_policy(
        "A", policy_from({"galleries": ["custody"], "max_candidates": 5})
    )


def test_partner_removed_between_steps_is_refused(federation) -> None:
    nodes, transport, probe = federation
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    info = nodes["A"].node.show()
    nodes["B"].partners.remove("A", "agreement suspended")
    try:
        exchange = FederatedExchange(nodes["A"].kernel, transport)
        answer = exchange.confirm(
            nodes["A"].context(), ConfirmRequest(result.request_id, hit.reference, "match")
        )
        assert answer.status == "refused" and "was removed" in answer.reason
        refused = nodes["B"].audit_entries()[-1]
        assert (
            refused["outcome"] == "refused"
            and refused["details"]["request_id"] == result.request_id
        )
    finally:
        from facetrail.services.federation_policy import policy_from
        from facetrail.services.partners import PartnerRequest

        nodes["B"].partners.add(
            PartnerRequest(
                "A",
                url_of("A"),
                info.public_key,
                policy_from({"galleries": ["custody"], "max_candidates": 5}),
            )
        )


def test_reference_not_a_hit_is_refused_by_the_requester(federation) -> None:
    nodes, transport, probe = federation
    result = _search(nodes, transport, probe)
    exchange = FederatedExchange(nodes["A"].kernel, transport)
    with pytest.raises(AuthorisationError, match="not a step-1 hit"):
        exchange.confirm(nodes["A"].context(), ConfirmRequest(result.request_id, "B-FORGED", "x"))


def test_foi_report_counts_federation_per_partner(federation) -> None:
    from datetime import date

    nodes, transport, probe = federation
    _search(nodes, transport, probe)
    today = utcnow().date()
    a = nodes["A"].reports.foi(date(today.year, 1, 1), today)
    b = nodes["B"].reports.foi(date(today.year, 1, 1), today)
    c = nodes["C"].reports.foi(date(today.year, 1, 1), today)
    assert a["federation"]["partners"]["B"]["queries_out"] >= 1
    assert a["federation"]["partners"]["B"]["hits_out"] >= 1
    assert a["collaborations"]["federated_queries_out"] >= 1
    assert b["federation"]["partners"]["A"]["queries_in"] >= 1
    assert b["federation"]["partners"]["A"]["hits_in"] >= 1
    assert b["federation"]["step2_released"] >= 1  # the releases of the tests before
    refusals = c["federation"]["partners"]["A"]["refusals_by_reason"]
    assert any("offence category 'burglary'" in reason for reason in refusals)


def _checkpoint(node: Facetrail) -> None:
    """Fold SQLite's write-ahead log into the database file, so a file scan sees all."""
    import sqlite3

    for wal in node.kernel.home.rglob("*-wal"):
        database = wal.with_name(wal.name.removesuffix("-wal"))
        connection = sqlite3.connect(database, isolation_level=None)
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0, f"could not checkpoint {database}"
        finally:
            connection.close()


def _home_holds(node: Facetrail, needles: list[bytes]) -> list[str]:
    """Files of the node's home that hold any of `needles` (raw bytes)."""
    _checkpoint(node)
    found = []
    for path in sorted(p for p in node.kernel.home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.name}: {needle[:12]!r}" for needle in needles if needle in data]
    return found


def test_received_record_has_a_retention_date_and_retention_run_erases_it(federation) -> None:
    """A keeps what B released only for A's policy period for B; then nothing of it stays."""
    from datetime import date

    from facetrail.services.federation_policy import policy_from

    nodes, transport, probe = federation
    a = nodes["A"]
    keep_a_week = {"galleries": ["custody"], "received_retention_days": 7}
    a.partners.set_policy("B", policy_from(keep_a_week))
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    exchange = FederatedExchange(a.kernel, transport)
    answer = exchange.confirm(
        a.context(), ConfirmRequest(result.request_id, hit.reference, "scar under left eye agrees")
    )
    assert answer.status == "released" and answer.record is not None
    kept = datetime.fromisoformat(answer.record["retain_until"])
    assert timedelta(days=6, hours=23) < kept - utcnow() <= timedelta(days=7)
    image = read_transaction(base64.b64decode(answer.record["type10"]), "released").face_images[0]
    (row,) = [r for r in a.exchanges.releases() if r.request_id == result.request_id]
    assert row.retain_until == kept and row.erased_at is None
    # Short slices: a long blob is split over SQLite overflow pages (4-byte links between).
    slices = [image.data[i : i + 48] for i in range(0, min(len(image.data), 20_000), 2_500)]
    needles = [*slices, b"scar under left eye agrees"]
    on_sqlite = a.kernel.database.engine.dialect.name == "sqlite"
    if on_sqlite and not a.kernel.sealer.enabled:  # unsealed: the bytes as they came
        assert _home_holds(a, slices)
    assert a.retention.run(today=date.today()).received_records_deleted == 0  # not due yet
    due = a.retention.run(today=(kept + timedelta(days=1)).date(), dry_run=True)
    assert due.received_records_due >= 1 and due.received_records_deleted == 0
    report = a.retention.run(today=(kept + timedelta(days=1)).date())
    assert report.received_records_deleted >= 1
    (row,) = [r for r in a.exchanges.releases() if r.request_id == result.request_id]
    assert row.erased_at is not None and row.note == "" and row.status == "released"
    with a.kernel.reader() as session:
        stored = session.get(Exchange, row.id)
        assert stored.record is None and stored.transaction is None
    later = [r for r in a.exchanges.releases() if r.direction == "out" and r.erased_at is None]
    assert all(r.retain_until > kept for r in later if r.retain_until)  # not due: kept
    # Earlier tests' copies of the same person (kept 30 days, the default) go too, later:
    a.retention.run(today=(utcnow() + timedelta(days=31)).date())
    assert _home_holds(a, needles) == []  # nothing of the person survives at A
    erased = [e for e in a.audit_entries() if e["action"] == "retention.delete.received"]
    assert any(e["details"]["request_id"] == result.request_id for e in erased)
    assert PERSON not in str([e["details"] for e in erased])
    assert a.verify_audit().ok
    a.partners.set_policy("B", policy_from({"galleries": ["custody"]}))


def test_received_record_erased_on_request(federation) -> None:
    """A deletion granted for a received record empties every copy of that release."""
    nodes, transport, probe = federation
    a = nodes["A"]
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    exchange = FederatedExchange(a.kernel, transport)
    request = ConfirmRequest(result.request_id, hit.reference, "same person on comparison")
    exchange.confirm(a.context(), request)
    exchange.confirm(a.context(), request)  # collected twice: two copies
    rows = [r for r in a.exchanges.releases() if r.request_id == result.request_id]
    assert len(rows) == 2 and all(r.retain_until for r in rows)
    with pytest.raises(InvalidInputError, match="--reason"):
        a.exchanges.erase_received(rows[0].id, " ")
    a.exchanges.erase_received(rows[0].id, "B notified the record was wrongly held")
    after = [r for r in a.exchanges.releases() if r.request_id == result.request_id]
    assert all(r.erased_at is not None for r in after)
    with a.kernel.reader() as session:
        assert all(session.get(Exchange, r.id).record is None for r in after)
    audited = [
        e
        for e in a.audit_entries()
        if e["action"] == "federation.received.erase" and e["outcome"] == "ok"
    ]
    assert len(audited) == 2 and audited[-1]["details"]["reason"].startswith("B notified")


def test_dpia_check_covers_federation_on_both_sides(federation) -> None:
    """A's searches and confirmations need their authorisation's DPIA; B's answers and
    releases need the DPIA its policy for A cites (and a policy cannot cite an unrecorded one)."""
    from datetime import date

    from facetrail.errors import NotFoundError
    from facetrail.services.federation_policy import policy_from

    nodes, transport, probe = federation
    a, b = nodes["A"], nodes["B"]

    def findings(node: Facetrail, request_id: str) -> dict[str, str]:
        ids = {
            e["id"] for e in node.audit_entries() if e["details"].get("request_id") == request_id
        }
        return {f.action: f.problem for f in node.reports.dpia_check() if f.audit_id in ids}

    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    FederatedExchange(a.kernel, transport).confirm(
        a.context(), ConfirmRequest(result.request_id, hit.reference, "same person")
    )
    mine, theirs = findings(a, result.request_id), findings(b, result.request_id)
    assert "cites no DPIA" in mine["federation.search"]
    assert "cites no DPIA" in mine["federation.confirm"]
    assert theirs["federation.answer.search"].startswith("answered partner A under A's policy v")
    assert theirs["federation.answer.search"].endswith(", which cites no DPIA")
    assert "which cites no DPIA" in theirs["federation.answer.confirm"]

    with pytest.raises(NotFoundError, match=r"DPIA 'DPIA-FED', which is not recorded"):
        b.partners.set_policy("A", policy_from({"galleries": ["custody"], "dpia": "DPIA-FED"}))
    for node in (a, b):
        node.dpias.add(
            "DPIA-FED",
            title="Prüm II facial image exchange",
            version="1",
            approved_on=date(2026, 1, 1),
            approver="DPO",
        )
    b.partners.set_policy(
        "A", policy_from({"galleries": ["custody"], "max_candidates": 5, "dpia": "DPIA-FED"})
    )
    covered = a.authorise(**AUTH, galleries=["custody"], dpia="DPIA-FED").id
    request = FederatedSearchRequest(probe, ("B",), covered, top=3)
    again = FederatedSearch(a.kernel, transport).search(a.context(), request)
    hit = again.partners[0].candidates[0]
    FederatedExchange(a.kernel, transport).confirm(
        a.context(), ConfirmRequest(again.request_id, hit.reference, "same person")
    )
    assert findings(a, again.request_id) == {}
    assert findings(b, again.request_id) == {}
    b.partners.set_policy("A", policy_from({"galleries": ["custody"], "max_candidates": 5}))


def test_erased_subject_is_never_released(federation) -> None:
    """Runs last: B erases the person; the references it gave lead to no one, nothing released."""
    from sqlalchemy import select

    from facetrail.store.federation_models import IssuedReference

    nodes, transport, probe = federation
    result = _search(nodes, transport, probe)
    hit = next(p for p in result.partners if p.partner == "B").candidates[0]
    nodes["B"].delete_subject("custody", PERSON, reason="acquitted: erase")
    with nodes["B"].kernel.reader() as session:
        refs = session.scalars(select(IssuedReference)).all()
        assert refs and all(r.subject_id is None for r in refs if r.score > 0.5)
    exchange = FederatedExchange(nodes["A"].kernel, transport)
    answer = exchange.confirm(
        nodes["A"].context(), ConfirmRequest(result.request_id, hit.reference, "same person")
    )
    assert answer.status == "refused" and "no longer held" in answer.reason
    assert answer.record is None
    again = _search(nodes, transport, probe)
    assert all(c.score < 0.5 for p in again.partners if p.partner == "B" for c in p.candidates)


def test_both_steps_with_the_answering_node_on_each_database(
    tmp_path: Path, faces_dir: Path, database_url: str
) -> None:
    """B on SQLite and on PostgreSQL: hit, release, replay refused, audit verifies."""
    people = person_images(faces_dir / "face_recognition")
    a = make_node(tmp_path, "A")
    b = make_node(tmp_path, "B", database_url=database_url)
    try:
        b.enrol(link_gallery(tmp_path / "photos", {PERSON: people[PERSON][:2]}), gallery="custody")
        register(a, b)
        register(b, a)
        transport = InProcessTransport({url_of("B"): b})
        authorisation = a.authorise(**AUTH, galleries=["custody"]).id
        result = FederatedSearch(a.kernel, transport).search(
            a.context(), FederatedSearchRequest(people[PERSON][2], ("B",), authorisation, top=2)
        )
        assert result.partners[0].status == "hit"
        first = b.answering.answer(transport.last)  # the same bytes again: a replay
        assert first.http_status == 401 and b"replayed" in first.signed.body
        reference = result.partners[0].candidates[0].reference
        answer = FederatedExchange(a.kernel, transport).confirm(
            a.context(), ConfirmRequest(result.request_id, reference, "same person")
        )
        assert answer.status == "released" and answer.record["subject"] == PERSON
        assert b.verify_audit().ok and a.verify_audit().ok
    finally:
        a.close()
        b.close()
