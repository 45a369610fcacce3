"""Rendering console pages: Jinja2 with autoescaping, the caller's role-aware navigation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from facetrail.interfaces.web.caller import Caller, codec
from facetrail.interfaces.web.session import (
    ensure_csrf_cookie,
    set_session_cookie,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (page, title, the permission it needs to be shown)
NAVIGATION = (
    ("/search", "Search", "search"),
    ("/federated", "Federated search", "federation.search"),
    ("/federated/releases", "Partner releases", "federation.approve"),
    ("/live", "Live", "watch"),
    ("/authorise", "Authorisations", "authorisation.grant"),
    ("/deletions", "Deletion requests", "deletion.read"),
    ("/audit", "Audit trail", "audit.read"),
    ("/foi", "FOI report", "report.foi"),
    ("/admin", "Administration", "users.manage"),
)


def keep_session(request: Request, response: Response) -> Response:
    """Refresh the session's idle clock and make sure the browser has a CSRF cookie."""
    ensure_csrf_cookie(request, response)
    session = getattr(request.state, "session", None)
    state = getattr(request.app.state, "facetrail", None)
    if session is not None and state is not None:
        set_session_cookie(request, response, codec(state).seal(session))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
        " frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    return response


def page(
    request: Request, name: str, caller: Caller | None, status_code: int = 200, **values: Any
) -> Response:
    """A full page for `caller` (None: signed out)."""
    notice = caller.state.notice() if caller else request.app.state.facetrail.notice()
    nav = [
        (href, title) for href, title, permission in NAVIGATION if caller and caller.may(permission)
    ]
    response: HTMLResponse = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "caller": caller,
            "context": caller.context if caller else None,
            "nav": nav,
            "notice": notice,
            "csrf": getattr(request.state, "csrf", ""),
            "now": time.time(),
            **values,
        },
        status_code=status_code,
    )
    return keep_session(request, response)
