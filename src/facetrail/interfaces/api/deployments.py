"""Live deployments running in this server process, and the alerts they raise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from facetrail.errors import NotFoundError
from facetrail.services.live import DeploymentRunner
from facetrail.services.live_results import AlertEvent, DeploymentSummary


class DeploymentStatus(BaseModel):
    deployment_id: int
    running: bool
    alerts_raised: int
    started_by: str
    summary: DeploymentSummary | None = None
    error: str | None = None


@dataclass
class _Running:
    runner: DeploymentRunner
    started_by: str
    thread: threading.Thread | None = None
    alerts: list[tuple[float, AlertEvent]] = field(default_factory=list)
    summary: DeploymentSummary | None = None
    error: str | None = None


class RunningDeployments:
    """Deployments started through this server: run in threads, stopped on request."""

    def __init__(self) -> None:
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self.version = 0  # bumped on every alert, so SSE streams know to look

    def launch(
        self, runner: DeploymentRunner, started_by: str, on_alert: Callable[[], None]
    ) -> None:
        """Run a started deployment in a thread."""
        assert runner.deployment_id is not None
        entry = _Running(runner, started_by)

        def alert(event: AlertEvent) -> None:
            entry.alerts.append((time.time(), event))
            self.version += 1
            on_alert()

        def work() -> None:
            try:
                entry.summary = runner.run(alert)
            except Exception as error:  # recorded for status; the runner records its end
                entry.error = str(error) or type(error).__name__
            finally:
                self.version += 1

        entry.thread = threading.Thread(
            target=work, name=f"deployment-{runner.deployment_id}", daemon=True
        )
        with self._lock:
            self._running[runner.deployment_id] = entry
        entry.thread.start()

    def _get(self, deployment_id: int) -> _Running:
        entry = self._running.get(deployment_id)
        if entry is None:
            raise NotFoundError(f"deployment {deployment_id} is not running on this server")
        return entry

    def status(self, deployment_id: int) -> DeploymentStatus:
        entry = self._get(deployment_id)
        running = entry.thread is not None and entry.thread.is_alive()
        return DeploymentStatus(
            deployment_id=deployment_id,
            running=running,
            alerts_raised=len(entry.alerts),
            started_by=entry.started_by,
            summary=entry.summary,
            error=entry.error,
        )

    def stop(self, deployment_id: int, timeout: float = 30.0) -> DeploymentStatus:
        """Stop a deployment and wait (up to `timeout`) for it to record its end."""
        entry = self._get(deployment_id)
        entry.runner.stop()
        if entry.thread is not None:
            entry.thread.join(timeout)
        return self.status(deployment_id)

    def raised_at(self, deployment_id: int) -> dict[int, float]:
        """Alert id -> when this server raised it (wall clock), for latency measurements."""
        entry = self._running.get(deployment_id)
        return {event.alert_id: at for at, event in entry.alerts} if entry else {}

    def running_count(self) -> int:
        return sum(1 for e in self._running.values() if e.thread and e.thread.is_alive())

    def stop_all(self) -> None:
        for deployment_id in list(self._running):
            self.stop(deployment_id, timeout=10.0)
