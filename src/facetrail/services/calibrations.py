"""Calibrations: measure a pipeline's threshold at a target error rate, store it (audited),
and hand search and verify the one to use (the newest stored, else the packaged default).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetrail.biometrics.calibration import (
    Calibration,
    calibrated_specs,
    load_calibration,
)
from facetrail.biometrics.pipeline import FaceAnalyzer, PipelineSpec
from facetrail.core.access import ADMINISTRATOR, declare, requires
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.evaluation.identification import run_identification
from facetrail.evaluation.metrics import threshold_at_rate
from facetrail.evaluation.pairs import run_pairs
from facetrail.evaluation.runs import RunOptions
from facetrail.store.calibration_models import StoredCalibration
from facetrail.store.calibration_store import (
    CalibrationInfo,
    active_calibration,
    calibration_info,
    list_calibrations,
)
from facetrail.store.database import Database

TARGET_KINDS = ("fpir", "fmr")
CALIBRATE = declare("calibrate", "measure and install score thresholds", (ADMINISTRATOR,))


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
        return calibration_info(record)


@dataclass(frozen=True, slots=True)
class CalibrationRequest:
    """What `facetrail calibrate` measures: a pipeline at a target rate on a data set."""

    pipeline: str
    target_kind: str
    target: float
    images: Path
    options: RunOptions
    pairs: Path | None = None
    enrolled_fraction: float = 0.5
    seed: int = 0
    aliases: dict[str, str] | None = None


class Calibrations:
    """Measuring, storing and listing the thresholds search, verify and live use."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(CALIBRATE)
    def calibrate(
        self, context: Context, request: CalibrationRequest
    ) -> tuple[CalibrationInfo, dict[str, Any]]:
        """Measure (checked before the long run), then store (checked again) and apply it."""
        parameters, _threshold, _dataset = measure(
            request.pipeline,
            target_kind=request.target_kind,
            target=request.target,
            images=request.images,
            pairs=request.pairs,
            options=request.options,
            enrolled_fraction=request.enrolled_fraction,
            seed=request.seed,
            aliases=request.aliases,
        )
        self.kernel.require(context, CALIBRATE.name)
        info = store(
            self.kernel.database,
            actor=context.actor,
            spec=request.pipeline,
            target_kind=request.target_kind,
            target=request.target,
            parameters=parameters,
        )
        self.kernel.analyzers.invalidate()
        return info, parameters

    def list(self, context: Context) -> list[CalibrationInfo]:
        """Every stored calibration, oldest first (not access-checked: no personal data)."""
        return list_calibrations(self.kernel.database)

    def active(self, context: Context, pipeline: str) -> Calibration | None:
        """What search, verify and live use for `pipeline` (not access-checked)."""
        return active_calibration(self.kernel.database, pipeline)
