"""Controlling OpenCV's own thread pool while several worker threads run models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """Run the block with OpenCV using `count` threads, then restore the previous setting.

    With one model per worker thread, one OpenCV thread each avoids oversubscribing the
    cores (measured on 2 cores: 64.9 vs 59.1 photos/s with 2 workers).
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)
