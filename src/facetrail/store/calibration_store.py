"""Stored calibrations: which threshold search, verify and live use for each pipeline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from facetrail.biometrics.calibration import (
    Calibration,
    calibrated_specs,
    calibration_from_dict,
    load_calibration,
)
from facetrail.store.calibration_models import StoredCalibration
from facetrail.store.database import Database

STORED_ID = "stored_id"  # key in Calibration.results naming the stored row
TARGET = "target"  # key in Calibration.results: {"kind": ..., "value": ...}


@dataclass(frozen=True, slots=True)
class CalibrationInfo:
    """A stored calibration as listed and printed."""

    id: int
    pipeline: str
    target_kind: str
    target: float
    threshold: float
    dataset: str
    measured_at: str
    created_by: str
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def calibration_label(calibration: Calibration) -> str:
    """Which calibration a result used, e.g. 'yunet+sface FPIR 0.01 on lfw-dev (2026-11-22,
    stored #3)' or '... (2026-11-22, packaged default)'."""
    target = calibration.results.get(TARGET)
    what = f" {target['kind'].upper()} {target['value']:g}" if target else ""
    origin = (
        f"stored #{calibration.results[STORED_ID]}"
        if STORED_ID in calibration.results
        else "packaged default"
    )
    return (
        f"{calibration.spec}{what} on {calibration.dataset} ({calibration.measured_at}, {origin})"
    )


def _from_record(record: StoredCalibration) -> Calibration:
    calibration = calibration_from_dict(record.pipeline, record.parameters)
    results = {
        **calibration.results,
        STORED_ID: record.id,
        TARGET: {"kind": record.target_kind, "value": record.target},
    }
    return replace(calibration, results=results)


def stored_calibration(database: Database, spec: str) -> Calibration | None:
    """The newest stored calibration of pipeline `spec`, or None."""
    with database.reader() as session:
        record = session.scalar(
            select(StoredCalibration)
            .where(StoredCalibration.pipeline == spec)
            .order_by(StoredCalibration.id.desc())
            .limit(1)
        )
        return _from_record(record) if record is not None else None


def active_calibration(database: Database, spec: str) -> Calibration | None:
    """What search and verify use for `spec`: newest stored, else packaged, else None."""
    stored = stored_calibration(database, spec)
    if stored is not None:
        return stored
    return load_calibration(spec) if spec in calibrated_specs() else None


def list_calibrations(database: Database) -> list[CalibrationInfo]:
    """Every stored calibration, oldest first."""
    with database.reader() as session:
        records = session.scalars(select(StoredCalibration).order_by(StoredCalibration.id))
        return [calibration_info(r) for r in records]


def calibration_info(record: StoredCalibration) -> CalibrationInfo:
    return CalibrationInfo(
        id=record.id,
        pipeline=record.pipeline,
        target_kind=record.target_kind,
        target=record.target,
        threshold=record.threshold,
        dataset=record.dataset,
        measured_at=record.measured_at,
        created_by=record.created_by,
        label=calibration_label(_from_record(record)),
    )
