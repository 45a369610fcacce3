"""Health, readiness and metrics: no authentication, no personal or biometric data."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from facetrail.interfaces.api.deps import StateDep
from facetrail.interfaces.api.problems import OPEN_TO_ANYONE

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    mode: str
    notice: str = ""


@router.get("/healthz", response_model=Health, openapi_extra=OPEN_TO_ANYONE)
def healthz(state: StateDep) -> Health:
    """200 once the kernel is loaded."""
    mode = "accounts" if state.services.kernel.accounts_exist() else "single-operator"
    return Health(status="ok", mode=mode, notice=state.notice())


@router.get("/readyz", response_model=Health, openapi_extra=OPEN_TO_ANYONE)
def readyz(state: StateDep, response: Response) -> Health:
    """200 when the database answers and the model pool has room, else 503."""
    try:
        mode = "accounts" if state.services.kernel.accounts_exist() else "single-operator"
    except Exception:
        response.status_code = 503
        return Health(status="database unavailable", mode="unknown")
    if state.pool.depth >= state.pool.capacity:
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return Health(status="busy", mode=mode)
    return Health(status="ready", mode=mode, notice=state.notice())


@router.get("/metrics", response_class=Response, openapi_extra=OPEN_TO_ANYONE)
def metrics(state: StateDep) -> Response:
    """Prometheus exposition."""
    state.metrics.queue_depth.set(state.pool.depth)
    state.metrics.deployments.set(state.deployments.running_count())
    return state.metrics.render()
