"""What every protocol run shares: its options, its provenance, and saving its results."""

from __future__ import annotations

import datetime as dt
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import ModelError
from facetrail.evaluation.templates import Progress
from facetrail.version import __version__

RESULTS_FOLDER = "evaluations"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a protocol: pipeline, template cache, flip averaging, workers, progress."""

    pipeline: str
    cache_dir: Path | None = None
    flip: bool = False
    workers: int | None = None
    progress: Progress | None = field(default=None, compare=False)


def provenance(analyzer: FaceAnalyzer, options: RunOptions, dataset: str) -> dict[str, Any]:
    """Who/what/when of a measurement, so a reader can reproduce it."""
    calibration = None
    try:
        cal = analyzer.calibration
        calibration = f"{cal.spec} on {cal.dataset} ({cal.measured_at})"
    except ModelError:
        pass
    return {
        "pipeline": str(analyzer.spec),
        "models": analyzer.model_versions,
        "fusion_calibration": calibration if analyzer.spec.fused else None,
        "dataset": dataset,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "face_selection": "the face nearest the image centre; none found = a failed comparison",
        "flip_averaged_templates": options.flip,
        "facetrail_version": __version__,
        "python": platform.python_version(),
    }


def save_run(folder: Path, result: dict[str, Any], scores: dict[str, np.ndarray]) -> Path:
    """Write a run's result JSON and its score arrays (.npz) under `folder`; returns the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    stem = folder / f"{stamp}-{result['protocol']}"
    scores_path = stem.with_suffix(".npz")
    np.savez_compressed(scores_path, **scores)  # type: ignore[arg-type]
    payload = {**result, "scores_file": scores_path.name}
    temporary = stem.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    final = stem.with_suffix(".json")
    temporary.replace(final)
    return final


def load_runs(folder: Path) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Every saved run under `folder`, oldest first, with its score arrays."""
    runs = []
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        scores_path = folder / result.get("scores_file", "")
        scores: dict[str, np.ndarray] = {}
        if scores_path.is_file():
            with np.load(scores_path, allow_pickle=False) as data:
                scores = {k: data[k] for k in data.files}
        runs.append((result, scores))
    return runs


def latest_per_protocol(
    runs: list[tuple[dict[str, Any], dict[str, np.ndarray]]],
) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The newest run of each (protocol, pipeline, dataset, flip), in protocol order."""
    latest: dict[tuple[str, str, str, bool], tuple[dict[str, Any], dict[str, np.ndarray]]] = {}
    for result, scores in runs:
        flip = bool(result.get("flip_averaged_templates"))
        key = (result["protocol"], result["pipeline"], result["dataset"], flip)
        latest[key] = (result, scores)
    return [latest[k] for k in sorted(latest)]
