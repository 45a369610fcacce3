"""Both federation steps between real homes in one process: real models, faces, keys, records.

A searches B and C: B holds the person and answers a hit with references and scores only;
C's policy refuses the offence category. A's examiner confirms; B releases the Type-10
image with its provenance (automatically, or after an officer's approval).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from facetrail.errors import AuthorisationError
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
