"""The records facetrail keeps (SQLAlchemy 2.0 ORM). The database is the source of truth."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from facetrail.store.types import UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base for every facetrail table."""


class Gallery(Base):
    """A named collection of enrolled subjects with its own storage policy."""

    __tablename__ = "galleries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    keep_photos: Mapped[bool] = mapped_column(Boolean, default=True)
    pipeline: Mapped[str] = mapped_column(String(500))
    index_factory: Mapped[str] = mapped_column(String(100), default="Flat")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Added by 0006_quality_gate: photos under this quality are refused (None: the default).
    min_quality: Mapped[float | None] = mapped_column(Float, nullable=True)

    subjects: Mapped[list[Subject]] = relationship(back_populates="gallery")


class Subject(Base):
    """A person enrolled in a gallery, known by the caller's identifier."""

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("gallery_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    gallery: Mapped[Gallery] = relationship(back_populates="subjects")
    images: Mapped[list[Image]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )


class Image(Base):
    """One enrolled photograph with its provenance; the bytes are kept only if the gallery says."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("subject_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retain_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    lawfully_held: Mapped[bool] = mapped_column(Boolean, default=True)
    photo_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    faces_found: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Added by migration 0005_record_provenance: what a standard record (ANSI/NIST-ITL
    # Type-1 / Type-10) said about the image, key -> text; None for a plain photo file.
    provenance: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    # Added by 0006_quality_gate: the quality components at enrolment, and whether the photo
    # was enrolled under the gallery's minimum quality (--allow-low-quality).
    quality_components: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    low_quality: Mapped[bool] = mapped_column(Boolean, default=False)

    subject: Mapped[Subject] = relationship(back_populates="images")
    templates: Mapped[list[Template]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class Template(Base):
    """A face template made by one model from one image; its id is its vector-index id."""

    __tablename__ = "templates"
    __table_args__ = (Index("ix_templates_gallery_model", "gallery_id", "model"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    box: Mapped[list[float]] = mapped_column(JSON)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    quality: Mapped[float] = mapped_column(Float)
    quality_components: Mapped[dict[str, float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    image: Mapped[Image] = relationship(back_populates="templates")


class IndexState(Base):
    """Generation counter per (gallery, model), bumped with every template change.

    A saved vector index records the generation it reflects; a mismatch means the index
    is stale and is reconciled from the templates table before use.
    """

    __tablename__ = "index_state"

    gallery_id: Mapped[int] = mapped_column(
        ForeignKey("galleries.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


authorisation_galleries = Table(
    "authorisation_galleries",
    Base.metadata,
    Column(
        "authorisation_id", ForeignKey("authorisations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("gallery_id", ForeignKey("galleries.id", ondelete="CASCADE"), primary_key=True),
)


class Authorisation(Base):
    """A recorded decision that a use of face recognition is lawful, necessary and proportionate."""

    __tablename__ = "authorisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), default="retrospective_search")
    purpose: Mapped[str] = mapped_column(Text)
    case_reference: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    necessity: Mapped[str] = mapped_column(Text)
    proportionality: Mapped[str] = mapped_column(Text)
    officer_name: Mapped[str] = mapped_column(String(200))
    officer_rank: Mapped[str] = mapped_column(String(100))
    dpia_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_candidates: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Added by migration 0004_oversight.
    offence_category: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dpia_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    watchlists: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    galleries: Mapped[list[Gallery]] = relationship(secondary=authorisation_galleries)


class AuditEntry(Base):
    """One append-only line of the audit trail, hash-chained to the previous one.

    `entry_hash` is SHA-256 over a canonical encoding of this entry including
    `prev_hash`, so editing, removing or reordering entries breaks the chain.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    authorisation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    gallery: Mapped[str | None] = mapped_column(String(200), nullable=True)
    target: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
