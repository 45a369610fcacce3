"""Watchlists, live deployments (start, stop, status), alerts (list, SSE stream, show, decide)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from facetrail.core.context import Context
from facetrail.interfaces.api.deployments import DeploymentStatus
from facetrail.interfaces.api.deps import ContextDep, ServicesDep, StateDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import OptionalRecordId, RecordId
from facetrail.interfaces.api.services import Services
from facetrail.interfaces.api.state import ServerState
from facetrail.services.live import DEFAULT_CROP_RETENTION_DAYS, DEFAULT_STRIDE, WatchRequest
from facetrail.services.live_results import (
    AlertInfo,
    DeploymentReport,
    DeploymentStart,
    WatchlistInfo,
)

router = APIRouter(tags=["live"], responses=PROBLEM_RESPONSES)

WATCH_PERMISSION = "watch"
STREAM_POLL_S = 0.1  # how often a stream looks for this process's new alerts
STREAM_REFRESH_S = 1.0  # how often it asks the database anyway (alerts of other workers)


class WatchlistCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    gallery: str = Field(min_length=1, max_length=200)
    subjects: list[str] | None = Field(default=None, max_length=10_000)
    reason: str = Field(min_length=1, max_length=4000)
    expires_on: date | None = None


class DeploymentCreate(BaseModel):
    source: str = Field(min_length=1, max_length=2000, description="stream URL, file or camera")
    watchlist: str = Field(min_length=1, max_length=200)
    authorisation: int = Field(ge=1, le=2**62)
    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    place: str = Field(default="", max_length=500)
    stride: int = Field(default=DEFAULT_STRIDE, ge=1, le=100)
    crop_retention_days: int = Field(default=DEFAULT_CROP_RETENTION_DAYS, ge=1, le=366)
    max_frames: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    pace: bool = False


class Decision(BaseModel):
    outcome: Literal["confirmed", "rejected", "no-action"]
    note: str = Field(min_length=1, max_length=4000)
    engagement: bool | None = None
    result: str | None = Field(default=None, max_length=200)


@router.get("/watchlists", response_model=list[WatchlistInfo])
def list_watchlists(services: ServicesDep, context: ContextDep) -> list[WatchlistInfo]:
    """Every watchlist."""
    return services.watchlists.list(context)


@router.get("/watchlists/{name}", response_model=WatchlistInfo)
def show_watchlist(name: str, services: ServicesDep, context: ContextDep) -> WatchlistInfo:
    """One watchlist."""
    return services.watchlists.show(context, name)


@router.post("/watchlists", response_model=WatchlistInfo, status_code=201)
def create_watchlist(
    body: WatchlistCreate, services: ServicesDep, context: ContextDep
) -> WatchlistInfo:
    """A watchlist of the named subjects of a gallery (default: all of them)."""
    return services.watchlists.create(
        context,
        body.name,
        gallery=body.gallery,
        subjects=body.subjects,
        reason=body.reason,
        expires_on=body.expires_on,
    )


def on_alert(state: ServerState) -> None:
    state.metrics.alerts.inc()


@router.post("/deployments", response_model=DeploymentStart, status_code=201)
async def start_deployment(
    body: DeploymentCreate, services: ServicesDep, context: ContextDep, state: StateDep
) -> DeploymentStart:
    """Start a live deployment on this server (checked, watchlist frozen, start recorded)."""
    request = WatchRequest(**body.model_dump())
    runner = services.deployments.runner(context, request)
    started = await asyncio.to_thread(runner.start)
    state.deployments.launch(runner, context.actor, lambda: on_alert(state))
    state.metrics.deployments.set(state.deployments.running_count())
    return started


def _require_watch(services: Services, context: Context) -> None:
    services.kernel.require(context, WATCH_PERMISSION)


@router.get("/deployments/{deployment_id}", response_model=DeploymentStatus)
def deployment_status(
    deployment_id: RecordId, services: ServicesDep, context: ContextDep, state: StateDep
) -> DeploymentStatus:
    """Whether a deployment of this server runs, and its summary once it ended."""
    _require_watch(services, context)
    return state.deployments.status(deployment_id)


@router.post("/deployments/{deployment_id}/stop", response_model=DeploymentStatus)
async def stop_deployment(
    deployment_id: RecordId, services: ServicesDep, context: ContextDep, state: StateDep
) -> DeploymentStatus:
    """Stop a deployment; answers once it has recorded its end."""
    _require_watch(services, context)
    status = await asyncio.to_thread(state.deployments.stop, deployment_id)
    state.metrics.deployments.set(state.deployments.running_count())
    return status


@router.get("/deployments/{deployment_id}/report", response_model=DeploymentReport)
def deployment_report(
    deployment_id: RecordId, services: ServicesDep, context: ContextDep
) -> DeploymentReport:
    """The figures a post-deployment review asks for."""
    return services.alerts.report(context, deployment_id)


@router.get("/alerts", response_model=list[AlertInfo])
def list_alerts(
    services: ServicesDep,
    context: ContextDep,
    deployment: OptionalRecordId = None,
    undecided: bool = False,
) -> list[AlertInfo]:
    """Alerts, newest first."""
    return services.alerts.list(context, deployment, undecided)


@router.get("/alerts/{alert_id}", response_model=AlertInfo)
def show_alert(alert_id: RecordId, services: ServicesDep, context: ContextDep) -> AlertInfo:
    """One alert."""
    return services.alerts.show(context, alert_id)


@router.get(
    "/alerts/{alert_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "crop beside reference"}},
)
def alert_image(alert_id: RecordId, services: ServicesDep, context: ContextDep) -> Response:
    """JPEG: the live crop (left) beside the watchlist image (right)."""
    data = services.alerts.side_by_side(context, alert_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/alerts/{alert_id}/decision", response_model=AlertInfo)
def decide(
    alert_id: RecordId, body: Decision, services: ServicesDep, context: ContextDep
) -> AlertInfo:
    """Record the operator's decision (once), audited."""
    return services.alerts.decide(
        context,
        alert_id,
        outcome=body.outcome,
        note=body.note,
        engagement=body.engagement,
        result=body.result,
    )


async def alert_events(
    services: Services, context: Context, state: ServerState, deployment_id: int, request: Request
) -> AsyncIterator[dict[str, str]]:
    """Each new alert of a deployment as an SSE `alert` event (the AlertInfo JSON)."""
    sent: set[int] = {
        a.alert_id for a in await asyncio.to_thread(services.alerts.list, context, deployment_id)
    }
    seen_version, asked = state.deployments.version, time.monotonic()
    yield {"event": "ready", "data": json.dumps({"deployment_id": deployment_id})}
    while not await request.is_disconnected():
        await asyncio.sleep(STREAM_POLL_S)
        version = state.deployments.version
        if version == seen_version and time.monotonic() - asked < STREAM_REFRESH_S:
            continue
        seen_version, asked = version, time.monotonic()
        alerts = await asyncio.to_thread(services.alerts.list, context, deployment_id)
        for alert in sorted(alerts, key=lambda a: a.alert_id):
            if alert.alert_id not in sent:
                sent.add(alert.alert_id)
                yield {"event": "alert", "data": alert.model_dump_json()}


@router.get(
    "/deployments/{deployment_id}/alerts/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alert events"}},
)
async def alert_stream(
    deployment_id: RecordId,
    request: Request,
    services: ServicesDep,
    context: ContextDep,
    state: StateDep,
) -> EventSourceResponse:
    """Server-Sent Events: one `alert` event per new alert of the deployment."""
    await asyncio.to_thread(services.kernel.require, context, "alerts.read")
    return EventSourceResponse(alert_events(services, context, state, deployment_id, request))
