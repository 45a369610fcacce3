"""The API's documentation pages, served offline: Swagger UI (vendored from npm as static
files, no CDN) at /api/docs and a plain, script-free reference at /api/docs/reference."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
ASSETS = "/api/docs/static"
SPEC = "/api/v1/openapi.json"
# Swagger UI needs inline styles; its scripts and everything else come from this server only.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " connect-src 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _reference_table(request: Request) -> tuple[str, str]:
    """The API's version and an HTML table of every operation (escaped)."""
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
    table = (
        "<table border=1 cellpadding=4><tr><th>method</th><th>path</th><th>operation</th>"
        f"<th>what it does</th></tr>{''.join(rows)}</table>"
    )
    return html.escape(spec["info"]["version"]), table


INTRO = (
    f"<p>Machine-readable: <a href={SPEC}>{SPEC}</a> (OpenAPI 3.1). Errors are"
    " application/problem+json (RFC 9457). Authenticate with"
    " <code>Authorization: Bearer ft_&lt;id&gt;_&lt;secret&gt;</code>.</p>"
)


@router.get("/api/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the OpenAPI document (vendored assets; the plain list without JS)."""
    version, table = _reference_table(request)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>facetrail API {version}</title>"
        f'<link rel=stylesheet href="{ASSETS}/swagger-ui/swagger-ui.css"></head><body>'
        f'<div id="swagger-ui" data-spec="{SPEC}"></div>'
        f"<noscript><h1>facetrail API {version}</h1>{INTRO}{table}</noscript>"
        f'<script src="{ASSETS}/swagger-ui/swagger-ui-bundle.js"></script>'
        f'<script src="{ASSETS}/docs.js"></script></body></html>'
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": POLICY})


@router.get("/api/docs/reference", response_class=HTMLResponse)
def reference(request: Request) -> str:
    """A plain reference page built from the OpenAPI document (no script at all)."""
    version, table = _reference_table(request)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>facetrail API</title>"
        f"<h1>facetrail API {version}</h1>{INTRO}"
        f"<p>Interactive: <a href=/api/docs>/api/docs</a>.</p>{table}</html>"
    )


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "a token from POST /api/v1/tokens or `facetrail users token` (ft_<id>_<secret>);"
    " none on a single-operator home served on loopback",
}


def _with_bearer_scheme(app: FastAPI) -> None:
    """Declare the bearer token in the OpenAPI document (Swagger UI's Authorize button),
    optional because a single-operator home takes none; endpoints open to anyone (health,
    metrics, signing in) say so with `openapi_extra=OPEN_TO_ANYONE`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER
            schema["security"] = [{"bearer": []}, {}]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI) -> None:
    """Add the docs pages, their vendored static files and the documented bearer scheme."""
    _with_bearer_scheme(app)
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="api-docs-static")
    app.include_router(router)
