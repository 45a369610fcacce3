"""Thread counts of the native libraries, set once when a kernel starts, never per call."""

from __future__ import annotations

import threading

import cv2
import faiss

_lock = threading.Lock()
_applied: tuple[int, int] | None = None


def configure_native_threads(opencv_threads: int, faiss_threads: int) -> None:
    """Set OpenCV's and FAISS's process-wide thread pools (the first kernel's settings win).

    facetrail runs models in its own worker threads, one OpenCV thread each, so OpenCV's
    pool would only oversubscribe the cores (measured on 2 cores: 64.9 vs 59.1 photos/s).
    """
    global _applied
    with _lock:
        if _applied is not None:
            return
        cv2.setNumThreads(opencv_threads)
        faiss.omp_set_num_threads(faiss_threads)
        _applied = (opencv_threads, faiss_threads)
