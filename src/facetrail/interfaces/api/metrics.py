"""Prometheus metrics: requests, latencies, searches, alerts, queue depth (never biometric data)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """One registry per app (so tests can run several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "facetrail_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "facetrail_http_request_seconds",
            "HTTP request latency by route template",
            ["route"],
            registry=self.registry,
        )
        self.searches = Counter(
            "facetrail_searches", "1:N searches by outcome", ["outcome"], registry=self.registry
        )
        self.verifications = Counter(
            "facetrail_verifications",
            "1:1 verifications by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "facetrail_alerts", "live alerts raised by this server", registry=self.registry
        )
        self.queue_depth = Gauge(
            "facetrail_model_queue_depth",
            "model calls running or waiting in the pool",
            registry=self.registry,
        )
        self.deployments = Gauge(
            "facetrail_deployments_running", "live deployments running", registry=self.registry
        )

    def render(self) -> Response:
        """The exposition text."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Count and time every request under its route template (never its path values)."""
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.requests.labels(template, request.method, str(status)).inc()
            self.latency.labels(template).observe(time.perf_counter() - started)
