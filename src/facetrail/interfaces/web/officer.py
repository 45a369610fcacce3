"""Authorising officer pages: grant and revoke authorisations, deletion queue, reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from facetrail.interfaces.web.caller import CallerDep, PostCallerDep
from facetrail.interfaces.web.render import page
from facetrail.services.authorisations import AuthorisationRequest

router = APIRouter(include_in_schema=False)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@router.get("/authorise")
def authorise_page(request: Request, caller: CallerDep) -> Response:
    """Grant form and every authorisation."""
    services, context = caller.state.services, caller.context
    services.kernel.require(context, "authorisation.grant")
    return page(
        request,
        "authorise.html",
        caller,
        authorisations=services.authorisations.list(context),
        dpias=services.dpias.list(context),
        deployments=[],
    )


@router.post("/authorise/grant")
def grant(
    caller: PostCallerDep,
    kind: Annotated[str, Form(max_length=50)],
    purpose: Annotated[str, Form(max_length=4000)],
    case: Annotated[str, Form(max_length=200)],
    legal_basis: Annotated[str, Form(max_length=4000)],
    necessity: Annotated[str, Form(max_length=4000)],
    proportionality: Annotated[str, Form(max_length=4000)],
    galleries: Annotated[str, Form(max_length=4000)],
    valid_days: Annotated[int, Form(ge=1, le=3660)],
    dpia: Annotated[str, Form(max_length=200)] = "",
    watchlists: Annotated[str, Form(max_length=4000)] = "",
    for_user: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Grant: necessity, proportionality, scope and validity are required."""
    request = AuthorisationRequest(
        purpose=purpose,
        case_reference=case,
        legal_basis=legal_basis,
        necessity=necessity,
        proportionality=proportionality,
        officer_name="",
        officer_rank="",
        galleries=_names(galleries),
        dpia_reference=dpia or None,
        valid_days=valid_days,
        kind=kind,
        watchlists=_names(watchlists),
        requested_by=for_user or None,
    )
    caller.state.services.authorisations.grant(caller.context, request)
    return RedirectResponse("/authorise", status_code=303)


@router.post("/authorise/{authorisation_id}/revoke")
def revoke(
    caller: PostCallerDep, authorisation_id: int, reason: Annotated[str, Form(max_length=4000)]
) -> Response:
    caller.state.services.authorisations.revoke(caller.context, authorisation_id, reason)
    return RedirectResponse("/authorise", status_code=303)


@router.get("/deletions")
def deletions_page(request: Request, caller: CallerDep) -> Response:
    """The deletion-request queue."""
    requests = caller.state.services.deletions.list(caller.context)
    return page(request, "deletions.html", caller, requests=requests)


@router.post("/deletions/{request_id}/decide")
def decide_deletion(
    caller: PostCallerDep,
    request_id: int,
    grant: Annotated[str, Form(max_length=5)],
    reason: Annotated[str, Form(max_length=4000)],
) -> Response:
    caller.state.services.deletions.decide(
        caller.context, request_id, grant=grant == "yes", reason=reason
    )
    return RedirectResponse("/deletions", status_code=303)


@router.get("/deployments/report")
def report_by_number(deployment_id: int) -> Response:
    return RedirectResponse(f"/deployments/{deployment_id}/report", status_code=303)


@router.get("/deployments/{deployment_id}/report")
def report(request: Request, caller: CallerDep, deployment_id: int) -> Response:
    """A deployment's review figures."""
    result = caller.state.services.alerts.report(caller.context, deployment_id)
    return page(request, "report.html", caller, report=result)
