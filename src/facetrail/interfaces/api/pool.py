"""A bounded pool for model work (detection, embedding): full means 503, never a long queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from facetrail.errors import BusyError

T = TypeVar("T")


class ModelPool:
    """`workers` threads run model work; at most `workers + queue` calls wait or run at once."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="facetrail-model")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def depth(self) -> int:
        """Calls running or waiting now."""
        return self._in_flight

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on a pool thread; BusyError (503 + Retry-After) when the pool is full."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise BusyError(
                    f"the server is busy ({self._in_flight} searches or verifications in"
                    " progress); try again shortly",
                    retry_after=1,
                )
            self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work)
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        """Finish running work and stop the threads."""
        self._executor.shutdown(wait=True, cancel_futures=True)
