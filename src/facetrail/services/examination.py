"""The examiner's recorded outcome of a search: potential candidate, no candidate, inconclusive."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from facetrail.core.access import INVESTIGATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.store.models import AuditEntry

EXAMINE = declare(
    "search.outcome", "record the examiner's outcome of a search they ran", (INVESTIGATOR,)
)
OUTCOMES = ("potential_candidate", "no_candidate", "inconclusive")
MAX_NOTE = 4000


@dataclass(frozen=True, slots=True)
class OutcomeRequest:
    """The search (its audit entry), the outcome, the subject if any, and the examiner's note."""

    search_audit_id: int
    outcome: str
    note: str
    subject: str | None = None


class OutcomeInfo(BaseModel):
    audit_id: int
    search_audit_id: int
    outcome: str
    subject: str | None
    note: str
    examiner: str


class Examinations:
    """Recording what the examiner concluded from a candidate list (audited)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(EXAMINE)
    def record(self, context: Context, request: OutcomeRequest) -> OutcomeInfo:
        """Record the outcome of the caller's own search, once per search."""
        if request.outcome not in OUTCOMES:
            raise InvalidInputError(
                f"outcome must be one of {', '.join(OUTCOMES)}, got {request.outcome!r}"
            )
        note = request.note.strip()
        if not note or len(note) > MAX_NOTE:
            raise InvalidInputError(f"an outcome needs a note (1-{MAX_NOTE} characters)")
        if request.outcome == "potential_candidate" and not (request.subject or "").strip():
            raise InvalidInputError("a potential candidate outcome names the candidate subject")
        with self.kernel.unit_of_work(context) as work:
            search = work.session.get(AuditEntry, request.search_audit_id)
            if search is None or search.action != "search" or search.actor != context.actor:
                raise NotFoundError(f"search {request.search_audit_id} is not one of your searches")
            entry = work.audit(
                "search.outcome",
                target=str(search.id),
                gallery=search.gallery,
                authorisation_id=search.authorisation_id,
                details={
                    "search_audit_id": search.id,
                    "outcome": request.outcome,
                    "subject": (request.subject or "").strip() or None,
                    "note": note,
                },
            )
            work.session.flush()
            return OutcomeInfo(
                audit_id=entry.id,
                search_audit_id=search.id,
                outcome=request.outcome,
                subject=(request.subject or "").strip() or None,
                note=note,
                examiner=context.actor,
            )
