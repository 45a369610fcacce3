"""The audit trail: newest-first pages with filters, chain verification, signed export."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["audit"], responses=PROBLEM_RESPONSES)


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: str
    actor: str
    action: str
    outcome: str
    authorisation_id: int | None
    gallery: str | None
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    total: int
    offset: int
    limit: int


class ChainStatus(BaseModel):
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str = ""


@router.get("/audit", response_model=AuditPage)
def audit_entries(
    services: ServicesDep,
    context: ContextDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditPage:
    """Audit entries newest first, filtered by action prefix, actor and outcome."""
    entries = services.audit.entries(context)
    picked = [
        e
        for e in reversed(entries)
        if (action is None or e["action"].startswith(action))
        and (actor is None or e["actor"] == actor)
        and (outcome is None or e["outcome"] == outcome)
    ]
    page = [AuditEntryOut(**e) for e in picked[offset : offset + limit]]
    return AuditPage(entries=page, total=len(picked), offset=offset, limit=limit)


@router.get("/audit/verify", response_model=ChainStatus)
def audit_verify(services: ServicesDep, context: ContextDep) -> ChainStatus:
    """Check the audit trail's hash chain."""
    check = services.audit.verify(context)
    return ChainStatus(
        ok=check.ok, entries=check.entries, first_bad_id=check.first_bad_id, problem=check.problem
    )


@router.post(
    "/audit/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "signed export"}},
)
def audit_export(services: ServicesDep, context: ContextDep) -> Response:
    """The whole trail as a signed (Ed25519) JSON document, as `facetrail audit export`."""
    folder = Path(tempfile.mkdtemp(prefix="facetrail-export-"))
    try:
        target = folder / "audit-export.json"
        services.audit_export.export(context, target)
        return Response(
            target.read_bytes(),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="audit-export.json"'},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/audit/checkpoint", response_model=dict[str, Any])
def audit_checkpoint(services: ServicesDep, context: ContextDep) -> dict[str, Any]:
    """A signed statement of the audit head (id, hash, count, time) for an overseer, with
    the server's signing key (= `facetrail audit checkpoint`); audited."""
    return services.audit_export.checkpoint(context)
