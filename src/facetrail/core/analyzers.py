"""One loaded FaceAnalyzer per (thread, pipeline): OpenCV detectors are not thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Callable

from facetrail.biometrics.calibration import Calibration
from facetrail.biometrics.pipeline import FaceAnalyzer


class AnalyzerPool:
    """Hands each thread its own loaded analyzer for a pipeline spec.

    `calibrations(spec)` gives the calibration an analyzer uses (None: the packaged one);
    `invalidate()` makes every thread pick up a newly stored calibration.
    """

    def __init__(self, calibrations: Callable[[str], Calibration | None] | None = None) -> None:
        self._local = threading.local()
        self._calibrations = calibrations
        self._generation = 0

    def invalidate(self) -> None:
        """Drop every thread's analyzers at its next `get` (a calibration was stored)."""
        self._generation += 1

    def get(self, spec: str) -> FaceAnalyzer:
        """The calling thread's analyzer for `spec`, created and loaded on first use."""
        cache: dict[str, FaceAnalyzer] | None = getattr(self._local, "analyzers", None)
        if cache is None or getattr(self._local, "generation", None) != self._generation:
            cache = self._local.analyzers = {}
            self._local.generation = self._generation
        analyzer = cache.get(spec)
        if analyzer is None:
            calibration = self._calibrations(spec) if self._calibrations else None
            analyzer = FaceAnalyzer.from_spec(spec, calibration)
            analyzer.load()
            cache[spec] = analyzer
        return analyzer
