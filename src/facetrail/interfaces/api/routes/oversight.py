"""DPIAs, retention, deletion requests and calibrations."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import OPEN_TO_ANYONE, PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.services.deletion import DeletionRequestInfo
from facetrail.services.retention import DueImage, PolicyInfo, RetentionReport
from facetrail.services.transparency import DpiaInfo

router = APIRouter(tags=["oversight"], responses=PROBLEM_RESPONSES)


class DpiaCreate(BaseModel):
    reference: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    version: str = Field(min_length=1, max_length=50)
    approved_on: date
    approver: str = Field(min_length=1, max_length=200)
    review_by: date | None = None


class DpiaWithdraw(BaseModel):
    on: date
    reason: str = Field(min_length=1, max_length=4000)


class PolicySet(BaseModel):
    scope: Literal["gallery", "legal_basis"]
    key: str = Field(min_length=1, max_length=500)
    days: int = Field(ge=1, le=36_600)


class RetentionRun(BaseModel):
    today: date | None = None
    dry_run: bool = False


class DeletionCreate(BaseModel):
    gallery: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=200)
    requester: str = Field(min_length=1, max_length=500)
    grounds: str = Field(min_length=1, max_length=4000)


class DeletionDecision(BaseModel):
    grant: bool
    reason: str = Field(min_length=1, max_length=4000)
    officer: str | None = Field(default=None, max_length=200)
    rank: str | None = Field(default=None, max_length=200)


@router.get("/dpias", response_model=list[DpiaInfo])
def list_dpias(services: ServicesDep, context: ContextDep) -> list[DpiaInfo]:
    """Every recorded DPIA."""
    return services.dpias.list(context)


@router.post("/dpias", response_model=DpiaInfo, status_code=201)
def add_dpia(body: DpiaCreate, services: ServicesDep, context: ContextDep) -> DpiaInfo:
    """Record an approved DPIA that authorisations can cite."""
    return services.dpias.add(
        context,
        body.reference,
        title=body.title,
        version=body.version,
        approved_on=body.approved_on,
        approver=body.approver,
        review_by=body.review_by,
    )


@router.post("/dpias/{reference}/withdraw", response_model=DpiaInfo)
def withdraw_dpia(
    reference: str, body: DpiaWithdraw, services: ServicesDep, context: ContextDep
) -> DpiaInfo:
    """Withdraw a DPIA from a date."""
    return services.dpias.withdraw(context, reference, on=body.on, reason=body.reason)


@router.get("/retention/policies", response_model=list[PolicyInfo])
def policies(services: ServicesDep, context: ContextDep) -> list[PolicyInfo]:
    """Every retention policy."""
    return services.retention.policies(context)


@router.put("/retention/policies", response_model=PolicyInfo)
def set_policy(body: PolicySet, services: ServicesDep, context: ContextDep) -> PolicyInfo:
    """Set how many days images of a gallery, legal basis or source are kept."""
    return services.retention.set_policy(context, body.scope, body.key, body.days)


@router.get("/retention/due", response_model=list[DueImage])
def due(services: ServicesDep, context: ContextDep, today: date | None = None) -> list[DueImage]:
    """Images due for deletion as of `today`."""
    return services.retention.due(context, today)


@router.post("/retention/run", response_model=RetentionReport)
def run_retention(
    body: RetentionRun, services: ServicesDep, context: ContextDep
) -> RetentionReport:
    """Delete every image that is due (or, with dry_run, say which)."""
    return services.retention.run(context, body.today, dry_run=body.dry_run)


@router.get("/deletion-requests", response_model=list[DeletionRequestInfo])
def list_deletions(
    services: ServicesDep,
    context: ContextDep,
    status: Literal["pending", "granted", "refused"] | None = None,
) -> list[DeletionRequestInfo]:
    """Deletion requests (of one status, or all)."""
    return services.deletions.list(context, status)


@router.post("/deletion-requests", response_model=DeletionRequestInfo, status_code=201)
def request_deletion(
    body: DeletionCreate, services: ServicesDep, context: ContextDep
) -> DeletionRequestInfo:
    """Record a deletion request."""
    return services.deletions.request(
        context,
        gallery=body.gallery,
        subject=body.subject,
        requester=body.requester,
        grounds=body.grounds,
    )


@router.post("/deletion-requests/{request_id}/decision", response_model=DeletionRequestInfo)
def decide_deletion(
    request_id: RecordId, body: DeletionDecision, services: ServicesDep, context: ContextDep
) -> DeletionRequestInfo:
    """Grant (erase at once) or refuse a deletion request."""
    return services.deletions.decide(
        context,
        request_id,
        grant=body.grant,
        reason=body.reason,
        officer=body.officer,
        rank=body.rank,
    )


@router.get("/calibrations", openapi_extra=OPEN_TO_ANYONE)
def calibrations(services: ServicesDep, context: ContextDep) -> list[dict[str, object]]:
    """Every stored calibration, oldest first."""
    return [c.as_dict() for c in services.calibrations.list(context)]
