"""The FastAPI application: one kernel per process, loaded in the lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from facetrail.config import Settings
from facetrail.core.kernel import Kernel
from facetrail.facade import Facetrail
from facetrail.interfaces.api.docs import install_docs
from facetrail.interfaces.api.federation import router as federation_router
from facetrail.interfaces.api.metrics import Metrics
from facetrail.interfaces.api.pool import ModelPool
from facetrail.interfaces.api.problems import install_problem_handlers
from facetrail.interfaces.api.routes import api
from facetrail.interfaces.api.services import build_services
from facetrail.interfaces.api.state import ServerState
from facetrail.interfaces.api.system import router as system_router
from facetrail.version import __version__

DEFAULT_MODEL_WORKERS = 2
DEFAULT_MODEL_QUEUE = 8


def create_app(
    settings: Settings | None = None,
    *,
    model_workers: int | None = None,
    model_queue: int | None = None,
    console: bool = True,
) -> FastAPI:
    """The app serving `settings`' home (default: from the environment, $FACETRAIL_HOME)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kernel = Kernel(settings or Settings())
        workers = model_workers or int(
            os.environ.get("FACETRAIL_MODEL_WORKERS", DEFAULT_MODEL_WORKERS)
        )
        queue = (
            model_queue
            if model_queue is not None
            else int(os.environ.get("FACETRAIL_MODEL_QUEUE", DEFAULT_MODEL_QUEUE))
        )
        state = ServerState(build_services(kernel), ModelPool(workers, queue), metrics)
        app.state.facetrail = state
        # Partners' signed messages are answered by this node too (federation router).
        app.state.federation = Facetrail(kernel.settings, kernel=kernel)
        try:
            yield
        finally:
            state.deployments.stop_all()
            state.pool.close()
            kernel.close()

    metrics = Metrics()
    app = FastAPI(
        title="facetrail",
        version=__version__,
        description=(
            "Accountable face identification. Candidates are investigative leads, not"
            " identifications. Errors are RFC 9457 problem+json."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.middleware("http")(metrics.middleware)
    install_problem_handlers(app)
    app.include_router(system_router)
    install_docs(app)
    app.include_router(api)
    # Partner-to-partner messages (signed bytes, not REST): outside the OpenAPI document.
    app.include_router(federation_router, include_in_schema=False)
    if console:
        from facetrail.interfaces.web import install_console

        install_console(app)
    return app


def app_from_environment() -> FastAPI:
    """The app for `uvicorn --factory` (each worker process loads its own kernel)."""
    return create_app()
