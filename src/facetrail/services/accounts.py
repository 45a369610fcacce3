"""Looking up user accounts by name (shared by the account and authorisation use cases)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.store.oversight_models import User


def find_user(session: Session, name: str) -> User:
    """The user called `name`, or NotFoundError."""
    user = session.scalar(select(User).where(User.name == name.strip().lower()))
    if user is None:
        raise NotFoundError(f"user {name!r} does not exist")
    return user


def check_active_user(session: Session, name: str) -> None:
    """Refuse a user name that has no active account."""
    user = find_user(session, name)
    if not user.active:
        raise InvalidInputError(f"user {name!r} is disabled")
