"""The router's own answers (refusals, unreachable or silent nodes) are signed with its
Ed25519 key, and a node believes them only when they verify against that key and answer
exactly the message it sent."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from facetrail.security.messages import ROUTER_SENDER, Signed, new_message, open_signed, seal
from facetrail.security.signing import new_private_key, public_pem
from facetrail.services.federation_wire import FORWARD_PATH, is_from_router, router_answer
from facetrail.store.router_nodes import add_node, router_signing_key
from facetrail.store.types import utcnow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient warns about its httpx
    from fastapi.testclient import TestClient

from facetrail.interfaces.api.message_router import create_router_app


@pytest.fixture()
def router(tmp_path: Path) -> tuple[TestClient, bytes, str]:
    """A router home knowing node A (and B at a port nothing listens on)."""
    key = new_private_key()
    add_node(tmp_path, "A", "http://127.0.0.1:9", public_pem(key))
    add_node(tmp_path, "B", "http://127.0.0.1:9", public_pem(new_private_key()))
    _, router_public = router_signing_key(tmp_path)
    return TestClient(create_router_app(tmp_path, timeout=2.0)), key, router_public


def _send(client: TestClient, key: bytes, to: str, sender: str = "A") -> tuple[object, Signed]:
    message = new_message("search", sender, to, "req-1", utcnow(), {"max_candidates": 3})
    sealed = seal(key, message)
    response = client.post(FORWARD_PATH + to, content=sealed.body, headers=sealed.headers())
    answer = Signed(
        response.content,
        response.headers.get("x-facetrail-sender", ""),
        response.headers.get("x-facetrail-signature"),
    )
    return (response.status_code, message), answer


def test_refusal_for_an_unknown_destination_is_signed_by_the_router(router) -> None:
    client, key, router_public = router
    (status, sent), answer = _send(client, key, "Z")
    assert status == 404 and answer.sender == ROUTER_SENDER and answer.signature
    message = open_signed(answer, lambda _name: router_public)
    assert message.kind == "router.refusal" and message.in_reply_to == sent.nonce
    assert message.recipient == "A" and message.request_id == "req-1"
    assert message.meta["status"] == "refused" and "no node 'Z'" in message.meta["reason"]
    said = router_answer(answer, router_public, sent, utcnow())
    assert said.status == "refused" and "no node 'Z' behind this router" in said.reason
    assert is_from_router(answer, "http://router") and not is_from_router(answer, None)


def test_unregistered_sender_and_bad_signature_are_refused_signed(router) -> None:
    client, _, router_public = router
    (status, sent), answer = _send(client, new_private_key(), "B", sender="X")
    assert status == 403
    assert router_answer(answer, router_public, sent, utcnow()).status == "refused"
    (status, sent), answer = _send(client, new_private_key(), "B")  # A's name, wrong key
    assert status == 401
    said = router_answer(answer, router_public, sent, utcnow())
    assert said.status == "refused" and said.reason.startswith("router: ")


def test_unreachable_node_is_the_routers_signed_error(router) -> None:
    client, key, router_public = router
    (status, sent), answer = _send(client, key, "B")
    assert status == 502
    said = router_answer(answer, router_public, sent, utcnow())
    assert said.status == "error" and "B unreachable" in said.reason


def test_a_node_believes_only_a_verified_answer_to_its_own_message(router) -> None:
    client, key, router_public = router
    (_, sent), answer = _send(client, key, "Z")
    unverifiable = router_answer(answer, None, sent, utcnow())
    assert unverifiable.status == "error" and "--router-key" in unverifiable.reason
    other_key = public_pem(new_private_key())
    forged = router_answer(answer, other_key, sent, utcnow())
    assert forged.status == "error" and "unverified" in forged.reason
    tampered = Signed(answer.body.replace(b"refused", b"no_hit!"), answer.sender, answer.signature)
    assert router_answer(tampered, router_public, sent, utcnow()).status == "error"
    another = new_message("search", "A", "Z", "req-1", utcnow())  # not the message answered
    replayed = router_answer(answer, router_public, another, utcnow())
    assert replayed.status == "error" and "other than our message" in replayed.reason


def test_router_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    private, public = router_signing_key(tmp_path)
    assert router_signing_key(tmp_path) == (private, public)
    assert (tmp_path / "router-key.pem").stat().st_mode & 0o077 == 0
    assert "PUBLIC KEY" in public
