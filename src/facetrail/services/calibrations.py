"""Calibrations: measure a pipeline's threshold at a target error rate, store it (audited),
and hand search and verify the one to use (the newest stored, else the packaged default).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from facetrail.biometrics.calibration import (
    Calibration,
    calibrated_specs,
    calibration_from_dict,
    load_calibration,
)
from facetrail.biometrics.pipeline import FaceAnalyzer, PipelineSpec
from facetrail.errors import InvalidInputError
from facetrail.evaluation.identification import run_identification
from facetrail.evaluation.metrics import threshold_at_rate
from facetrail.evaluation.pairs import run_pairs
from facetrail.evaluation.runs import RunOptions
from facetrail.services.audit import append_audit
from facetrail.store.calibration_models import StoredCalibration
from facetrail.store.database import Database

TARGET_KINDS = ("fpir", "fmr")
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
        return [_info(r) for r in records]


def _info(record: StoredCalibration) -> CalibrationInfo:
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


def _normalisation(scores: np.ndarray) -> tuple[float, float]:
    finite = scores[np.isfinite(scores)]
    return float(finite.mean()), float(finite.std())


def _parameters(
    analyzer: FaceAnalyzer,
    threshold: float,
    dataset: str,
    method: str,
    results: dict[str, Any],
    genuine: np.ndarray,
    impostor: np.ndarray,
) -> dict[str, Any]:
    """The calibration in the packaged JSON layout, keeping packaged fusion statistics."""
    spec = str(analyzer.spec)
    if spec in calibrated_specs():
        base = load_calibration(spec)
        models = {
            m.name: {
                "version": m.version,
                "weight": m.weight,
                "impostor_mean": m.normalisation.impostor_mean,
                "impostor_std": m.normalisation.impostor_std,
                "genuine_mean": m.normalisation.genuine_mean,
                "genuine_std": m.normalisation.genuine_std,
            }
            for m in base.models
        }
        fmr_thresholds = dict(base.fmr_thresholds)
    else:  # a single uncalibrated recognizer: its statistics from this measurement
        impostor_mean, impostor_std = _normalisation(impostor)
        genuine_mean, genuine_std = _normalisation(genuine)
        recognizer = analyzer.recognizers[0]
        models = {
            recognizer.name: {
                "version": recognizer.version,
                "weight": 1.0,
                "impostor_mean": impostor_mean,
                "impostor_std": impostor_std,
                "genuine_mean": genuine_mean,
                "genuine_std": genuine_std,
            }
        }
        fmr_thresholds = {}
    return {
        "threshold": threshold,
        "score_kind": "fused-z" if analyzer.spec.fused else "cosine",
        "models": models,
        "fmr_thresholds": fmr_thresholds,
        "dataset": dataset,
        "measured_at": dt.date.today().isoformat(),
        "method": method,
        "results": results,
    }


def measure(
    spec: str,
    *,
    target_kind: str,
    target: float,
    images: Path,
    pairs: Path | None,
    options: RunOptions,
    enrolled_fraction: float,
    seed: int,
    aliases: dict[str, str] | None,
) -> tuple[dict[str, Any], float, str]:
    """(parameters, threshold, dataset) measured at the target rate; stores nothing."""
    if target_kind not in TARGET_KINDS:
        raise InvalidInputError(f"target kind must be one of {TARGET_KINDS}, got {target_kind!r}")
    if not 0 < target < 1:
        raise InvalidInputError(f"the target rate must be between 0 and 1, got {target}")
    analyzer = FaceAnalyzer.from_spec(PipelineSpec.parse(spec))
    if target_kind == "fpir":
        result, scores = run_identification(
            images, options, enrolled_fraction=enrolled_fraction, seed=seed, aliases=aliases
        )
        nonmated, mated = scores["nonmated_top"], scores["rank1_mate_score"]
        threshold = threshold_at_rate(nonmated, target)
        if threshold is None:
            raise InvalidInputError(
                f"{nonmated.size} non-mated searches cannot measure FPIR {target:g} "
                f"(need at least {int(np.ceil(1 / target))}); use a larger --images set"
            )
        dataset = images.name
        method = (
            f"threshold = lowest reaching FPIR <= {target:g} over {nonmated.size} non-mated "
            f"searches (identification protocol, enrolled fraction {enrolled_fraction}, "
            f"seed {seed}, gallery {result['gallery_size']}); FPIR grows with gallery size"
        )
        summary = {
            "fnir": float((mated < threshold).mean()),
            "fpir": float((nonmated >= threshold).mean()),
            "gallery_size": result["gallery_size"],
            "rank1": result["rank1"],
        }
        genuine, impostor = scores["mate_score"], nonmated
    else:
        if pairs is None:
            raise InvalidInputError("--target-fmr needs --pairs FILE (an LFW-format pairs file)")
        result, scores = run_pairs(pairs, images, options, fmr_targets=(target,))
        point = result["fnmr_at_fmr_all_impostors"].get(f"{target:g}") or result["fnmr_at_fmr"].get(
            f"{target:g}"
        )
        if point is None or point["threshold"] is None:
            raise InvalidInputError(
                f"not enough impostor comparisons in {pairs.name} to measure FMR {target:g}"
            )
        threshold = float(point["threshold"])
        dataset = f"{images.name} {pairs.name}"
        method = (
            f"threshold = lowest reaching FMR <= {target:g} over "
            f"{result['all_impostor_comparisons'] or result['different_pairs']} impostor "
            "comparisons (every different-name pair of the pairs file's images)"
        )
        summary = {"fnmr": point["error"], "fmr": point["achieved"], "accuracy": result["accuracy"]}
        genuine, impostor = scores["genuine"], scores["impostor"]
    parameters = _parameters(analyzer, threshold, dataset, method, summary, genuine, impostor)
    return parameters, threshold, dataset


def store(
    database: Database,
    *,
    actor: str,
    spec: str,
    target_kind: str,
    target: float,
    parameters: dict[str, Any],
) -> CalibrationInfo:
    """Store a measured calibration and audit it ("calibration.store") in one transaction."""
    with database.transaction() as session:
        record = StoredCalibration(
            pipeline=spec,
            target_kind=target_kind,
            target=target,
            threshold=float(parameters["threshold"]),
            dataset=parameters["dataset"],
            measured_at=parameters["measured_at"],
            parameters=parameters,
            created_by=actor,
        )
        session.add(record)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="calibration.store",
            outcome="ok",
            target=spec,
            details={
                "calibration_id": record.id,
                "pipeline": spec,
                "target_kind": target_kind,
                "target": target,
                "threshold": round(record.threshold, 6),
                "dataset": record.dataset,
                "measured_at": record.measured_at,
                "results": parameters.get("results", {}),
            },
        )
        return _info(record)
