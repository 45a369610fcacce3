"""Federation messages: one canonical JSON body, signed over its exact bytes by the sender."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facetrail.errors import InvalidInputError
from facetrail.security.freshness import new_nonce
from facetrail.security.signing import SignatureError, sign, verify

VERSION = 1
KINDS = ("search", "search.answer", "confirm", "confirm.answer", "router.refusal")
ROUTER_SENDER = "router"  # who the router's own (signed) answers are from
MAX_BODY = 64 * 1024 * 1024
SENDER_HEADER = "x-facetrail-sender"
SIGNATURE_HEADER = "x-facetrail-signature"


@dataclass(frozen=True, slots=True)
class Message:
    """What one node says to another: kind, who to whom, when, a nonce, metadata, a record."""

    kind: str
    sender: str
    recipient: str
    request_id: str
    timestamp: str  # ISO 8601 UTC
    nonce: str
    meta: dict[str, Any] = field(default_factory=dict)  # never images or templates
    payload: bytes = field(default=b"", repr=False)  # an ANSI/NIST-ITL transaction
    in_reply_to: str | None = None  # the nonce of the message answered


@dataclass(frozen=True, slots=True)
class Signed:
    """The exact bytes sent, the sender they claim, and the signature over those bytes."""

    body: bytes = field(repr=False)
    sender: str
    signature: str | None

    def headers(self) -> dict[str, str]:
        """The HTTP headers that carry the sender and signature beside the body."""
        return {
            SENDER_HEADER: self.sender,
            SIGNATURE_HEADER: self.signature or "",
            "content-type": "application/json",
        }


def new_message(
    kind: str,
    sender: str,
    recipient: str,
    request_id: str,
    now: datetime,
    meta: dict[str, Any] | None = None,
    payload: bytes = b"",
    in_reply_to: str | None = None,
) -> Message:
    """A message stamped now with a fresh nonce."""
    return Message(
        kind=kind,
        sender=sender,
        recipient=recipient,
        request_id=request_id,
        timestamp=now.isoformat(timespec="microseconds"),
        nonce=new_nonce(),
        meta=dict(meta or {}),
        payload=payload,
        in_reply_to=in_reply_to,
    )


def encode(message: Message) -> bytes:
    """The canonical bytes of a message (sorted keys, no spaces, payload in base64)."""
    document = {
        "v": VERSION,
        "kind": message.kind,
        "from": message.sender,
        "to": message.recipient,
        "request_id": message.request_id,
        "timestamp": message.timestamp,
        "nonce": message.nonce,
        "in_reply_to": message.in_reply_to,
        "meta": message.meta,
        "payload": base64.b64encode(message.payload).decode(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(private_pem: bytes, message: Message) -> Signed:
    """The message encoded and signed by the sender's key."""
    body = encode(message)
    return Signed(body=body, sender=message.sender, signature=sign(private_pem, body))


def envelope_fields(body: bytes) -> dict[str, Any]:
    """The routing metadata of a body (never the payload), for routers and logs."""
    document = _document(body)
    meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
    return {
        "kind": document.get("kind"),
        "from": document.get("from"),
        "to": document.get("to"),
        "request_id": document.get("request_id"),
        "nonce": document.get("nonce"),
        "in_reply_to": document.get("in_reply_to"),
        "status": meta.get("status") if isinstance(meta, dict) else None,
        "hits": meta.get("hits") if isinstance(meta, dict) else None,
    }


def open_signed(signed: Signed, public_key_of: Callable[[str], str]) -> Message:
    """The message if its signature is the claimed sender's over the exact body; else refused.

    `public_key_of(name)` gives a registered partner's key, or raises if it has none.
    """
    if len(signed.body) > MAX_BODY:
        raise InvalidInputError(f"message of {len(signed.body)} bytes is over {MAX_BODY}")
    if not signed.sender:
        raise SignatureError("message names no sender: refused")
    if not signed.signature:
        raise SignatureError(f"unsigned message claiming to be from {signed.sender!r}: refused")
    verify(public_key_of(signed.sender), signed.body, signed.signature, signed.sender)
    message = decode(signed.body)
    if message.sender != signed.sender:
        raise SignatureError(
            f"message signed by {signed.sender!r} says it is from {message.sender!r}"
        )
    return message


def decode(body: bytes) -> Message:
    """A Message from canonical bytes, or InvalidInputError naming the bad field."""
    document = _document(body)
    if document.get("v") != VERSION:
        raise InvalidInputError(f"message version {document.get('v')!r}; this node speaks 1")
    text = {}
    for name in ("kind", "from", "to", "request_id", "timestamp", "nonce"):
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"message field {name!r} is missing or not text")
        text[name] = value
    if text["kind"] not in KINDS:
        raise InvalidInputError(f"unknown message kind {text['kind']!r}")
    meta = document.get("meta", {})
    if not isinstance(meta, dict):
        raise InvalidInputError("message field 'meta' is not an object")
    try:
        payload = base64.b64decode(document.get("payload", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidInputError("message payload is not base64") from None
    reply = document.get("in_reply_to")
    return Message(
        kind=text["kind"],
        sender=text["from"],
        recipient=text["to"],
        request_id=text["request_id"],
        timestamp=text["timestamp"],
        nonce=text["nonce"],
        meta=meta,
        payload=payload,
        in_reply_to=reply if isinstance(reply, str) else None,
    )


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError("message body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidInputError("message body is not a JSON object")
    return document
