"""False "possible duplicate" warnings when distinct new people join a large gallery.

    python benchmarks/duplicates.py [--gallery 3000] [--new 220]

The first photo of each of `--gallery` lfw-dev people is the gallery; the first photo of
`--new` other people is enrolled one by one. Every warning is false (distinct names; LFW's
few label errors count against us). Prints warnings per 100 new people at the 1:1
threshold (the old rule) and at the gallery-size threshold (calibration.duplicate_threshold),
measured in the same run on the same templates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facetrail.biometrics.calibration import FALSE_DUPLICATES_PER_PERSON
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation.templates import compute_templates

PIPELINE = "yunet+sface"


def _faces_dir() -> Path:
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data"
    if not path.is_dir():
        sys.exit(f"face data not found at {path}: set FACETRAIL_TEST_DATA")
    return path / "faces" / "lfw-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=3000)
    parser.add_argument("--new", type=int, default=220)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ft-dup-cache")
    args = parser.parse_args()
    started = time.perf_counter()
    firsts = [
        sorted(folder.glob("*.jpg"))[0]
        for folder in sorted(_faces_dir().iterdir())
        if folder.is_dir() and any(folder.glob("*.jpg"))
    ]
    if len(firsts) < args.gallery + args.new:
        sys.exit(f"lfw-dev has {len(firsts)} people, fewer than {args.gallery + args.new}")
    rng = np.random.default_rng(0)
    chosen = [firsts[i] for i in rng.permutation(len(firsts))[: args.gallery + args.new]]
    templates = compute_templates(chosen, PIPELINE, cache_dir=args.cache)
    vectors = templates.templates["sface"]
    found = templates.found
    gallery = vectors[: args.gallery][found[: args.gallery]]
    new = vectors[args.gallery :][found[args.gallery :]]
    calibration = FaceAnalyzer.from_spec(PIPELINE).calibration
    old_rule, new_rule = 0, 0
    for index, vector in enumerate(new):
        known = np.vstack([gallery, new[:index]]) if index else gallery
        best = float((known @ vector).max())
        old_rule += best >= calibration.threshold
        new_rule += best >= calibration.duplicate_threshold(len(known))
    people = len(new)
    print(
        f"{people} new people into a gallery of {len(gallery)} ({PIPELINE}); target"
        f" {FALSE_DUPLICATES_PER_PERSON * 100:.0f} per 100"
    )
    print(
        f"1:1 threshold {calibration.threshold:.3f}: {old_rule} false warnings"
        f" = {100 * old_rule / people:.1f} per 100 new people"
    )
    threshold = calibration.duplicate_threshold(len(gallery))
    print(
        f"gallery-size threshold {threshold:.3f}: {new_rule} false warnings"
        f" = {100 * new_rule / people:.1f} per 100 new people"
        f" ({(old_rule / max(new_rule, 1)):.1f}x fewer)"
    )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
