"""Every refusal of a partner message: clear reason, signed answer, audited on the refusing side.

Real homes (SQLite), real keys and signatures; the messages are refused before any model
runs, so no models load here (the searches that do run are in tests/integration).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from facetrail.errors import NotFoundError
from facetrail.facade import Facetrail
from facetrail.security.messages import Signed, decode, new_message, seal
from facetrail.security.signing import new_private_key
from facetrail.services.federated_exchange import ConfirmRequest
from facetrail.services.federated_search import probe_transaction
from facetrail.store.node_identity import load_identity
from facetrail.store.types import utcnow
from tests.federation_support import make_node, register


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Facetrail]]:
    a, b = make_node(tmp_path, "A"), make_node(tmp_path, "B")
    register(a, b)
    register(b, a, max_candidates=5, offence_categories=["burglary"])
    yield {"A": a, "B": b}
    a.close()
    b.close()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def _search(a: Facetrail, **meta: Any) -> Any:
    identity = load_identity(a.kernel.home)
    fields = {"galleries": [], "offence_category": "burglary", "purpose": "p", "max_candidates": 3}
    fields.update(meta)
    payload = probe_transaction(_jpeg(), identity, "B", "req-1")
    return new_message("search", "A", "B", "req-1", utcnow(), fields, payload)


def _ask(b: Facetrail, signed: Signed) -> tuple[int, dict[str, Any]]:
    answer = b.answering.answer(signed)
    reply = decode(answer.signed.body)
    assert reply.sender == "B" and reply.recipient == "A"
    return answer.http_status, reply.meta


def _last_refusal(node: Facetrail) -> dict[str, Any]:
    entry = [e for e in node.audit_entries() if e["action"].startswith("federation.answer")][-1]
    assert entry["outcome"] == "refused", entry
    assert entry["details"]["request_id"] == "req-1"
    assert entry["actor"] == "partner:A"
    return entry


def _key(a: Facetrail) -> bytes:
    return load_identity(a.kernel.home).private_key


def test_unsigned_request_is_refused(nodes: dict[str, Facetrail]) -> None:
    signed = seal(_key(nodes["A"]), _search(nodes["A"]))
    status, meta = _ask(nodes["B"], Signed(signed.body, "A", None))
    assert status == 401 and meta["status"] == "refused" and "unsigned" in meta["reason"]
    assert "unsigned" in _last_refusal(nodes["B"])["details"]["reason"]


def test_wrong_key_is_refused(nodes: dict[str, Facetrail]) -> None:
    status, meta = _ask(nodes["B"], seal(new_private_key(), _search(nodes["A"])))
    assert status == 401 and "not signed with 'A'" in meta["reason"]
    assert "bad signature" in _last_refusal(nodes["B"])["details"]["reason"]


def test_replayed_nonce_is_refused(nodes: dict[str, Facetrail]) -> None:
    signed = seal(_key(nodes["A"]), _search(nodes["A"], galleries=["elsewhere"]))
    _, first = _ask(nodes["B"], signed)
    assert "outside" in first["reason"]  # answered (refused by policy), nonce now spent
    status, again = _ask(nodes["B"], signed)
    assert status == 401 and "replayed" in again["reason"]
    assert "replayed" in _last_refusal(nodes["B"])["details"]["reason"]


def test_stale_timestamp_is_refused(nodes: dict[str, Facetrail]) -> None:
    message = _search(nodes["A"])
    old = new_message(
        "search", "A", "B", "req-1", utcnow() - timedelta(minutes=10), message.meta, message.payload
    )
    status, meta = _ask(nodes["B"], seal(_key(nodes["A"]), old))
    assert status == 401 and "stale" in meta["reason"]
    assert "stale" in _last_refusal(nodes["B"])["details"]["reason"]


def test_gallery_outside_policy_is_refused(nodes: dict[str, Facetrail]) -> None:
    nodes["B"].create_gallery("licences")
    status, meta = _ask(
        nodes["B"], seal(_key(nodes["A"]), _search(nodes["A"], galleries=["licences"]))
    )
    assert status == 403 and "gallery licences is outside A's policy" in meta["reason"]
    _last_refusal(nodes["B"])


def test_more_candidates_than_policy_allows_is_refused(nodes: dict[str, Facetrail]) -> None:
    status, meta = _ask(nodes["B"], seal(_key(nodes["A"]), _search(nodes["A"], max_candidates=6)))
    assert status == 403 and "allows at most 5" in meta["reason"]
    _last_refusal(nodes["B"])


def test_offence_category_not_accepted_is_refused(nodes: dict[str, Facetrail]) -> None:
    _, meta = _ask(
        nodes["B"], seal(_key(nodes["A"]), _search(nodes["A"], offence_category="fraud"))
    )
    assert "offence category 'fraud' is not accepted" in meta["reason"]


def test_unknown_partner_is_refused(nodes: dict[str, Facetrail], tmp_path: Path) -> None:
    stranger = make_node(tmp_path, "X")
    message = new_message("search", "X", "B", "req-1", utcnow(), {}, b"")
    status, meta = _ask_from(
        nodes["B"], seal(load_identity(stranger.kernel.home).private_key, message)
    )
    stranger.close()
    assert status == 403 and "not a registered partner" in meta["reason"]


def _ask_from(b: Facetrail, signed: Signed) -> tuple[int, dict[str, Any]]:
    answer = b.answering.answer(signed)
    return answer.http_status, decode(answer.signed.body).meta


def test_step2_without_step1_is_refused(nodes: dict[str, Facetrail]) -> None:
    confirm = new_message(
        "confirm",
        "A",
        "B",
        "req-1",
        utcnow(),
        {"reference": "B-NOSUCHREF", "note": "same ears", "examiner": "PC A"},
    )
    status, meta = _ask(nodes["B"], seal(_key(nodes["A"]), confirm))
    assert status == 403 and "step 2 needs a confirmed step-1 hit" in meta["reason"]
    assert _last_refusal(nodes["B"])["action"] == "federation.answer.confirm"


def test_partner_removed_is_refused(nodes: dict[str, Facetrail]) -> None:
    nodes["B"].partners.remove("A", "agreement ended")
    confirm = new_message(
        "confirm",
        "A",
        "B",
        "req-1",
        utcnow(),
        {"reference": "B-ANY", "note": "same ears", "examiner": "PC A"},
    )
    status, meta = _ask(nodes["B"], seal(_key(nodes["A"]), confirm))
    assert status == 403 and "partner 'A' was removed" in meta["reason"]
    _last_refusal(nodes["B"])


def test_message_for_another_node_is_refused(nodes: dict[str, Facetrail]) -> None:
    message = new_message("search", "A", "C", "req-1", utcnow(), {}, b"")
    _, meta = _ask_from(nodes["B"], seal(_key(nodes["A"]), message))
    assert "message for 'C' reached 'B'" in meta["reason"]


def test_requesting_side_refuses_step2_without_its_own_step1(nodes: dict[str, Facetrail]) -> None:
    with pytest.raises(NotFoundError, match="no federated search"):
        nodes["A"].exchanges.confirm(ConfirmRequest("never-made", "B-X", "looks alike"))
    entry = nodes["A"].audit_entries()[-1]
    assert entry["action"] == "federation.confirm" and entry["outcome"] == "failed"


def test_audit_chains_still_verify(nodes: dict[str, Facetrail]) -> None:
    _ask(nodes["B"], seal(new_private_key(), _search(nodes["A"])))
    assert nodes["B"].verify_audit().ok and nodes["A"].verify_audit().ok


def test_a_home_with_accounts_still_answers_partners(nodes: dict[str, Facetrail]) -> None:
    """Partners are authenticated by signature: user accounts at B change nothing for them."""
    nodes["B"].users.bootstrap("admin", "a long enough password")
    status, meta = _ask(nodes["B"], seal(_key(nodes["A"]), _search(nodes["A"], max_candidates=6)))
    assert status == 403 and "allows at most 5" in meta["reason"]  # the policy, not access
