"""Transparency from facetrail's own records: DPIAs, the FOI report and the DPIA check.

Every FOI figure is counted from the audit trail or the records it describes (searches
by purpose and legal basis, authorisations by rank, deletions by source), so an auditor
can recount each one from `facetrail audit export`. Live deployment and alert figures
come from the `deployments` / `alerts` tables when this installation has them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, bindparam, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from facetrail.core.access import (
    ADMINISTRATOR,
    AUDITOR,
    AUTHORISING_OFFICER,
    ROLES,
    declare,
    requires,
)
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import ConflictError, InvalidInputError, NotFoundError
from facetrail.services.federation_counts import federation_counts
from facetrail.services.foi_timeline import timeline
from facetrail.services.retention_policy import effective_retain_until, policies_in_force
from facetrail.store.models import AuditEntry, Authorisation, Gallery, Image, Subject
from facetrail.store.oversight_models import DeletionRequest, Dpia
from facetrail.store.types import UTCDateTime, utcnow

DPIA_MANAGE = declare("dpia.manage", "record and withdraw DPIAs", (ADMINISTRATOR,))
DPIA_READ = declare("dpia.read", "list DPIAs", ROLES)
REPORT_FOI = declare(
    "report.foi", "transparency (freedom of information) report", (AUTHORISING_OFFICER, AUDITOR)
)
REPORT_DPIA_CHECK = declare(
    "report.dpia_check", "list operations that ran without a DPIA", (AUTHORISING_OFFICER, AUDITOR)
)


# Audit actions that process faces and so should run under a DPIA: local ones, and
# federation asked by this node (both under the authorisation's DPIA).
OPERATION_ACTIONS = (
    "search",
    "verify",
    "live.deployment.start",
    "federation.search",
    "federation.confirm",
)
OPERATION_PREFIXES = ("federation.query.",)
# Federation a partner asked of this node: searching our galleries, releasing a record.
# No local authorisation covers it: the DPIA is the one the partner's policy cites.
PARTNER_OPERATIONS = (
    "federation.answer.search",
    "federation.answer.confirm",
    "federation.release.approve",
)
FEDERATION_IN = "federation.answer.search"  # step-1 queries partners made of this node
FEDERATION_OUT = "federation.search"  # step-1 queries this node made of partners
ERASURE_ACTIONS = ("retention.delete", "deletion.delete")


class DpiaInfo(BaseModel):
    reference: str
    title: str
    version: str
    approved_on: date
    approver: str
    review_by: date | None
    withdrawn_on: date | None
    withdrawn_reason: str | None


class DpiaFinding(BaseModel):
    audit_id: int
    occurred_at: datetime
    action: str
    actor: str
    authorisation_id: int | None
    problem: str


def _dpia_info(dpia: Dpia) -> DpiaInfo:
    return DpiaInfo(
        reference=dpia.reference,
        title=dpia.title,
        version=dpia.version,
        approved_on=dpia.approved_on,
        approver=dpia.approver,
        review_by=dpia.review_by,
        withdrawn_on=dpia.withdrawn_on,
        withdrawn_reason=dpia.withdrawn_reason,
    )


def in_force(dpia: Dpia, start: date, end: date) -> bool:
    """Whether the DPIA was in force at any time from `start` to `end` (inclusive)."""
    return dpia.approved_on <= end and (dpia.withdrawn_on is None or dpia.withdrawn_on > start)


def window(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [start 00:00, day after end 00:00) for inclusive dates."""
    if end < start:
        raise InvalidInputError(f"--to {end} is before --from {start}")
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(end + timedelta(days=1), time(), UTC),
    )


def is_operation(action: str) -> bool:
    """Whether an audit action processed faces (and so needed a DPIA)."""
    return (
        action in OPERATION_ACTIONS
        or action in PARTNER_OPERATIONS
        or action.startswith(OPERATION_PREFIXES)
    )


class DpiaService:
    """DPIA records: add, withdraw, list."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(DPIA_MANAGE)
    def add(
        self,
        context: Context,
        reference: str,
        *,
        title: str,
        version: str,
        approved_on: date,
        approver: str,
        review_by: date | None = None,
    ) -> DpiaInfo:
        """Record an approved DPIA that authorisations can cite."""
        fields = {"reference": reference, "title": title, "version": version, "approver": approver}
        for name, value in fields.items():
            if not value.strip():
                raise InvalidInputError(f"a DPIA needs a {name}")
        if review_by is not None and review_by <= approved_on:
            raise InvalidInputError(f"review date {review_by} is not after approval {approved_on}")
        with self.kernel.database.transaction() as session:
            if session.scalar(select(Dpia.id).where(Dpia.reference == reference.strip())):
                raise ConflictError(f"DPIA {reference!r} is already recorded")
            dpia = Dpia(
                reference=reference.strip(),
                title=title.strip(),
                version=version.strip(),
                approved_on=approved_on,
                approver=approver.strip(),
                review_by=review_by,
                created_by=context.actor,
            )
            session.add(dpia)
            session.flush()
            append_audit(
                session,
                actor=context.actor,
                action="dpia.add",
                outcome="ok",
                target=dpia.reference,
                details={
                    "title": dpia.title,
                    "version": dpia.version,
                    "approved_on": str(approved_on),
                    "approver": dpia.approver,
                },
            )
            return _dpia_info(dpia)

    @requires(DPIA_MANAGE)
    def withdraw(self, context: Context, reference: str, *, on: date, reason: str) -> DpiaInfo:
        """Mark a DPIA withdrawn from `on` (authorisations can no longer cite it)."""
        if not reason.strip():
            raise InvalidInputError("withdrawing a DPIA needs a reason")
        with self.kernel.database.transaction() as session:
            dpia = session.scalar(select(Dpia).where(Dpia.reference == reference.strip()))
            if dpia is None:
                raise NotFoundError(f"DPIA {reference!r} is not recorded")
            dpia.withdrawn_on = on
            dpia.withdrawn_reason = reason.strip()
            append_audit(
                session,
                actor=context.actor,
                action="dpia.withdraw",
                outcome="ok",
                target=dpia.reference,
                details={"on": str(on), "reason": dpia.withdrawn_reason},
            )
            return _dpia_info(dpia)

    @requires(DPIA_READ)
    def list(self, context: Context) -> list[DpiaInfo]:
        """Every recorded DPIA, by reference."""
        with self.kernel.database.reader() as session:
            return [_dpia_info(d) for d in session.scalars(select(Dpia).order_by(Dpia.reference))]


class TransparencyService:
    """The FOI report and the DPIA check."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(REPORT_FOI)
    def foi(self, context: Context, start: date, end: date) -> dict[str, Any]:
        """The answers an FOI request asks for, from `start` to `end` (inclusive, UTC)."""
        begin, finish = window(start, end)
        with self.kernel.database.reader() as session:
            entries = list(
                session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.occurred_at >= begin, AuditEntry.occurred_at < finish)
                    .order_by(AuditEntry.id)
                )
            )
            authorisations = {a.id: a for a in session.scalars(select(Authorisation))}
            report: dict[str, Any] = {
                "period": {"from": str(start), "to": str(end)},
                "generated_at": utcnow().isoformat(),
                "searches": _searches(entries, authorisations),
                "verifications": sum(
                    1 for e in entries if e.action == "verify" and e.outcome == "ok"
                ),
                "deployments": _deployments(session, begin, finish),
                "alerts": _alerts(session, begin, finish),
                "over_time": timeline(entries, _alert_times(session, begin, finish), start, end),
                "images": _images(session, entries, end),
                "deletion_requests": _deletion_requests(session, begin, finish),
                "collaborations": {
                    "federated_queries_in": _count(entries, FEDERATION_IN),
                    "federated_queries_out": _count(entries, FEDERATION_OUT),
                },
                "federation": federation_counts(entries),
                "dpias_in_force": [
                    _dpia_info(d).model_dump(mode="json")
                    for d in session.scalars(select(Dpia).order_by(Dpia.reference))
                    if in_force(d, start, end)
                ],
                "authorisations": _authorisations(entries, authorisations),
                "access_refusals": sum(1 for e in entries if e.action == "access.denied"),
                # Every account event: who created, approved or disabled whom, and when.
                "account_events": [
                    {
                        "at": e.occurred_at.isoformat(),
                        "action": e.action,
                        "actor": e.actor,
                        "account": e.target,
                        "outcome": e.outcome,
                        "role": (e.details or {}).get("role"),
                    }
                    for e in entries
                    if e.action.startswith("users.") and e.action != "users.token"
                ],
            }
        report["faces_processed"] = (
            report["searches"]["faces_processed"] + report["deployments"]["faces_processed"]
        )
        with self.kernel.database.transaction() as session:
            append_audit(
                session,
                actor=context.actor,
                action="report.foi",
                outcome="ok",
                details={"from": str(start), "to": str(end)},
            )
        return report

    @requires(REPORT_DPIA_CHECK)
    def dpia_check(
        self, context: Context, start: date | None = None, end: date | None = None
    ) -> list[DpiaFinding]:
        """Operations that ran without a DPIA in force (default: the whole trail)."""
        with self.kernel.database.reader() as session:
            query = select(AuditEntry).where(AuditEntry.outcome == "ok").order_by(AuditEntry.id)
            if start is not None or end is not None:
                begin, finish = window(start or date.min, end or date.max - timedelta(days=1))
                query = query.where(
                    AuditEntry.occurred_at >= begin, AuditEntry.occurred_at < finish
                )
            dpias = {d.reference: d for d in session.scalars(select(Dpia))}
            authorisations = {a.id: a for a in session.scalars(select(Authorisation))}
            findings = []
            for entry in session.scalars(query):
                if not is_operation(entry.action):
                    continue
                if entry.action in PARTNER_OPERATIONS:
                    problem = _partner_dpia_problem(entry, dpias)
                else:
                    problem = _dpia_problem(entry, authorisations, dpias)
                if problem:
                    findings.append(
                        DpiaFinding(
                            audit_id=entry.id,
                            occurred_at=entry.occurred_at,
                            action=entry.action,
                            actor=entry.actor,
                            authorisation_id=entry.authorisation_id,
                            problem=problem,
                        )
                    )
            return findings


def _dpia_problem(
    entry: AuditEntry, authorisations: dict[int, Authorisation], dpias: dict[str, Dpia]
) -> str | None:
    if entry.authorisation_id is None:
        return "ran without an authorisation, so without a DPIA reference"
    record = authorisations.get(entry.authorisation_id)
    if record is None:
        return f"authorisation {entry.authorisation_id} is not recorded"
    if not record.dpia_reference:
        return f"authorisation {record.id} cites no DPIA"
    dpia = dpias.get(record.dpia_reference)
    if dpia is None:
        return (
            f"authorisation {record.id} cites DPIA {record.dpia_reference}, which is not recorded"
        )
    day = entry.occurred_at.date()
    if not in_force(dpia, day, day):
        return f"DPIA {dpia.reference} was not in force on {day}"
    return None


def _partner_dpia_problem(entry: AuditEntry, dpias: dict[str, Dpia]) -> str | None:
    """What is wrong with the DPIA behind answering a partner (its policy's), if anything."""
    details = entry.details or {}
    if entry.action == "federation.answer.confirm" and details.get("status") != "released":
        return None  # queued for approval: nothing released yet (the approval is checked)
    partner = details.get("partner") or "?"
    version = details.get("policy_version")
    policy = f"{partner}'s policy" + (f" v{version}" if version else "")
    reference = details.get("dpia")
    if not reference:
        return f"answered partner {partner} under {policy}, which cites no DPIA"
    dpia = dpias.get(str(reference))
    if dpia is None:
        return f"{policy} cites DPIA {reference}, which is not recorded"
    day = entry.occurred_at.date()
    if not in_force(dpia, day, day):
        return f"DPIA {dpia.reference} ({policy}) was not in force on {day}"
    return None


def _count(entries: list[AuditEntry], action: str) -> int:
    return sum(1 for e in entries if e.action == action and e.outcome == "ok")


def _searches(
    entries: list[AuditEntry], authorisations: dict[int, Authorisation]
) -> dict[str, Any]:
    done = [e for e in entries if e.action == "search" and e.outcome == "ok"]
    by_purpose: Counter[tuple[str, str]] = Counter()
    for entry in done:
        record = authorisations.get(entry.authorisation_id or -1)
        key = (record.purpose, record.legal_basis) if record else ("(unknown)", "(unknown)")
        by_purpose[key] += 1
    by_basis: Counter[str] = Counter()
    for (_, basis), count in by_purpose.items():
        by_basis[basis] += count
    return {
        "total": len(done),
        "refused": sum(1 for e in entries if e.action == "search" and e.outcome == "refused"),
        "by_purpose": [
            {"purpose": purpose, "legal_basis": basis, "count": count}
            for (purpose, basis), count in sorted(by_purpose.items())
        ],
        "by_legal_basis": dict(sorted(by_basis.items())),
        "faces_processed": sum(int(e.details.get("faces", 0) or 0) for e in done),
    }


def _authorisations(
    entries: list[AuditEntry], authorisations: dict[int, Authorisation]
) -> dict[str, Any]:

    granted = [
        authorisations[e.authorisation_id]
        for e in entries
        if e.action == "authorisation.grant"
        and e.outcome == "ok"
        and e.authorisation_id in authorisations
    ]
    by_rank = Counter((a.officer_rank, a.kind) for a in granted)
    return {
        "granted": len(granted),
        "revoked": _count(entries, "authorisation.revoke"),
        "by_kind": dict(sorted(Counter(a.kind for a in granted).items())),
        "by_rank": [
            {"rank": rank, "kind": kind, "count": count}
            for (rank, kind), count in sorted(by_rank.items())
        ],
        "granted_by": [
            {
                "authorisation_id": a.id,
                "rank": a.officer_rank,
                "officer": a.officer_name,
                "kind": a.kind,
                "purpose": a.purpose,
                "offence_category": a.offence_category,
                "dpia": a.dpia_reference,
            }
            for a in granted
        ],
    }


def _images(session: Session, entries: list[AuditEntry], end: date) -> dict[str, Any]:
    """Images held now by source, those past their retention at `end`, enrolled and deleted."""
    policies = policies_in_force(session)
    held: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    rows = session.execute(
        select(Image, Gallery.name)
        .join(Subject, Image.subject_id == Subject.id)
        .join(Gallery, Subject.gallery_id == Gallery.id)
    )
    for image, gallery in rows:
        held[image.source] += 1
        until = effective_retain_until(image, gallery, policies)
        if (until is not None and until < end) or not image.lawfully_held:
            overdue[image.source] += 1
    enrolled = Counter(
        str(e.details.get("source", ""))
        for e in entries
        if e.action == "enrol" and e.outcome == "ok"
    )
    deleted = Counter(
        str(e.details.get("source", "")) for e in entries if e.action in ERASURE_ACTIONS
    )
    return {
        "held_total": sum(held.values()),
        "held_by_source": dict(sorted(held.items())),
        "retained_past_retention_date_by_source": dict(sorted(overdue.items())),
        "enrolled_by_source": dict(sorted(enrolled.items())),
        "deleted_by_source": dict(sorted(deleted.items())),
        "deleted_by_retention": sum(1 for e in entries if e.action == "retention.delete"),
        "deleted_by_request": sum(1 for e in entries if e.action == "deletion.delete"),
    }


def _deletion_requests(session: Session, begin: datetime, finish: datetime) -> dict[str, int]:
    received = session.scalars(
        select(DeletionRequest.id).where(
            DeletionRequest.received_at >= begin, DeletionRequest.received_at < finish
        )
    ).all()
    decided = Counter(
        session.scalars(
            select(DeletionRequest.status).where(
                DeletionRequest.decided_at >= begin, DeletionRequest.decided_at < finish
            )
        )
    )
    return {
        "received": len(received),
        "granted": decided["granted"],
        "refused": decided["refused"],
        "pending_now": len(
            session.scalars(
                select(DeletionRequest.id).where(DeletionRequest.status == "pending")
            ).all()
        ),
    }


def _has_table(session: Session, name: str) -> bool:
    return inspect(session.get_bind()).has_table(name)


def _between(sql: str) -> Any:
    return text(sql).bindparams(
        bindparam("begin", type_=UTCDateTime()), bindparam("finish", type_=UTCDateTime())
    )


def _deployments(session: Session, begin: datetime, finish: datetime) -> dict[str, Any]:
    """Live deployments started in the window (from the live tables, if installed)."""
    empty = {"available": False, "count": 0, "faces_processed": 0, "alerts": 0}
    if not _has_table(session, "deployments"):
        return empty
    try:
        count, faces, alerts = session.execute(
            _between(
                "SELECT COUNT(*), COALESCE(SUM(faces_processed), 0), COALESCE(SUM(alerts), 0)"
                " FROM deployments WHERE started_at >= :begin AND started_at < :finish"
            ),
            {"begin": begin, "finish": finish},
        ).one()
    except SQLAlchemyError as error:
        return {**empty, "error": f"deployments table unreadable: {error.__class__.__name__}"}
    return {"available": True, "count": count, "faces_processed": int(faces), "alerts": int(alerts)}


def _alert_times(
    session: Session, begin: datetime, finish: datetime
) -> list[tuple[datetime, str | None]]:
    """When each alert of the window was raised and its decision (none without live tables)."""
    if not _has_table(session, "alerts"):
        return []
    query = _between(
        "SELECT created_at, outcome FROM alerts WHERE created_at >= :begin AND created_at < :finish"
    ).columns(created_at=UTCDateTime(), outcome=String())
    try:
        rows = session.execute(query, {"begin": begin, "finish": finish})
        return [(row.created_at, row.outcome) for row in rows]
    except SQLAlchemyError:
        return []  # the alert totals say the table is unreadable


def _alerts(session: Session, begin: datetime, finish: datetime) -> dict[str, Any]:
    """Match alerts raised in the window and what came of them (if the live tables exist)."""
    result: dict[str, Any] = {
        "available": False,
        "total": 0,
        "true_positives": 0,
        "false_positives": 0,
        "no_action": 0,
        "undecided": 0,
        "engagements": 0,
        "outcomes": {},
    }
    if not _has_table(session, "alerts"):
        return result
    try:
        rows = session.execute(
            _between(
                "SELECT outcome, engagement, result, COUNT(*) FROM alerts"
                " WHERE created_at >= :begin AND created_at < :finish"
                " GROUP BY outcome, engagement, result"
            ),
            {"begin": begin, "finish": finish},
        ).all()
    except SQLAlchemyError as error:
        result["error"] = f"alerts table unreadable: {error.__class__.__name__}"
        return result
    outcomes: Counter[str] = Counter()
    result["available"] = True
    for outcome, engagement, text_result, count in rows:
        result["total"] += count
        key = {"confirmed": "true_positives", "rejected": "false_positives"}.get(
            outcome or "", "no_action" if outcome == "no-action" else "undecided"
        )
        result[key] += count
        if engagement:
            result["engagements"] += count
            outcomes[text_result or "(not recorded)"] += count
    result["outcomes"] = dict(sorted(outcomes.items()))
    return result
