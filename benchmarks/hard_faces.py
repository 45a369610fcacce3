"""Hard faces: tight crops, darkness, low contrast and side light; found rate and rank-1.

    python benchmarks/hard_faces.py [--people 300] [--no-retry]

From lfw-dev people with two or more photos: the first photo is enrolled (as is), the
second is cut to its face box (a legacy system's tight chip) and varied: as cut, darkened,
low contrast, lit from one side. For each variant: the share of probes where a face is
found, and rank-1 among the enrolled people. dlib_johns and orl_faces: found rate.
Numbers with the detection retries (default) and without (`--no-retry`) in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from facetrail.biometrics.hard_faces import VARIANTS, tight_crop
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.media.images import load_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm"}


def _faces_dir() -> Path:
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data"
    if not path.is_dir():
        sys.exit(f"face data not found at {path}: set FACETRAIL_TEST_DATA")
    return path / "faces"


def _pairs(root: Path, people: int) -> list[tuple[str, Path, Path]]:
    found = []
    for folder in sorted((root / "lfw-dev").iterdir()):
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if len(photos) >= 2:
            found.append((folder.name, photos[0], photos[1]))
        if len(found) == people:
            break
    return found


def measure(analyzer: FaceAnalyzer, bare: FaceAnalyzer, root: Path, people: int) -> None:
    """Print found rate and rank-1 per variant, retry vs bare, and the control sets."""
    pairs = _pairs(root, people)
    names, gallery = [], []
    probes: list[np.ndarray] = []
    for name, enrolled, probe in pairs:
        faces = analyzer.analyze(load_image(enrolled).pixels)
        pixels = load_image(probe).pixels
        probe_faces = bare.detector.detect(pixels)
        if not faces or not probe_faces:
            continue
        names.append(name)
        gallery.append(faces[0].template("sface"))
        probes.append(tight_crop(pixels, probe_faces[0].box))
    matrix = np.stack(gallery)
    print(f"{len(names)} people enrolled; probes cut to their face box")
    header = ("variant", "found bare", "found retry", "rank-1 bare", "rank-1 retry")
    print(f"{header[0]:<14} " + " ".join(f"{h:>12}" for h in header[1:]))
    for variant, make in VARIANTS.items():
        row = []
        for current in (bare, analyzer):
            found = correct = 0
            for index, chip in enumerate(probes):
                faces = current.analyze(make(chip))
                if not faces:
                    continue
                found += 1
                scores = matrix @ faces[0].template("sface")
                correct += int(np.argmax(scores) == index)
            row.append((found / len(probes), correct / len(probes)))
        (fb, rb), (fr, rr) = row
        print(f"{variant:<14} {fb:>12.1%} {fr:>12.1%} {rb:>12.1%} {rr:>12.1%}")
    for control in ("dlib_johns", "orl_faces"):
        files = sorted(p for p in (root / control).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        found = sum(bool(analyzer.detect(load_image(p).pixels)) for p in files)
        print(f"{control}: {found}/{len(files)} found ({found / len(files):.1%}) with retries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300)
    args = parser.parse_args()
    started = time.perf_counter()
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    bare = FaceAnalyzer.from_spec("yunet+sface").load()
    bare.detector = bare.detector.inner  # type: ignore[attr-defined]
    measure(analyzer, bare, _faces_dir(), args.people)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
