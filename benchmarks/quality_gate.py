"""Where quality starts to cost matches: FNMR of genuine pairs by their lower quality score.

    python benchmarks/quality_gate.py

lfw-dev pairsDevTrain genuine pairs, default pipeline, at its calibrated 1:1 threshold:
FNMR for pairs whose lower quality is below each cut, against all pairs: where it doubles,
and where it is ten times the overall (the default gallery `--min-quality`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.evaluation.datasets import read_pairs
from facetrail.evaluation.templates import nearest_centre
from facetrail.media.images import load_image

CUTS = (10, 20, 30, 40, 50, 60, 70)


def main() -> None:
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data"
    images = root / "faces" / "lfw-dev"
    if not images.is_dir():
        sys.exit(f"lfw-dev not found under {root}")
    started = time.perf_counter()
    pairs = [p for p in read_pairs(images / "pairsDevTrain.txt", images).pairs if p.same]
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    cache: dict[Path, tuple[float, np.ndarray] | None] = {}
    for path in {p.a for p in pairs} | {p.b for p in pairs}:
        pixels = load_image(path).pixels
        face = nearest_centre(analyzer.detect(pixels), pixels.shape)
        if face is None or face.quality is None:
            cache[path] = None
            continue
        cache[path] = (face.quality.score, analyzer.embed(pixels, face).template("sface"))
    threshold = analyzer.calibration.threshold
    lower, misses = [], []
    for pair in pairs:
        a, b = cache[pair.a], cache[pair.b]
        if a is None or b is None:
            continue
        lower.append(min(a[0], b[0]))
        misses.append(float(a[1] @ b[1]) < threshold)
    quality, missed = np.array(lower), np.array(misses)
    overall = missed.mean()
    print(f"{quality.size} genuine pairs, FNMR {overall:.2%} at threshold {threshold:.3f}")
    doubles = tenfold = None
    for cut in CUTS:
        below = quality < cut
        rate = missed[below].mean() if below.any() else float("nan")
        print(
            f"lower quality < {cut}: {below.sum()} pairs, FNMR {rate:.2%} ({rate / overall:.1f}x)"
        )
        if below.any() and rate >= 2 * overall:
            doubles = cut
        if below.any() and rate >= 10 * overall:
            tenfold = cut
    print(f"FNMR doubles under {doubles}, is tenfold under {tenfold}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
