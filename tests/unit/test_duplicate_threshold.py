"""The duplicate check's threshold grows with the gallery (from the calibration)."""

from __future__ import annotations

import itertools

from facetrail.biometrics.calibration import load_calibration


def test_duplicate_threshold_is_the_1to1_threshold_for_small_galleries_and_grows() -> None:
    for spec in ("yunet+sface", "yunet+sface|dlib"):
        calibration = load_calibration(spec)
        sizes = (1, 10, 100, 1_000, 3_000, 100_000)
        thresholds = [calibration.duplicate_threshold(n) for n in sizes]
        assert thresholds[0] == calibration.threshold
        assert all(b >= a for a, b in itertools.pairwise(thresholds))
        assert thresholds[-1] > calibration.threshold_for_rate(1e-4)


def test_threshold_for_rate_interpolates_the_calibrated_points() -> None:
    calibration = load_calibration("yunet+sface")
    points = {float(k): v for k, v in calibration.fmr_thresholds.items()}
    for fmr, threshold in points.items():
        assert abs(calibration.threshold_for_rate(fmr) - threshold) < 1e-9
    low, high = points[1e-3], points[1e-2]
    assert low > calibration.threshold_for_rate(3e-3) > high
