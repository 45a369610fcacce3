"""Turning a user name and token into the caller's Context (and re-checking it)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.core.access import PermissionDeniedError
from facetrail.core.context import TOKEN, Context
from facetrail.security.passwords import TOKENS, matches
from facetrail.store.models import AuditEntry
from facetrail.store.oversight_models import ApiToken, User
from facetrail.store.row_seals import RowTamperedError, check_row
from facetrail.store.types import utcnow

TOKEN_PREFIX = "ft"
# Token ids are database integers; anything longer is malformed, not an overflow.
MAX_TOKEN_ID_DIGITS = 18


def accounts_exist(session: Session) -> bool:
    """Whether the home has any user account (if not, it is a single-operator home)."""
    return session.scalar(select(func.count(User.id))) != 0


def token_parts(token: str) -> tuple[int, str]:
    """(token id, secret) of an `ft_<id>_<secret>` token; refuses anything else."""
    prefix, _, rest = token.strip().partition("_")
    token_id, _, secret = rest.partition("_")
    if (
        prefix != TOKEN_PREFIX
        or not (token_id.isascii() and token_id.isdigit())  # "²".isdigit(), int("²") fails
        or len(token_id) > MAX_TOKEN_ID_DIGITS
        or not secret
    ):
        raise PermissionDeniedError("the token is malformed (expected ft_<id>_<secret>)")
    return int(token_id), secret


def check_token_current(record: ApiToken) -> None:
    """Refuse a revoked or expired token, or one whose user is disabled."""
    if record.revoked_at is not None:
        raise PermissionDeniedError(f"token {record.id} was revoked")
    if record.expires_at <= utcnow():
        raise PermissionDeniedError(
            f"token {record.id} expired on {record.expires_at:%Y-%m-%d}; get a new one"
        )
    if not record.user.active:
        raise PermissionDeniedError(f"user {record.user.name!r} is disabled")


def context_of(record: ApiToken, request_id: str | None = None) -> Context:
    """The Context of the user holding a (checked) token."""
    user = record.user
    extra = {"request_id": request_id} if request_id else {}
    return Context(
        actor=user.name,
        role=user.role,
        rank=user.rank,
        display_name=user.display_name,
        auth_method=TOKEN,
        token_id=record.id,
        **extra,
    )


def authenticate(session: Session, name: str | None, token: str | None) -> Context:
    """The Context of user `name` holding `token`; PermissionDeniedError if not valid."""
    if not name or not token:
        authenticate_required()
    token_id, secret = token_parts(token)
    record = session.get(ApiToken, token_id)
    refused = PermissionDeniedError(f"token is not valid for user {name!r}")
    if record is None or record.user.name != name.strip().lower():
        raise refused
    if not matches(TOKENS, record.token_hash, secret):
        raise refused
    check_token_current(record)
    check_sealed(session, record)
    return context_of(record)


# (token id, SHA-256 of the secret) -> the stored hash it was verified against: a server
# checks the same token on every request, and the Argon2 check costs ~10 ms each time.
# The record is still read (and revocation, expiry, a disabled user checked) every time.
_verified: dict[tuple[int, str], str] = {}
_VERIFIED_MAX = 4096


def _secret_matches(record: ApiToken, secret: str) -> bool:
    key = (record.id, hashlib.sha256(secret.encode()).hexdigest())
    if _verified.get(key) == record.token_hash:
        return True
    if not matches(TOKENS, record.token_hash, secret):
        return False
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[key] = record.token_hash
    return True


def authenticate_token(session: Session, token: str, request_id: str | None = None) -> Context:
    """The Context of whoever holds `token` (it names its id); PermissionDeniedError if not."""
    token_id, secret = token_parts(token)
    record = session.get(ApiToken, token_id)
    if record is None or not _secret_matches(record, secret):
        raise PermissionDeniedError("the token is not valid")
    check_token_current(record)
    return context_of(record, request_id)


def failed_sign_ins(session: Session, name: str, since: datetime) -> int:
    """How many password sign-ins for `name` were refused since `since` (from the audit trail)."""
    return int(
        session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "users.token",
                AuditEntry.outcome == "refused",
                func.lower(AuditEntry.target) == name.strip().lower(),
                AuditEntry.occurred_at >= since,
            )
        )
        or 0
    )


def refresh(session: Session, context: Context) -> Context:
    """The same caller re-checked now: token still current, role and rank as recorded."""
    if context.token_id is None:
        raise PermissionDeniedError(f"{context.actor!r} is not signed in with a token")
    record = session.get(ApiToken, context.token_id)
    if record is None or record.user.name != context.actor:
        raise PermissionDeniedError(f"token is not valid for user {context.actor!r}")
    check_token_current(record)
    check_sealed(session, record)
    return context_of(record, context.request_id)


def check_sealed(session: Session, record: ApiToken) -> None:
    """Refuse a token or user row changed outside facetrail (its MAC does not match)."""
    try:
        check_row(session, ApiToken, record.id)
        check_row(session, User, record.user_id)
    except RowTamperedError as error:
        raise PermissionDeniedError(str(error)) from None


def authenticate_required() -> NoReturn:
    """Refuse a caller who is not signed in, in a home that has accounts."""
    raise PermissionDeniedError(
        "this home has user accounts: act as a user with --user NAME (or $FACETRAIL_USER)"
        " and a token in $FACETRAIL_TOKEN (get one with `facetrail users token NAME`)"
    )
