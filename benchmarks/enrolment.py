"""End-to-end enrolment speed through the services layer (decode, detect, embed, store).

    python benchmarks/enrolment.py [--photos 400] [--workers 1 2]

Enrols one LFW photo per person (250x250, like custody images) and the deepface press
photos (0.2-5 MP) into fresh homes and prints photos/s against the 40 photos/s target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import facetrail

TARGET_PHOTOS_PER_S = 40.0


def _data_dir() -> Path:
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data"
    if not path.is_dir():
        sys.exit(f"face data not found at {path}: set FACETRAIL_TEST_DATA")
    return path / "faces"


def _lfw_gallery(root: Path, target: Path, count: int) -> int:
    linked = 0
    for folder in sorted((root / "lfw-dev").iterdir()):
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not photos:
            continue
        (target / folder.name).mkdir(parents=True)
        (target / folder.name / photos[0].name).symlink_to(photos[0])
        linked += 1
        if linked == count:
            break
    return linked


def _measure(folder: Path, workers: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as home:
        app = facetrail.open(home, workers=workers)
        app.analyzers.get(app.settings.pipeline)  # model load is not enrolment time
        started = time.perf_counter()
        report = app.enrol(folder, gallery="bench", legal_basis="benchmark")
        elapsed = time.perf_counter() - started
        app.close()
    return report.enrolled, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=400, help="LFW photos to enrol")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    faces = _data_dir()
    with tempfile.TemporaryDirectory() as scratch:
        lfw = Path(scratch) / "lfw"
        count = _lfw_gallery(faces, lfw, args.photos)
        sets = {f"LFW 250x250 ({count} photos)": lfw, "deepface 0.2-5 MP": faces / "deepface"}
        for label, folder in sets.items():
            baseline = None
            for workers in args.workers:
                enrolled, seconds = _measure(folder, workers)
                rate = enrolled / seconds
                baseline = baseline or rate
                print(
                    f"{label}: {workers} worker(s): {enrolled} enrolled in {seconds:.1f} s ="
                    f" {rate:.1f} photos/s ({rate / baseline:.2f}x vs {args.workers[0]} worker,"
                    f" {rate / TARGET_PHOTOS_PER_S:.2f}x the {TARGET_PHOTOS_PER_S:.0f}/s target)"
                )


if __name__ == "__main__":
    main()
