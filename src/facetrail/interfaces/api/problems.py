"""RFC 9457 problem+json for every error: the same message the CLI prints, status by class."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from facetrail.errors import BusyError, FacetrailError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


def problem_response(
    status: int, title: str, detail: str, request: Request, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A problem+json response for `request`."""
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers
    )


def status_of(error: FacetrailError) -> int:
    """The HTTP status an error class declares."""
    return int(getattr(error, "http_status", 400))


def _facetrail_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, FacetrailError)
    console = getattr(request.app.state, "console_error", None)
    if console is not None and not request.url.path.startswith("/api/"):
        response: Response = console(request, error)
        return response
    headers: dict[str, str] = {}
    if isinstance(error, BusyError):
        headers["Retry-After"] = str(error.retry_after)
    status = status_of(error)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="facetrail"'
    return problem_response(status, type(error).__name__, str(error), request, headers)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return problem_response(422, "InvalidInputError", "; ".join(parts), request)


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail: Any = error.detail
    return problem_response(
        error.status_code, "HTTPError", str(detail), request, dict(error.headers or {})
    )


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "InternalError", "internal error (see the server log)", request)


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every error into problem+json."""
    app.add_exception_handler(FacetrailError, _facetrail_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}, "description": text}
    for status, text in (
        (400, "bad request"),
        (401, "no or bad bearer token"),
        (403, "the role may not do this, or no authorisation covers it"),
        (404, "no such record"),
        (409, "already exists"),
        (413, "upload too large"),
        (415, "unsupported media type"),
        (422, "invalid input"),
        (503, "busy or unavailable; see Retry-After"),
    )
}

# An operation anyone may call (no bearer token), as the OpenAPI document says it.
OPEN_TO_ANYONE: dict[str, Any] = {"security": []}
