"""Records of federation: partners and their versioned policies, seen nonces, both steps.

Step-1 answers keep opaque references (never names) for the requesting side; the subject
a reference points to is known only to the answering side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store.models import Base, BigId
from facetrail.store.types import UTCDateTime, utcnow


class Partner(Base):
    """A partner node: name, URL and Ed25519 key; removal keeps the row for the record."""

    __tablename__ = "federation_partners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    tls_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tls_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)  # pinned (PEM)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class PartnerPolicy(Base):
    """One version of what a partner may ask of this node (the newest is in force)."""

    __tablename__ = "federation_policies"
    __table_args__ = (UniqueConstraint("partner_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("federation_partners.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeenNonce(Base):
    """A nonce accepted from a sender: the same one again is a replay."""

    __tablename__ = "federation_nonces"
    __table_args__ = (UniqueConstraint("sender", "nonce"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender: Mapped[str] = mapped_column(String(100))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OutgoingQuery(Base):
    """Requesting side: one partner's step-1 answer to one federated search."""

    __tablename__ = "federation_outgoing"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    authorisation_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssuedReference(Base):
    """Answering side: an opaque reference given to a partner, and the subject behind it."""

    __tablename__ = "federation_references"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str] = mapped_column(String(100))
    gallery_id: Mapped[int] = mapped_column(BigId)
    # Erasing the subject leaves the reference leading to no one (and nothing released).
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True
    )
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Exchange(Base):
    """Step 2 on either side ("out": we asked, "in": a partner asked us)."""

    __tablename__ = "federation_exchanges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    examiner: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # no image
    transaction: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed
    # A record received ("out", released) is kept until then (the partner policy's
    # received_retention_days), then erased by `retention run`; erasure empties record,
    # transaction and note and stamps erased_at (the row stays, for the record).
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
