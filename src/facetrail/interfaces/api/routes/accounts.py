"""Users and tokens: sign in with a password for a token, whoami, create, disable, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, SecretStr

from facetrail.core.access import ROLES
from facetrail.core.context import Context
from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import OPEN_TO_ANYONE, PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.services.users import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, IssuedToken, UserInfo

router = APIRouter(tags=["accounts"], responses=PROBLEM_RESPONSES)


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=1, max_length=1000)
    label: str = Field(default="", max_length=200)
    days: int = Field(default=DEFAULT_TOKEN_DAYS, ge=1, le=MAX_TOKEN_DAYS)


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(description=f"one of {', '.join(ROLES)}", max_length=50)
    password: SecretStr = Field(min_length=1, max_length=1000)
    display_name: str = Field(default="", max_length=200)
    rank: str = Field(default="", max_length=200)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class Bootstrap(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=1, max_length=1000)
    display_name: str = Field(default="", max_length=200)


@router.post(
    "/users/bootstrap", response_model=IssuedToken, status_code=201, openapi_extra=OPEN_TO_ANYONE
)
def bootstrap(body: Bootstrap, services: ServicesDep, context: ContextDep) -> IssuedToken:
    """Create the first administrator (only in a home without accounts, from loopback)."""
    return services.users.bootstrap(
        context, body.name, body.password.get_secret_value(), body.display_name
    )


@router.post("/tokens", response_model=IssuedToken, status_code=201, openapi_extra=OPEN_TO_ANYONE)
def issue_token(body: TokenRequest, services: ServicesDep) -> IssuedToken:
    """A new token for the named user, given their password (no bearer needed; audited)."""
    return services.users.token(
        Context(actor=body.name, auth_method="password"),
        body.name,
        body.password.get_secret_value(),
        label=body.label,
        days=body.days,
    )


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(
    token_id: RecordId, body: Reason, services: ServicesDep, context: ContextDep
) -> None:
    """Revoke one API token."""
    services.users.revoke_token(context, token_id, body.reason)


@router.get("/whoami", openapi_extra=OPEN_TO_ANYONE)
def whoami(services: ServicesDep, context: ContextDep) -> dict[str, Any]:
    """Who the calls run as."""
    return services.users.whoami(context)


@router.get("/users", response_model=list[UserInfo])
def list_users(services: ServicesDep, context: ContextDep) -> list[UserInfo]:
    """Every account."""
    return services.users.list(context)


@router.post("/users", response_model=UserInfo, status_code=201)
def create_user(body: UserCreate, services: ServicesDep, context: ContextDep) -> UserInfo:
    """Add an account."""
    return services.users.create(
        context,
        body.name,
        role=body.role,
        password=body.password.get_secret_value(),
        display_name=body.display_name,
        rank=body.rank,
    )


@router.post("/users/{name}/disable", response_model=UserInfo)
def disable_user(name: str, body: Reason, services: ServicesDep, context: ContextDep) -> UserInfo:
    """Disable an account and revoke its tokens."""
    return services.users.disable(context, name, body.reason)
