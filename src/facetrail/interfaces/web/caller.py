"""Who is using the console: the session cookie's user (never a bearer header)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Form, Request

from facetrail.core import access, identity
from facetrail.core.access import PermissionDeniedError
from facetrail.core.context import SESSION, Context, new_request_id
from facetrail.errors import FacetrailError
from facetrail.interfaces.api.auth import single_operator_context
from facetrail.interfaces.api.deps import StateDep
from facetrail.interfaces.api.state import ServerState
from facetrail.interfaces.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionCodec,
    csrf_matches,
    new_csrf,
)


class SignInRequired(FacetrailError):
    """No valid console session: the browser is sent to the sign-in page."""

    http_status = 401


class CsrfRefused(FacetrailError):
    """A state-changing request without this browser's CSRF token."""

    http_status = 403


@dataclass(frozen=True, slots=True)
class Caller:
    """The console user of one request."""

    context: Context
    session: Session | None
    state: ServerState

    @property
    def role(self) -> str | None:
        return self.context.role

    def may(self, permission: str) -> bool:
        """Whether the page should offer `permission` (the server checks again anyway)."""
        return self.role is None or access.allowed(self.role, permission)


def codec(state: ServerState) -> SessionCodec:
    """The process's session codec (built on first use from the home's key)."""
    existing: SessionCodec | None = getattr(state, "session_codec", None)
    if existing is None:
        existing = SessionCodec(state.services.kernel.home)
        state.session_codec = existing  # type: ignore[attr-defined]
    return existing


def console_caller(request: Request, state: StateDep) -> Caller:
    """The signed-in console user (or the single operator of a home without accounts)."""
    request.state.csrf = request.cookies.get("ft_csrf") or new_csrf()
    kernel = state.services.kernel
    if not kernel.accounts_exist():
        return Caller(single_operator_context(kernel, request), None, state)
    session = codec(state).open(request.cookies.get("ft_session"))
    if session is None:
        raise SignInRequired("sign in first (or your session was idle too long)")
    try:
        with kernel.reader() as db:
            context = identity.authenticate_token(db, session.token, new_request_id())
    except PermissionDeniedError as error:
        raise SignInRequired(str(error)) from None
    request.state.session = replace(session, seen=time.time())
    return Caller(replace(context, auth_method=SESSION), request.state.session, state)


CallerDep = Annotated[Caller, Depends(console_caller)]


def checked_caller(
    request: Request,
    caller: CallerDep,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Caller:
    """A console user making a state-changing request: refused without the CSRF token."""
    sent = csrf or request.headers.get(CSRF_HEADER)
    if not csrf_matches(request, sent, caller.session):
        raise CsrfRefused("the form is missing its security token (CSRF): reload the page")
    return caller


PostCallerDep = Annotated[Caller, Depends(checked_caller)]
