"""One loaded FaceAnalyzer per (thread, pipeline): OpenCV detectors are not thread-safe."""

from __future__ import annotations

import threading

from facetrail.biometrics.pipeline import FaceAnalyzer


class AnalyzerPool:
    """Hands each thread its own loaded analyzer for a pipeline spec."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, spec: str) -> FaceAnalyzer:
        """The calling thread's analyzer for `spec`, created and loaded on first use."""
        cache: dict[str, FaceAnalyzer] | None = getattr(self._local, "analyzers", None)
        if cache is None:
            cache = self._local.analyzers = {}
        analyzer = cache.get(spec)
        if analyzer is None:
            analyzer = FaceAnalyzer.from_spec(spec)
            analyzer.load()
            cache[spec] = analyzer
        return analyzer
