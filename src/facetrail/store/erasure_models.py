"""The erasure journal: what a committed erasure still has to remove outside the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store.models import Base, BigId
from facetrail.store.types import UTCDateTime, utcnow


class ErasureJob(Base):
    """One erasure's removals (index ids, files, cache entries), committed with the deletion.

    Written in the same transaction as the deleted rows and their audit entries; the
    removals run after commit and again on every later open until `finished_at` is set.
    """

    __tablename__ = "erasure_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    removed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
