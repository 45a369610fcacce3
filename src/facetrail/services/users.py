"""User accounts: argon2-hashed passwords, API tokens, and who is acting."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from facetrail.core.access import (
    ADMINISTRATOR,
    AUDITOR,
    AUTHORISING_OFFICER,
    PermissionDeniedError,
    declare,
    normalise_role,
    requires,
)
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.identity import TOKEN_PREFIX, accounts_exist
from facetrail.core.kernel import Kernel
from facetrail.errors import ConflictError, InvalidInputError, NotFoundError
from facetrail.security.passwords import PASSWORDS, TOKENS
from facetrail.services.accounts import check_active_user, find_user
from facetrail.store.oversight_models import ApiToken, User
from facetrail.store.types import utcnow

USERS_MANAGE = declare(
    "users.manage", "create and disable users, revoke their tokens", (ADMINISTRATOR,)
)
USERS_READ = declare("users.read", "list users", (AUDITOR, ADMINISTRATOR))


MIN_PASSWORD_LENGTH = 12
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366
TOKEN_SECRET_BYTES = 32
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def validate_password(password: str) -> None:
    """Refuse short passwords, naming the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    *,
    name: str,
    role: str,
    password: str,
    display_name: str = "",
    rank: str = "",
    created_by: str,
) -> User:
    """Add a user with an argon2id password hash."""
    cleaned = name.strip().lower()
    if not USER_NAME.match(cleaned):
        raise InvalidInputError(
            f"user name {name!r} must be 1-100 of a-z, 0-9, '.', '_' or '-' (starting a-z/0-9)"
        )
    canonical_role = normalise_role(role)
    validate_password(password)
    if session.scalar(select(User).where(User.name == cleaned)) is not None:
        raise ConflictError(f"user {cleaned!r} already exists")
    user = User(
        name=cleaned,
        role=canonical_role,
        rank=rank.strip(),
        display_name=display_name.strip() or cleaned,
        password_hash=PASSWORDS.hash(password),
        active=True,
        created_by=created_by,
    )
    session.add(user)
    session.flush()
    return user


BOOTSTRAP_LOCK_KEY = 0x0FACE7B00  # names the advisory lock that serialises bootstraps


def bootstrap(session: Session, *, name: str, password: str, display_name: str = "") -> User:
    """Create the first administrator; refused once any account exists.

    Concurrent bootstraps are serialised (PostgreSQL advisory lock; SQLite's BEGIN
    IMMEDIATE), so exactly one of them creates an administrator.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOTSTRAP_LOCK_KEY})
    if accounts_exist(session):
        raise PermissionDeniedError(
            "this home already has user accounts; an administrator creates new ones"
            " (facetrail users create)"
        )
    return create_user(
        session,
        name=name,
        role=ADMINISTRATOR,
        password=password,
        display_name=display_name,
        created_by="bootstrap",
    )


def issue_token(
    session: Session, user: User, *, label: str = "", days: int = DEFAULT_TOKEN_DAYS
) -> tuple[ApiToken, str]:
    """A new token for `user`: the record and the secret string (shown once, never stored)."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInputError(f"token lifetime must be 1-{MAX_TOKEN_DAYS} days, got {days}")
    secret = secrets.token_urlsafe(TOKEN_SECRET_BYTES)
    record = ApiToken(
        user_id=user.id,
        token_hash=TOKENS.hash(secret),
        label=label,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(record)
    session.flush()
    return record, f"{TOKEN_PREFIX}_{record.id}_{secret}"


def login(
    session: Session, *, name: str, password: str, label: str = "", days: int = DEFAULT_TOKEN_DAYS
) -> tuple[User, ApiToken, str]:
    """Check a user's password and issue them a token."""
    user = session.scalar(select(User).where(User.name == name.strip().lower()))
    refused = PermissionDeniedError(f"wrong user name or password for {name!r}")
    if user is not None and user.pending_approval:
        raise PermissionDeniedError(
            f"account {user.name!r} awaits a second administrator's approval"
            " (facetrail users approve)"
        )
    if user is None or not user.active:
        raise refused
    try:
        PASSWORDS.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise refused from None
    if PASSWORDS.check_needs_rehash(user.password_hash):
        user.password_hash = PASSWORDS.hash(password)
    record, token = issue_token(session, user, label=label, days=days)
    return user, record, token


def disable_user(session: Session, name: str) -> User:
    """Disable a user and revoke all their tokens (records stay for the audit trail)."""
    user = find_user(session, name)
    user.active = False
    for record in user.tokens:
        if record.revoked_at is None:
            record.revoked_at = utcnow()
    session.flush()
    return user


SECOND_APPROVAL_ROLES = (ADMINISTRATOR, AUTHORISING_OFFICER)


def needs_second_approval(session: Session, role: str) -> bool:
    """Whether a new account of `role` waits for a second administrator: powerful roles,
    once the home has two active administrators (so one alone cannot mint them)."""
    if role not in SECOND_APPROVAL_ROLES:
        return False
    admins = session.scalar(
        select(func.count(User.id)).where(User.role == ADMINISTRATOR, User.active.is_(True))
    )
    return (admins or 0) >= 2


class UserInfo(BaseModel):
    name: str
    display_name: str
    role: str
    rank: str
    active: bool
    created_by: str
    created_at: datetime
    pending_approval: bool = False  # awaits a second administrator (then inactive)


class IssuedToken(BaseModel):
    user: str
    role: str
    token_id: int
    token: str = Field(description="shown once; facetrail keeps only its hash")
    expires_at: datetime


def user_info(user: User) -> UserInfo:
    """The public view of an account (never its hashes)."""
    return UserInfo(
        name=user.name,
        display_name=user.display_name,
        role=user.role,
        rank=user.rank,
        active=user.active,
        created_by=user.created_by,
        created_at=user.created_at,
        pending_approval=user.pending_approval,
    )


class UserService:
    """Account use cases: bootstrap, create, list, disable, tokens (each audited)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def bootstrap(
        self, context: Context, name: str, password: str, display_name: str = ""
    ) -> IssuedToken:
        """Create the first administrator and their first token; from then on calls are checked.

        Allowed only while the home has no account (it ends single-operator mode).
        """
        self.kernel.check_writable()
        with self.kernel.database.transaction() as session:
            user = bootstrap(session, name=name, password=password, display_name=display_name)
            record, token = issue_token(session, user, label="bootstrap")
            append_audit(
                session,
                actor=context.actor,
                action="users.bootstrap",
                outcome="ok",
                target=user.name,
                details={"role": user.role, "token_id": record.id},
            )
            return IssuedToken(
                user=user.name,
                role=user.role,
                token_id=record.id,
                token=token,
                expires_at=record.expires_at,
            )

    @requires(USERS_MANAGE)
    def create(
        self,
        context: Context,
        name: str,
        *,
        role: str,
        password: str,
        display_name: str = "",
        rank: str = "",
    ) -> UserInfo:
        """Add an account (administrators only)."""
        with self.kernel.database.transaction() as session:
            pending = needs_second_approval(session, normalise_role(role))
            user = create_user(
                session,
                name=name,
                role=role,
                password=password,
                display_name=display_name,
                rank=rank,
                created_by=context.actor,
            )
            if pending:
                user.active, user.pending_approval = False, True
                session.flush()
            append_audit(
                session,
                actor=context.actor,
                action="users.create",
                outcome="ok",
                target=user.name,
                details={
                    "role": user.role,
                    "rank": user.rank,
                    "pending_approval": user.pending_approval,
                },
            )
            return user_info(user)

    @requires(USERS_MANAGE)
    def approve(self, context: Context, name: str) -> UserInfo:
        """Approve a pending administrator / authorising officer account (not its creator)."""
        with self.kernel.database.transaction() as session:
            user = find_user(session, name)
            if not user.pending_approval:
                raise InvalidInputError(f"account {user.name!r} awaits no approval")
            if context.actor == user.created_by:
                raise PermissionDeniedError(
                    f"{context.actor!r} created {user.name!r}: a second administrator must"
                    " approve it"
                )
            user.active, user.pending_approval = True, False
            session.flush()
            append_audit(
                session,
                actor=context.actor,
                action="users.approve",
                outcome="ok",
                target=user.name,
                details={"role": user.role, "created_by": user.created_by},
            )
            return user_info(user)

    @requires(USERS_READ)
    def list(self, context: Context) -> list[UserInfo]:
        """Every account, by name."""
        with self.kernel.database.reader() as session:
            return [user_info(u) for u in session.scalars(select(User).order_by(User.name))]

    @requires(USERS_MANAGE)
    def disable(self, context: Context, name: str, reason: str) -> UserInfo:
        """Disable an account and revoke its tokens (administrators only)."""
        if not reason.strip():
            raise InvalidInputError("disabling a user needs a reason")
        with self.kernel.database.transaction() as session:
            user = disable_user(session, name)
            append_audit(
                session,
                actor=context.actor,
                action="users.disable",
                outcome="ok",
                target=user.name,
                details={"reason": reason},
            )
            return user_info(user)

    def token(
        self,
        context: Context,
        name: str,
        password: str,
        *,
        label: str = "",
        days: int = DEFAULT_TOKEN_DAYS,
    ) -> IssuedToken:
        """Sign in with a password: a new API token for that user (failures are audited)."""
        self.kernel.check_writable()
        try:
            with self.kernel.database.transaction() as session:
                user, record, token = login(
                    session, name=name, password=password, label=label, days=days
                )
                append_audit(
                    session,
                    actor=user.name,
                    action="users.token",
                    outcome="ok",
                    target=user.name,
                    details={"token_id": record.id, "label": label, "days": days},
                )
                return IssuedToken(
                    user=user.name,
                    role=user.role,
                    token_id=record.id,
                    token=token,
                    expires_at=record.expires_at,
                )
        except PermissionDeniedError as error:
            with self.kernel.database.transaction() as session:
                append_audit(
                    session,
                    actor=name,
                    action="users.token",
                    outcome="refused",
                    target=name,
                    details={"reason": str(error)},
                )
            raise

    @requires(USERS_MANAGE)
    def revoke_token(self, context: Context, token_id: int, reason: str) -> None:
        """Revoke one API token (administrators only)."""
        with self.kernel.database.transaction() as session:
            record = session.get(ApiToken, token_id)
            if record is None:
                raise NotFoundError(f"token {token_id} does not exist")
            record.revoked_at = record.revoked_at or utcnow()
            append_audit(
                session,
                actor=context.actor,
                action="users.revoke_token",
                outcome="ok",
                target=record.user.name,
                details={"token_id": token_id, "reason": reason},
            )

    def whoami(self, context: Context) -> dict[str, str | None]:
        """Who the calls run as: the signed-in user and role, or the single operator."""
        if not context.signed_in:
            return {"user": context.actor, "role": None, "mode": "single-operator"}
        return {"user": context.actor, "role": context.role, "mode": "accounts"}

    @staticmethod
    def check_exists(session: Session, name: str) -> None:
        """Refuse a user name that has no active account."""
        check_active_user(session, name)
