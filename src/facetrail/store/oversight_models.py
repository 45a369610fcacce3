"""Oversight records: users, API tokens, DPIAs, deletion requests, retention policies, audit head.

A home with no rows in `users` is a single-operator home (no access control); once the
first administrator is created (`facetrail users bootstrap`) every service call is checked.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facetrail.store.models import Base, BigId
from facetrail.store.types import UTCDateTime, utcnow


class User(Base):
    """A person who acts on facetrail, with one role and an argon2-hashed password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(50))
    rank: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A new administrator or authorising officer waits for a second administrator.
    pending_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiToken(Base):
    """A bearer token for one user; only its argon2 hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Dpia(Base):
    """A data protection impact assessment that operations can cite by reference."""

    __tablename__ = "dpias"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(50))
    approved_on: Mapped[date] = mapped_column(Date)
    approver: Mapped[str] = mapped_column(String(200))
    review_by: Mapped[date | None] = mapped_column(Date, nullable=True)
    withdrawn_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeletionRequest(Base):
    """A request to erase a subject's images, and the decision taken on it."""

    __tablename__ = "deletion_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gallery: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    requester: Mapped[str] = mapped_column(Text)
    grounds: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|granted|refused
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    officer_rank: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    images_deleted: Mapped[int] = mapped_column(Integer, default=0)


class RetentionPolicy(Base):
    """How many days images are kept, for a gallery or for a legal basis."""

    __tablename__ = "retention_policies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # gallery | legal_basis
    key: Mapped[str] = mapped_column(Text)
    days: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditHead(Base):
    """The last audit entry's id and hash, updated with every append.

    The hash chain alone cannot show that its newest entries were cut off; the head can.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(BigInteger)
