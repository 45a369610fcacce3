"""Health, readiness and metrics: no authentication, no personal or biometric data."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from facetrail.interfaces.api.deps import StateDep

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    mode: str
    notice: str = ""


@router.get("/healthz", response_model=Health)
def healthz(state: StateDep) -> Health:
    """200 once the kernel is loaded."""
    mode = "accounts" if state.services.kernel.accounts_exist() else "single-operator"
    return Health(status="ok", mode=mode, notice=state.notice())


@router.get("/readyz", response_model=Health)
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


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Prometheus exposition."""
    state.metrics.queue_depth.set(state.pool.depth)
    state.metrics.deployments.set(state.deployments.running_count())
    return state.metrics.render()


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
def docs(request: Request) -> str:
    """A plain reference page built from the OpenAPI document (no CDN, no script)."""
    spec = request.app.openapi()
    rows = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            summary = operation.get("summary", "")
            text = (operation.get("description") or "").split("\n")[0]
            rows.append(
                f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(summary)}</td><td>{html.escape(text)}</td></tr>"
            )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>facetrail API</title>"
        f"<h1>facetrail API {html.escape(spec['info']['version'])}</h1>"
        "<p>Machine-readable: <a href=/api/v1/openapi.json>/api/v1/openapi.json</a> (OpenAPI"
        " 3.1). Errors are application/problem+json (RFC 9457). Authenticate with"
        " <code>Authorization: Bearer ft_&lt;id&gt;_&lt;secret&gt;</code>.</p>"
        "<table border=1 cellpadding=4><tr><th>method</th><th>path</th><th>operation</th>"
        f"<th>what it does</th></tr>{''.join(rows)}</table></html>"
    )
