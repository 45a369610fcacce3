"""Freshness of signed messages: timestamps inside a window, nonces that look random."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from facetrail.errors import AuthorisationError

MAX_SKEW = timedelta(minutes=5)  # how old (or early) a message may be
NONCE = re.compile(r"[0-9a-f]{32}")


class StaleMessageError(AuthorisationError):
    """A message outside the freshness window, or one already seen (a replay)."""

    http_status = 401


def new_nonce() -> str:
    """128 random bits as hex: never reused by an honest sender."""
    return secrets.token_hex(16)


def check_fresh(sent_at: str, now: datetime, window: timedelta = MAX_SKEW) -> datetime:
    """The message time if it is within `window` of `now`; else StaleMessageError."""
    try:
        moment = datetime.fromisoformat(sent_at)
    except (TypeError, ValueError):
        raise StaleMessageError(f"message timestamp {sent_at!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise StaleMessageError("message timestamp has no time zone")
    skew = now - moment
    if skew > window:
        raise StaleMessageError(
            f"stale message: sent {int(skew.total_seconds())} s ago, over the"
            f" {int(window.total_seconds())} s freshness window"
        )
    if -skew > window:
        raise StaleMessageError(
            f"message timestamp is {int(-skew.total_seconds())} s in the future"
        )
    return moment


def check_nonce(nonce: object) -> str:
    """The nonce if it is 32 lowercase hex digits; else StaleMessageError."""
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise StaleMessageError("message nonce missing or not 32 hex digits")
    return nonce
