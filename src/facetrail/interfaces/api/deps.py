"""FastAPI dependencies: the process's kernel and services, and each request's Context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.interfaces.api.auth import api_context
from facetrail.interfaces.api.metrics import Metrics
from facetrail.interfaces.api.pool import ModelPool
from facetrail.interfaces.api.services import Services
from facetrail.interfaces.api.state import ServerState


def server_state(request: Request) -> ServerState:
    """What the app lifespan built for this process."""
    state: ServerState = request.app.state.facetrail
    return state


StateDep = Annotated[ServerState, Depends(server_state)]


def kernel(state: StateDep) -> Kernel:
    return state.services.kernel


def services(state: StateDep) -> Services:
    return state.services


def pool(state: StateDep) -> ModelPool:
    return state.pool


def metrics(state: StateDep) -> Metrics:
    return state.metrics


def caller(request: Request, state: StateDep) -> Context:
    """The Context of this request's caller (bearer token; single operator without accounts)."""
    return api_context(state.services.kernel, request)


KernelDep = Annotated[Kernel, Depends(kernel)]
ServicesDep = Annotated[Services, Depends(services)]
PoolDep = Annotated[ModelPool, Depends(pool)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
ContextDep = Annotated[Context, Depends(caller)]
