"""Who is calling: the bearer token's user, or the single operator of a home without accounts."""

from __future__ import annotations

import ipaddress
import logging

from fastapi import Request

from facetrail.core import identity
from facetrail.core.access import PermissionDeniedError
from facetrail.core.audit import append_audit
from facetrail.core.context import Context, new_request_id
from facetrail.core.kernel import Kernel
from facetrail.errors import AuthenticationError

log = logging.getLogger(__name__)

SINGLE_OPERATOR_NOTICE = (
    "single-operator home (no user accounts): served on loopback only, every call is allowed"
    " and audited under the server's user; create accounts with `facetrail users bootstrap`"
)


def is_loopback(host: str | None) -> bool:
    """Whether `host` (an address or 'localhost') is a loopback address."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def refuse_sign_in(kernel: Kernel, request: Request, reason: str) -> AuthenticationError:
    """Audit a refused API sign-in (never the token itself) and return the 401 error."""
    with kernel.database.transaction() as session:
        append_audit(
            session,
            actor="anonymous",
            action="api.authenticate",
            outcome="refused",
            target=request.url.path,
            details={"reason": reason},
        )
    log.info("api sign-in refused: path=%s reason=%s", request.url.path, reason)
    return AuthenticationError(reason)


def single_operator_context(kernel: Kernel, request: Request) -> Context:
    """The single operator; refused unless the caller is on loopback."""
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise PermissionDeniedError(
            "this home has no user accounts, so it serves loopback callers only"
        )
    return kernel.single_operator()


def api_context(kernel: Kernel, request: Request) -> Context:
    """The caller of one API request, from its bearer token (cookies are never read here)."""
    request_id = request.headers.get("x-request-id") or new_request_id()
    if not kernel.accounts_exist():
        context = single_operator_context(kernel, request)
        return Context(actor=context.actor, auth_method=context.auth_method, request_id=request_id)
    token = bearer_token(request)
    if token is None:
        raise refuse_sign_in(
            kernel,
            request,
            "this home has user accounts: send `Authorization: Bearer ft_<id>_<secret>`"
            " (get a token with `facetrail users token NAME` or POST /api/v1/tokens)",
        )
    try:
        with kernel.reader() as session:
            return identity.authenticate_token(session, token, request_id)
    except PermissionDeniedError as error:
        raise refuse_sign_in(kernel, request, str(error)) from None
