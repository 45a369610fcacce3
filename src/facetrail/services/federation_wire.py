"""Shared federation steps: this node, partner look-up, checking incoming messages, transport."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facetrail.errors import AuthorisationError, FacetrailError, InvalidInputError, NotFoundError
from facetrail.security.freshness import MAX_SKEW, StaleMessageError, check_fresh, check_nonce
from facetrail.security.messages import (
    ROUTER_SENDER,
    SENDER_HEADER,
    SIGNATURE_HEADER,
    Message,
    Signed,
    open_signed,
)
from facetrail.security.tls import pinned_context
from facetrail.services.federation_policy import Policy, policy_from
from facetrail.store.federation_models import Partner, PartnerPolicy, SeenNonce

MESSAGES_PATH = "/federation/v1/messages"
FORWARD_PATH = "/router/v1/forward/"


class UnknownPartnerError(AuthorisationError):
    """A message from, or a call to, a node that is not (or no longer) a partner."""

    http_status = 403


class TransportTimeout(FacetrailError):
    """The partner did not answer within the bound."""

    http_status = 504


class TransportFailure(FacetrailError):
    """The partner could not be reached or answered with something that is not a message."""

    http_status = 502


def find_partner(session: Session, name: str, *, active: bool = True) -> Partner:
    """A registered partner; with `active`, refuses a removed one (naming when)."""
    partner = session.scalar(select(Partner).where(Partner.name == name))
    if partner is None:
        raise UnknownPartnerError(f"{name!r} is not a registered partner of this node")
    if active and not partner.active:
        when = f" on {partner.removed_at:%Y-%m-%d %H:%M}" if partner.removed_at else ""
        raise UnknownPartnerError(f"partner {name!r} was removed{when}: refused")
    return partner


def current_policy(session: Session, partner: Partner) -> tuple[int, Policy]:
    """The version number and rules of the partner's policy in force."""
    row = session.scalar(
        select(PartnerPolicy)
        .where(PartnerPolicy.partner_id == partner.id)
        .order_by(PartnerPolicy.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFoundError(f"partner {partner.name!r} has no policy")
    return row.version, policy_from(row.policy, f"policy v{row.version} of {partner.name}")


def key_lookup(session: Session) -> Callable[[str], str]:
    """`name -> public key` over active partners, refusing unknown and removed ones."""
    return lambda name: find_partner(session, name).public_key


def check_incoming(session: Session, signed: Signed, me: str, now: datetime) -> Message:
    """The message if signed by an active partner, addressed to us, fresh and not replayed.

    The nonce is recorded in the caller's transaction: the same message again is refused.
    """
    message = open_signed(signed, key_lookup(session))
    if message.recipient != me:
        raise AuthorisationError(f"message for {message.recipient!r} reached {me!r}: refused")
    check_fresh(message.timestamp, now)
    record_nonce(session, message.sender, check_nonce(message.nonce), now)
    return message


def record_nonce(session: Session, sender: str, nonce: str, now: datetime) -> None:
    """Remember a nonce (forgetting those older than twice the window); refuse a replay."""
    session.execute(delete(SeenNonce).where(SeenNonce.seen_at < now - 2 * MAX_SKEW))
    seen = session.scalar(
        select(SeenNonce.id).where(SeenNonce.sender == sender, SeenNonce.nonce == nonce)
    )
    if seen is not None:
        raise StaleMessageError(f"replayed message: nonce {nonce} from {sender!r} already seen")
    try:
        with session.begin_nested():
            session.add(SeenNonce(sender=sender, nonce=nonce, seen_at=now))
            session.flush()
    except IntegrityError:
        raise StaleMessageError(
            f"replayed message: nonce {nonce} from {sender!r} already seen"
        ) from None


def check_reply(reply: Message, sent: Message, kind: str, now: datetime) -> Message:
    """The partner's answer if it answers exactly what we sent, and is fresh."""
    if reply.kind != kind or reply.in_reply_to != sent.nonce:
        raise AuthorisationError(f"{sent.recipient} answered something other than our {sent.kind}")
    if reply.request_id != sent.request_id or reply.recipient != sent.sender:
        raise AuthorisationError(f"{sent.recipient}'s answer is for another request or node")
    check_fresh(reply.timestamp, now, MAX_SKEW + timedelta(minutes=1))
    return reply


@dataclass(frozen=True, slots=True)
class RouterAnswer:
    """What the router itself answered (verified with its key): status and reason."""

    status: str  # refused | timeout | error
    reason: str


def is_from_router(signed: Signed, via_router: str | None) -> bool:
    """Whether an answer claims to be the router's own (only when we sent through one)."""
    return bool(via_router) and signed.sender == ROUTER_SENDER


def router_answer(
    signed: Signed, router_key: str | None, sent: Message, now: datetime
) -> RouterAnswer:
    """The router's signed answer to `sent`, checked; an unverifiable one is an error.

    Without the router's key (`--router-key`) nothing it says can be trusted: the answer
    is reported as an error that says so, never as the partner's refusal.
    """
    if not router_key:
        return RouterAnswer(
            "error",
            "the router answered instead of the partner, but its answer cannot be verified:"
            " give the router's key (--router-key, from `facetrail router key`)",
        )
    try:
        message = open_signed(signed, lambda _name: router_key)
        if message.kind != "router.refusal" or message.in_reply_to != sent.nonce:
            raise AuthorisationError("the router answered something other than our message")
        if message.request_id != sent.request_id or message.recipient != sent.sender:
            raise AuthorisationError("the router's answer is for another request or node")
        check_fresh(message.timestamp, now, MAX_SKEW + timedelta(minutes=1))
    except FacetrailError as error:
        return RouterAnswer("error", f"unverified answer claiming to be the router's: {error}")
    status = str(message.meta.get("status") or "error")
    if status not in ("refused", "timeout", "error"):
        status = "error"
    return RouterAnswer(status, str(message.meta.get("reason") or "router: refused"))


def pin_for(
    partner: Partner, via_router: str | None, router_certificate: bytes | None = None
) -> bytes | None:
    """The certificate to pin on the first hop: the router's, or else the partner's."""
    if via_router:
        if via_router.startswith("https://") and not router_certificate:
            raise InvalidInputError(
                "an https router needs its certificate to pin: --router-certificate FILE"
                " (`facetrail router certificate --home R`)"
            )
        return router_certificate
    return partner.tls_certificate.encode() if partner.tls_certificate else None


def destination(partner: Partner, via_router: str | None) -> str:
    """Where to POST a message for `partner`: its own URL, or the router's forward URL."""
    if via_router:
        return via_router.rstrip("/") + FORWARD_PATH + partner.name
    return partner.url.rstrip("/") + MESSAGES_PATH


class Transport(Protocol):
    """Delivers one signed message and returns the signed answer (or raises)."""

    def send(
        self, url: str, message: Signed, timeout: float, pin: bytes | None = None
    ) -> Signed: ...


@dataclass(frozen=True, slots=True)
class HttpTransport:
    """Messages as HTTP POSTs (the body is the exact signed bytes; headers carry the rest)."""

    def send(self, url: str, message: Signed, timeout: float, pin: bytes | None = None) -> Signed:
        """POST and return the answer; TransportTimeout past `timeout` seconds.

        `pin`: the only certificate an https partner may present (self-signed, pinned).
        """
        verify: ssl.SSLContext | bool = pinned_context(pin) if pin else True
        try:
            response = httpx.post(
                url,
                content=message.body,
                headers=message.headers(),
                timeout=timeout,
                verify=verify,
            )
        except httpx.TimeoutException:
            raise TransportTimeout(f"no answer within {timeout:g} s") from None
        except httpx.HTTPError as error:
            raise TransportFailure(f"unreachable: {type(error).__name__}") from None
        sender = response.headers.get(SENDER_HEADER)
        if not sender:
            raise TransportFailure(
                f"HTTP {response.status_code} without a signed answer"
                f" ({response.text[:200].strip()})"
            )
        return Signed(response.content, sender, response.headers.get(SIGNATURE_HEADER))
