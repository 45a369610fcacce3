"""Stored calibrations: decision thresholds measured with `facetrail calibrate`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store.models import Base, BigId
from facetrail.store.types import UTCDateTime, utcnow


class StoredCalibration(Base):
    """A pipeline's threshold measured at a target error rate on a named dataset.

    The newest row of a pipeline is the one search and verify use. `parameters` holds
    the whole calibration (threshold, fusion statistics, FMR thresholds) in the packaged
    calibration's JSON layout, so it can be rebuilt exactly.
    """

    __tablename__ = "calibrations"
    __table_args__ = (Index("ix_calibrations_pipeline_id", "pipeline", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(500))
    target_kind: Mapped[str] = mapped_column(String(10))  # fpir | fmr
    target: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    dataset: Mapped[str] = mapped_column(Text)
    measured_at: Mapped[str] = mapped_column(String(10))  # ISO date
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
