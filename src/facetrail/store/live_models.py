"""Records of live facial recognition: watchlists, their frozen versions, deployments, alerts.

Nothing here describes a face that matched nothing: deployments keep counts only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facetrail.store.models import Base, BigId
from facetrail.store.types import UTCDateTime, utcnow


class Watchlist(Base):
    """A named list of enrolled subjects of one gallery to alert on in live deployments."""

    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=0)  # latest frozen version; 0 = none
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    entries: Mapped[list[WatchlistEntry]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", passive_deletes=True
    )


class WatchlistEntry(Base):
    """One subject on a watchlist, with why it is there and until when."""

    __tablename__ = "watchlist_entries"
    __table_args__ = (UniqueConstraint("watchlist_id", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    watchlist: Mapped[Watchlist] = relationship(back_populates="entries")


class WatchlistVersion(Base):
    """A watchlist frozen for deployments: its eligible entries and what was excluded."""

    __tablename__ = "watchlist_versions"
    __table_args__ = (UniqueConstraint("watchlist_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    pipeline: Mapped[str] = mapped_column(String(500))
    content_sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    excluded: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    frozen_by: Mapped[str] = mapped_column(String(200))


class FrozenTemplate(Base):
    """A copy of one watchlist template, so later enrolments do not change a deployment."""

    __tablename__ = "watchlist_frozen_templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("watchlist_versions.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True
    )
    subject_external_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    image_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    reference_path: Mapped[str | None] = mapped_column(Text, nullable=True)


class Deployment(Base):
    """One run of live recognition on one source, under one authorisation; counts only."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    watchlist_id: Mapped[int | None] = mapped_column(
        ForeignKey("watchlists.id", ondelete="SET NULL"), nullable=True
    )
    watchlist_version: Mapped[int] = mapped_column(Integer)
    watchlist_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("watchlist_versions.id", ondelete="SET NULL"), nullable=True
    )
    watchlist_name: Mapped[str] = mapped_column(String(200))
    watchlist_size: Mapped[int] = mapped_column(Integer)
    authorisation_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(Text, default="")
    pipeline: Mapped[str] = mapped_column(String(500))
    threshold: Mapped[float] = mapped_column(Float)
    threshold_source: Mapped[str] = mapped_column(Text, default="")
    expected_false_alerts_per_face: Mapped[float | None] = mapped_column(Float, nullable=True)
    frame_stride: Mapped[int] = mapped_column(Integer, default=1)
    crop_retention_days: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    faces_processed: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    processing_fps: Mapped[float] = mapped_column(Float, default=0.0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|ended|failed
    status_detail: Mapped[str] = mapped_column(Text, default="")


class Alert(Base):
    """A track that matched a watchlist subject, waiting for (or with) a human decision."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True
    )
    subject_external_id: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    frame: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    track: Mapped[int] = mapped_column(Integer)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    engagement: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    crop_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    crop_retain_until: Mapped[datetime] = mapped_column(UTCDateTime)
    crop_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
