"""Operator pages: start and stop a deployment, the live alert queue (SSE), decisions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from facetrail.errors import NotFoundError
from facetrail.interfaces.api.routes.watch import alert_events, on_alert
from facetrail.interfaces.web.caller import CallerDep, PostCallerDep
from facetrail.interfaces.web.render import TEMPLATES, keep_session, page
from facetrail.services.live import WatchRequest

router = APIRouter(include_in_schema=False)


@router.get("/live")
def live_page(request: Request, caller: CallerDep) -> Response:
    """Start a deployment."""
    services, context = caller.state.services, caller.context
    services.kernel.require(context, "watch")
    authorisations = [
        a
        for a in services.authorisations.list(context)
        if a.revoked_at is None and a.kind == "live_deployment"
    ]
    return page(
        request,
        "live.html",
        caller,
        watchlists=services.watchlists.list(context),
        authorisations=authorisations,
    )


@router.post("/live/start")
async def start(
    caller: PostCallerDep,
    source: Annotated[str, Form(max_length=2000)],
    watchlist: Annotated[str, Form(max_length=200)],
    authorisation: Annotated[int, Form(ge=1, le=2**62)],
    place: Annotated[str, Form(max_length=500)] = "",
    pace: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Start the deployment on this server and open its live page."""
    state = caller.state
    request = WatchRequest(
        source=source, watchlist=watchlist, authorisation=authorisation, place=place,
        pace=bool(pace),
    )  # fmt: skip
    runner = state.services.deployments.runner(caller.context, request)
    started = await asyncio.to_thread(runner.start)
    state.deployments.launch(runner, caller.context.actor, lambda: on_alert(state))
    return RedirectResponse(f"/live/{started.deployment_id}", status_code=303)


@router.get("/live/{deployment_id}")
def deployment_page(request: Request, caller: CallerDep, deployment_id: int) -> Response:
    """Counters and the alert queue of one deployment."""
    services, context = caller.state.services, caller.context
    services.kernel.require(context, "watch")
    try:
        status = caller.state.deployments.status(deployment_id)
    except NotFoundError:
        status = None
    alerts = services.alerts.list(context, deployment_id)
    return page(
        request,
        "deployment.html",
        caller,
        deployment_id=deployment_id,
        status=status,
        alerts=alerts,
    )


@router.post("/live/{deployment_id}/stop")
async def stop(caller: PostCallerDep, deployment_id: int) -> Response:
    caller.state.services.kernel.require(caller.context, "watch")
    await asyncio.to_thread(caller.state.deployments.stop, deployment_id)
    return RedirectResponse(f"/live/{deployment_id}", status_code=303)


@router.get("/live/{deployment_id}/events")
async def events(request: Request, caller: CallerDep, deployment_id: int) -> EventSourceResponse:
    """The deployment's alerts as Server-Sent Events (session cookie, not a bearer token)."""
    services, state = caller.state.services, caller.state
    await asyncio.to_thread(services.kernel.require, caller.context, "alerts.read")

    async def stream() -> AsyncIterator[dict[str, str]]:
        async for event in alert_events(services, caller.context, state, deployment_id, request):
            yield event

    return EventSourceResponse(stream())


@router.get("/alerts/{alert_id}/image")
def alert_image(caller: CallerDep, alert_id: int) -> Response:
    """The live crop beside the watchlist image."""
    data = caller.state.services.alerts.side_by_side(caller.context, alert_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/alerts/{alert_id}/decide")
def decide(
    request: Request,
    caller: PostCallerDep,
    alert_id: int,
    outcome: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=4000)],
    engagement: Annotated[str, Form(max_length=5)] = "",
    result: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record the decision; htmx swaps the alert in place, a plain form reloads the page."""
    decided = caller.state.services.alerts.decide(
        caller.context,
        alert_id,
        outcome=outcome,
        note=note,
        engagement={"yes": True, "no": False}.get(engagement),
        result=result or None,
    )
    if request.headers.get("hx-request"):
        fragment = TEMPLATES.TemplateResponse(
            request, "alert.html", {"a": decided, "csrf": request.state.csrf}
        )
        return keep_session(request, fragment)
    return RedirectResponse(f"/live/{decided.deployment_id}", status_code=303)
