"""Home maintenance: finish what a crash left undone."""

from __future__ import annotations

from fastapi import APIRouter

from facetrail.interfaces.api.deps import ContextDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.services.repair import RepairReport

router = APIRouter(tags=["maintenance"], responses=PROBLEM_RESPONSES)


@router.post("/repair", response_model=RepairReport)
def repair(services: ServicesDep, context: ContextDep) -> RepairReport:
    """Run interrupted erasures' removals again (photo files, index entries, copies, caches)
    and say which finished and which are still pending (= `facetrail repair --json`)."""
    return services.repair.run(context)
