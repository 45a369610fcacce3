"""Authorisations: grant, revoke, list, show."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.services.authorisations import DEFAULT_VALID_DAYS, AuthorisationRequest
from facetrail.services.results import AuthorisationInfo

router = APIRouter(tags=["authorisations"], responses=PROBLEM_RESPONSES)

Text = Field(min_length=1, max_length=4000)


class Grant(BaseModel):
    purpose: str = Text
    case: str = Field(min_length=1, max_length=200)
    legal_basis: str = Text
    necessity: str = Text
    proportionality: str = Text
    galleries: list[str] = Field(default_factory=list, max_length=100)
    officer: str = Field(default="", max_length=200)
    rank: str = Field(default="", max_length=200)
    dpia: str | None = Field(default=None, max_length=200)
    valid_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=3660)
    kind: Literal["retrospective_search", "live_deployment", "federated_query", "verification"] = (
        "retrospective_search"
    )
    max_candidates: int | None = Field(default=None, ge=1, le=200)
    offence_category: str | None = Field(default=None, max_length=200)
    watchlists: list[str] = Field(default_factory=list, max_length=100)
    for_user: str | None = Field(default=None, max_length=200)


class Revoke(BaseModel):
    reason: str = Text


@router.post("/authorisations", response_model=AuthorisationInfo, status_code=201)
def grant(body: Grant, services: ServicesDep, context: ContextDep) -> AuthorisationInfo:
    """Record an authorisation (necessity, proportionality, scope and validity required)."""
    request = AuthorisationRequest(
        purpose=body.purpose,
        case_reference=body.case,
        legal_basis=body.legal_basis,
        necessity=body.necessity,
        proportionality=body.proportionality,
        officer_name=body.officer,
        officer_rank=body.rank,
        galleries=tuple(body.galleries),
        dpia_reference=body.dpia,
        valid_days=body.valid_days,
        kind=body.kind,
        max_candidates=body.max_candidates,
        offence_category=body.offence_category,
        watchlists=tuple(body.watchlists),
        requested_by=body.for_user,
    )
    return services.authorisations.grant(context, request)


@router.get("/authorisations", response_model=list[AuthorisationInfo])
def list_authorisations(services: ServicesDep, context: ContextDep) -> list[AuthorisationInfo]:
    """Every authorisation, newest first."""
    return services.authorisations.list(context)


@router.get("/authorisations/{authorisation_id}", response_model=AuthorisationInfo)
def show(
    authorisation_id: RecordId, services: ServicesDep, context: ContextDep
) -> AuthorisationInfo:
    """One authorisation."""
    return services.authorisations.show(context, authorisation_id)


@router.post("/authorisations/{authorisation_id}/revoke", response_model=AuthorisationInfo)
def revoke(
    authorisation_id: RecordId, body: Revoke, services: ServicesDep, context: ContextDep
) -> AuthorisationInfo:
    """Revoke an authorisation now."""
    return services.authorisations.revoke(context, authorisation_id, body.reason)
