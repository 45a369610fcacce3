"""Repair: finish what a crash left undone (journalled erasures), reported and audited."""

from __future__ import annotations

from pydantic import BaseModel

from facetrail.core.access import ADMINISTRATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.services.erasure import resume_erasures

REPAIR = declare("home.repair", "finish interrupted erasures", (ADMINISTRATOR,))


class RepairReport(BaseModel):
    finished: dict[int, dict[str, int]]  # erasure job id -> removed by kind
    pending: dict[int, str]  # erasure job id -> why it could not finish


class Repair:
    """The repair use case."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(REPAIR)
    def run(self, context: Context) -> RepairReport:
        """Run every pending erasure's removals again; audit what was finished."""
        outcome = resume_erasures(self.kernel)
        report = RepairReport(
            finished={j: r for j, r in outcome.items() if isinstance(r, dict)},
            pending={j: r for j, r in outcome.items() if isinstance(r, str)},
        )
        with self.kernel.unit_of_work(context) as work:
            work.audit(
                "home.repair",
                "ok" if not report.pending else "failed",
                details={"finished": sorted(report.finished), "pending": report.pending},
            )
        return report
