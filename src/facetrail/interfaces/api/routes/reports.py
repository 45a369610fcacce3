"""Reports: FOI figures and operations without a DPIA in force."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter

from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.services.transparency import DpiaFinding

router = APIRouter(tags=["reports"], responses=PROBLEM_RESPONSES)


@router.get("/reports/foi")
def foi(services: ServicesDep, context: ContextDep, start: date, end: date) -> dict[str, Any]:
    """The answers an FOI request asks for, from `start` to `end` (inclusive, UTC)."""
    return services.reports.foi(context, start, end)


@router.get("/reports/dpia-check", response_model=list[DpiaFinding])
def dpia_check(
    services: ServicesDep,
    context: ContextDep,
    start: date | None = None,
    end: date | None = None,
) -> list[DpiaFinding]:
    """Operations that ran without a DPIA in force."""
    return services.reports.dpia_check(context, start, end)
