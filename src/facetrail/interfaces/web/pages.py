"""Console pages: sign-in, sign-out, home; the role pages live in their own modules."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from facetrail.core import identity
from facetrail.core.access import PermissionDeniedError
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.errors import FacetrailError
from facetrail.interfaces.api.deps import StateDep
from facetrail.interfaces.web.caller import (
    CallerDep,
    CsrfRefused,
    SignInRequired,
    codec,
    console_caller,
)
from facetrail.interfaces.web.render import keep_session, page
from facetrail.interfaces.web.session import (
    CSRF_COOKIE,
    LOCKOUT_S,
    MAX_FAILED_SIGN_INS,
    SESSION_COOKIE,
    Session,
    csrf_matches,
    new_csrf,
    set_session_cookie,
)

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
CONSOLE_TOKEN_DAYS = 1


def _signin(request: Request, status: int = 200, error: str = "") -> Response:
    request.state.csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
    return page(request, "signin.html", None, status_code=status, error=error)


@router.get("/")
def sign_in_page(request: Request, state: StateDep) -> Response:
    """The sign-in page (signed-in users go to their home page)."""
    try:
        console_caller(request, state)
    except FacetrailError:
        return _signin(request)
    return RedirectResponse("/home", status_code=303)


def _locked(state: StateDep, name: str) -> bool:
    since = datetime.now(UTC) - timedelta(seconds=LOCKOUT_S)
    with state.services.kernel.reader() as session:
        return identity.failed_sign_ins(session, name, since) >= MAX_FAILED_SIGN_INS


@router.post("/login")
def log_in(
    request: Request,
    state: StateDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Password sign-in: a session cookie; locked after repeated failures (all audited)."""
    if not csrf_matches(request, csrf, None):
        return _signin(request, 403, "the form is missing its security token (CSRF): reload")
    kernel = state.services.kernel
    name = username.strip().lower()
    if _locked(state, name):
        with kernel.database.transaction() as session:
            append_audit(
                session,
                actor=name,
                action="console.lockout",
                outcome="refused",
                target=name,
                details={"reason": f"{MAX_FAILED_SIGN_INS} failed sign-ins"},
            )
        log.info("console sign-in locked: user=%s", name)
        return _signin(
            request,
            429,
            f"too many failed sign-ins for {name!r}: try again in {LOCKOUT_S // 60} minutes"
            " or ask an administrator",
        )
    try:
        issued = state.services.users.token(
            Context(actor=name, auth_method="password"),
            name,
            password,
            label="console session",
            days=CONSOLE_TOKEN_DAYS,
        )
    except PermissionDeniedError as error:
        return _signin(request, 401, str(error))

    request.state.csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
    signed_in = Session(issued.token, request.state.csrf, time.time())
    response = RedirectResponse("/home", status_code=303)
    set_session_cookie(request, response, codec(state).seal(signed_in))
    return keep_session(request, response)


@router.post("/logout")
def log_out(
    request: Request, caller: CallerDep, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """Sign out: the session cookie is dropped."""
    if not csrf_matches(request, csrf, caller.session):
        raise CsrfRefused("the form is missing its security token (CSRF): reload the page")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/home")
def home(request: Request, caller: CallerDep) -> Response:
    """The caller's landing page: the pages their role may use."""
    return page(request, "home.html", caller)


def _console_error(request: Request, error: Exception) -> Response:
    """Console errors as pages: sign-in for no session, the CLI's message otherwise."""
    assert isinstance(error, FacetrailError)
    if isinstance(error, SignInRequired):
        if request.method == "GET":
            return RedirectResponse("/", status_code=303)
        return _signin(request, 401, str(error))
    status = int(getattr(error, "http_status", 400))
    try:
        caller = console_caller(request, request.app.state.facetrail)
    except FacetrailError:
        caller = None
    return page(request, "error.html", caller, status_code=status, error=str(error))


def install_pages(app: FastAPI) -> None:
    """Console routes, with console errors rendered as pages (the API keeps problem+json)."""
    from facetrail.interfaces.web import (
        admin,
        auditor,
        federated,
        investigator,
        officer,
        operator,
    )

    for module in (investigator, operator, officer, auditor, admin, federated):
        router.include_router(module.router)
    app.include_router(router)
    app.state.console_error = _console_error
