"""Federation for officers: step 1 (hit/no-hit at partners), step 2 (confirm, approve),
this node's identity, its partners and their policies, and the per-partner report.

Partners' own signed messages reach `interfaces/api/federation.py`, outside this document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from facetrail.interfaces.api.deps import ContextDep
from facetrail.interfaces.api.federated_services import FederationDep
from facetrail.interfaces.api.problems import PROBLEM, PROBLEM_RESPONSES, Problem
from facetrail.interfaces.api.routes.params import Name, RecordId
from facetrail.interfaces.api.uploads import read_image
from facetrail.services.federated_exchange import ConfirmRequest
from facetrail.services.federated_search import DEFAULT_TOP, FederatedSearchRequest
from facetrail.services.federation_policy import MAX_CANDIDATES, policy_from
from facetrail.services.federation_results import (
    ExchangeResult,
    FederatedSearchResult,
    NodeInfo,
    PartnerInfo,
    ReleaseInfo,
)
from facetrail.services.partners import PartnerRequest

router = APIRouter(prefix="/federation", tags=["federation"], responses=PROBLEM_RESPONSES)

Pem = Field(default=None, max_length=20_000)
MAX_TIMEOUT_S = 600.0


def _pem(text: str | None) -> bytes | None:
    return text.encode() if text and text.strip() else None


@router.post("/searches", response_model=FederatedSearchResult)
async def federated_search(
    federation: FederationDep,
    context: ContextDep,
    probe: Annotated[UploadFile, File(description="probe photo (JPEG or PNG)")],
    partners: Annotated[str, Form(min_length=1, max_length=2000, description="B,C")],
    authorisation: Annotated[int, Form(ge=1, le=2**62, description="federated_query id")],
    top: Annotated[int, Form(ge=1, le=MAX_CANDIDATES)] = DEFAULT_TOP,
    galleries: Annotated[str, Form(max_length=2000, description="partner galleries")] = "",
    via_router: Annotated[str | None, Form(max_length=2000)] = None,
    router_certificate: Annotated[str | None, Form(max_length=20_000)] = None,
    router_key: Annotated[str | None, Form(max_length=20_000)] = None,
    timeout: Annotated[float | None, Form(gt=0, le=MAX_TIMEOUT_S)] = None,
) -> FederatedSearchResult:
    """Step 1: ask partners hit/no-hit; each answers references and scores only
    (= `federated search --json`)."""
    data = await read_image(probe, "probe")
    request = FederatedSearchRequest(
        probe=data,
        partners=tuple(p.strip() for p in partners.split(",") if p.strip()),
        authorisation=authorisation,
        via_router=via_router or None,
        galleries=tuple(g.strip() for g in galleries.split(",") if g.strip()),
        top=top,
        timeout=timeout,
        router_certificate=_pem(router_certificate),
        router_key=router_key or None,
    )
    # Waits on partners (bounded per partner by the timeout), not on the model pool.
    return await run_in_threadpool(federation.federated.search, context, request)


class Confirm(BaseModel):
    reference: str = Field(min_length=1, max_length=64)
    note: str = Field(min_length=1, max_length=4000, description="the comparison note")
    via_router: str | None = Field(default=None, max_length=2000)
    router_certificate: str | None = Pem
    router_key: str | None = Pem
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)


PARTNER_FAILURES: dict[int | str, dict[str, Any]] = {
    502: {"model": Problem, "content": {PROBLEM: {}}, "description": "partner unreachable"},
    504: {"model": Problem, "content": {PROBLEM: {}}, "description": "partner did not answer"},
}


@router.post(
    "/searches/{request_id}/confirm", response_model=ExchangeResult, responses=PARTNER_FAILURES
)
async def confirm(
    request_id: Name, body: Confirm, federation: FederationDep, context: ContextDep
) -> ExchangeResult:
    """Step 2: the examiner confirms a step-1 candidate; the partner releases its core record,
    queues it for approval, or refuses (= `federated confirm --json`)."""
    request = ConfirmRequest(
        request_id,
        body.reference,
        body.note,
        body.via_router or None,
        body.timeout,
        _pem(body.router_certificate),
        body.router_key or None,
    )
    return await run_in_threadpool(federation.exchanges.confirm, context, request)


@router.get("/releases/pending", response_model=list[ReleaseInfo])
def pending_releases(federation: FederationDep, context: ContextDep) -> list[ReleaseInfo]:
    """Partners' step-2 requests awaiting a local officer's approval."""
    return federation.exchanges.pending(context)


class Decision(BaseModel):
    release: bool
    reason: str = Field(default="", max_length=4000)


@router.post("/releases/{exchange_id}/decision", response_model=ReleaseInfo)
def decide_release(
    exchange_id: RecordId, body: Decision, federation: FederationDep, context: ContextDep
) -> ReleaseInfo:
    """Approve (or refuse, with a reason) a queued release; the partner collects it."""
    return federation.exchanges.decide(
        context, exchange_id, release=body.release, reason=body.reason
    )


@router.get("/exchanges", response_model=list[ReleaseInfo])
def exchanges(
    federation: FederationDep,
    context: ContextDep,
    pending: Annotated[bool, Query(description="only those awaiting a decision")] = False,
    overdue: Annotated[bool, Query(description="only those past their deadline")] = False,
) -> list[ReleaseInfo]:
    """Step-2 exchanges both ways, newest first (= `federated releases`, `overdue`)."""
    if overdue:
        return federation.exchanges.overdue(context)
    return federation.exchanges.releases(context, pending_only=pending)


class Erase(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


@router.post("/exchanges/{exchange_id}/erase", response_model=ReleaseInfo)
def erase_received(
    exchange_id: RecordId, body: Erase, federation: FederationDep, context: ContextDep
) -> ReleaseInfo:
    """Erase a record a partner released to us, every copy of that release (audited)."""
    return federation.exchanges.erase_received(context, exchange_id, body.reason)


@router.get("/report", response_model=dict[str, Any])
def partner_report(
    federation: FederationDep,
    context: ContextDep,
    partner: Annotated[str, Query(min_length=1, max_length=100)],
) -> dict[str, Any]:
    """What was asked of and released to one partner (= `report federation --partner`)."""
    return federation.exchanges.report(context, partner)


@router.get("/node", response_model=NodeInfo)
def node(federation: FederationDep, context: ContextDep) -> NodeInfo:
    """This node's name, public key and fingerprints (= `node show --json`)."""
    return federation.node.show(context)


@router.get("/partners", response_model=list[PartnerInfo])
def list_partners(federation: FederationDep, context: ContextDep) -> list[PartnerInfo]:
    """Every partner, active or removed, with its policy in force."""
    return federation.partners.list(context)


@router.get("/partners/{name}", response_model=PartnerInfo)
def show_partner(name: Name, federation: FederationDep, context: ContextDep) -> PartnerInfo:
    """One partner and its policy in force."""
    return federation.partners.show(context, name)


class PartnerAdd(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=2000)
    public_key: str = Field(min_length=1, max_length=20_000, description="Ed25519, PEM")
    policy: dict[str, Any] = Field(description="the policy file's keys (see partners add)")
    tls_certificate: str | None = Pem


@router.post("/partners", response_model=PartnerInfo, status_code=201)
def add_partner(body: PartnerAdd, federation: FederationDep, context: ContextDep) -> PartnerInfo:
    """Register a partner with its first policy version (= `partners add`)."""
    request = PartnerRequest(
        body.name,
        body.url,
        body.public_key,
        policy_from(body.policy, "policy"),
        body.tls_certificate or None,
    )
    return federation.partners.add(context, request)


@router.put("/partners/{name}/policy", response_model=PartnerInfo)
def set_policy(
    name: Name, body: dict[str, Any], federation: FederationDep, context: ContextDep
) -> PartnerInfo:
    """A new version of the partner's policy (= `partners policy`)."""
    return federation.partners.set_policy(context, name, policy_from(body, "policy"))


class Removal(BaseModel):
    reason: str = Field(default="", max_length=4000)


@router.post("/partners/{name}/remove", response_model=PartnerInfo)
def remove_partner(
    name: Name, body: Removal, federation: FederationDep, context: ContextDep
) -> PartnerInfo:
    """Stop asking and answering a partner; its records stay (= `partners remove`)."""
    return federation.partners.remove(context, name, body.reason)
