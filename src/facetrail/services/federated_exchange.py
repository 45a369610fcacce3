"""Step 2: the requesting examiner confirms a reference; the requested side releases or queues it.

Also the requested side's approvals of queued releases, overdue requests and the
per-partner report of what was asked and released.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from facetrail.core.access import (
    ADMINISTRATOR,
    AUDITOR,
    AUTHORISING_OFFICER,
    INVESTIGATOR,
    declare,
    requires,
)
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import AuthorisationError, FacetrailError, InvalidInputError, NotFoundError
from facetrail.records import read_provenance, read_transaction, subject_of
from facetrail.records.standard import SUBJECT_FIELD
from facetrail.security.messages import new_message, open_signed, seal
from facetrail.services.erasure import erase_received_records
from facetrail.services.federation_results import ExchangeResult, ReleaseInfo
from facetrail.services.federation_wire import (
    HttpTransport,
    Transport,
    TransportFailure,
    TransportTimeout,
    check_reply,
    current_policy,
    destination,
    find_partner,
    is_from_router,
    pin_for,
    router_answer,
)
from facetrail.store.federation_models import Exchange, IssuedReference, OutgoingQuery
from facetrail.store.models import AuditEntry
from facetrail.store.node_identity import load_identity
from facetrail.store.types import utcnow

CONFIRM = declare(
    "federation.confirm",
    "confirm a partner's candidate and request its core record (step 2)",
    (INVESTIGATOR,),
)
APPROVE = declare(
    "federation.approve",
    "approve or refuse the release of a record a partner asked for",
    (AUTHORISING_OFFICER,),
)
READ = declare(
    "federation.read", "read the node identity, partners and exchanges", (ADMINISTRATOR, AUDITOR)
)
# Erasing a record received from a partner is granting its deletion: the same officers.
ERASE = declare(
    "deletion.decide", "grant or refuse deletion requests", (AUTHORISING_OFFICER, ADMINISTRATOR)
)


@dataclass(frozen=True, slots=True)
class ConfirmRequest:
    """An examiner's confirmation of one step-1 candidate, with the comparison note."""

    request_id: str
    reference: str
    note: str
    via_router: str | None = None
    timeout: float | None = None
    router_certificate: bytes | None = None  # pinned, for an https router
    router_key: str | None = None  # the router's Ed25519 public key (PEM): its refusals signed


def _info(row: Exchange, now: datetime) -> ReleaseInfo:
    return ReleaseInfo(
        id=row.id,
        direction=row.direction,
        request_id=row.request_id,
        partner=row.partner,
        reference=row.reference,
        status=row.status,
        reason=row.reason,
        examiner=row.examiner,
        note=row.note,
        due_at=row.due_at,
        decided_by=row.decided_by,
        created_at=row.created_at,
        overdue=row.status == "pending_approval" and row.due_at is not None and row.due_at < now,
        retain_until=row.retain_until,
        erased_at=row.erased_at,
    )


class FederatedExchange:
    """`facetrail federated confirm|releases|approve|refuse|overdue` and the partner report."""

    def __init__(self, kernel: Kernel, transport: Transport | None = None) -> None:
        self.kernel = kernel
        self.transport: Transport = transport or HttpTransport()

    @requires(CONFIRM)
    def confirm(self, context: Context, request: ConfirmRequest) -> ExchangeResult:
        """Send the signed step-2 request; the record comes back released, queued or refused."""
        with self.kernel.audited_failure(context, "federation.confirm"):
            note = request.note.strip()
            if not note:
                raise InvalidInputError("--note must give the examiner's comparison note")
            identity = load_identity(self.kernel.home)
            with self.kernel.reader() as session:
                partner_name, authorisation_id = self._hit(session, request)
                partner = find_partner(session, partner_name)
                _, policy = current_policy(session, partner)
                url = destination(partner, request.via_router)
                pin = pin_for(partner, request.via_router, request.router_certificate)
                key = partner.public_key
            meta = {
                "reference": request.reference,
                "note": note,
                "examiner": context.officer_name,
            }
            message = new_message(
                "confirm", identity.name, partner_name, request.request_id, utcnow(), meta
            )
            timeout = request.timeout or self.kernel.settings.federation_timeout
            signed = self.transport.send(url, seal(identity.private_key, message), timeout, pin)
            if is_from_router(signed, request.via_router):
                said = router_answer(signed, request.router_key, message, utcnow())
                if said.status == "timeout":
                    raise TransportTimeout(said.reason)
                if said.status != "refused":
                    raise TransportFailure(said.reason)
                return self._refused_by_router(
                    context, request, partner_name, authorisation_id, note, said.reason
                )
            reply = check_reply(
                open_signed(signed, lambda _name: key), message, "confirm.answer", utcnow()
            )
            status = str(reply.meta.get("status") or "refused")
            if status not in ("released", "pending_approval", "refused"):
                status = "refused"
            reason = str(reply.meta.get("reason") or "")
            record: dict[str, Any] | None = None
            retain_until: datetime | None = None
            if status == "released":
                record = self._received(reply.meta.get("record"), reply.payload, partner_name)
                retain_until = _retain_until(record, policy.received_retention_days)
                record["retain_until"] = retain_until.isoformat()
            due = reply.meta.get("due_at")
            due_at = datetime.fromisoformat(due) if isinstance(due, str) else None
            with self.kernel.unit_of_work(context) as work:
                work.session.add(
                    Exchange(
                        direction="out",
                        request_id=request.request_id,
                        partner=partner_name,
                        reference=request.reference,
                        status=status,
                        reason=reason,
                        examiner=context.officer_name,
                        note=note,
                        due_at=due_at,
                        record={k: v for k, v in (record or {}).items() if k != "type10"} or None,
                        transaction=self.kernel.sealer.seal(reply.payload) if record else None,
                        retain_until=retain_until,
                    )
                )
                work.audit(
                    "federation.confirm",
                    "ok" if status != "refused" else "refused",
                    target=request.request_id,
                    authorisation_id=authorisation_id,
                    details={
                        "request_id": request.request_id,
                        "partner": partner_name,
                        "reference": request.reference,
                        "status": status,
                        "reason": reason,
                        "received_sha256": (
                            hashlib.sha256(reply.payload).hexdigest() if record else None
                        ),
                        "retain_until": retain_until.isoformat() if retain_until else None,
                    },
                )
            return ExchangeResult(
                status=status,
                reason=reason,
                request_id=request.request_id,
                partner=partner_name,
                reference=request.reference,
                record=record,
                due_at=due_at,
            )

    def _refused_by_router(
        self,
        context: Context,
        request: ConfirmRequest,
        partner: str,
        authorisation_id: int | None,
        note: str,
        reason: str,
    ) -> ExchangeResult:
        """Step 2 refused by the router (signed, verified): recorded and audited as refused."""
        with self.kernel.unit_of_work(context) as work:
            work.session.add(
                Exchange(
                    direction="out",
                    request_id=request.request_id,
                    partner=partner,
                    reference=request.reference,
                    status="refused",
                    reason=reason,
                    examiner=context.officer_name,
                    note=note,
                )
            )
            work.audit(
                "federation.confirm",
                "refused",
                target=request.request_id,
                authorisation_id=authorisation_id,
                details={
                    "request_id": request.request_id,
                    "partner": partner,
                    "reference": request.reference,
                    "status": "refused",
                    "reason": reason,
                    "by": "router",
                },
            )
        return ExchangeResult(
            status="refused",
            reason=reason,
            request_id=request.request_id,
            partner=partner,
            reference=request.reference,
        )

    def _hit(self, session: Any, request: ConfirmRequest) -> tuple[str, int | None]:
        """The partner that gave `reference` in our step-1 request; refused otherwise."""
        rows = session.scalars(
            select(OutgoingQuery).where(OutgoingQuery.request_id == request.request_id)
        ).all()
        if not rows:
            raise NotFoundError(
                f"no federated search {request.request_id!r} was made from this node"
            )
        for row in rows:
            if row.status == "hit" and any(
                c.get("reference") == request.reference for c in row.candidates
            ):
                return row.partner, row.authorisation_id
        raise AuthorisationError(
            f"reference {request.reference!r} was not a step-1 hit of request"
            f" {request.request_id}: step 2 needs a step-1 hit to confirm"
        )

    def _received(self, record: object, payload: bytes, partner: str) -> dict[str, Any]:
        """The released record, checked: a Type-10 transaction whose provenance matches."""
        if not isinstance(record, dict):
            raise FacetrailError(f"{partner} released no record description")
        source = f"record released by {partner}"
        transaction = read_transaction(payload, source)
        faces = transaction.face_images
        if not faces:
            raise FacetrailError(f"{partner} released a record without a Type-10 face image")
        listed = {str(p.get("sha256")) for p in record.get("provenance", []) if isinstance(p, dict)}
        held = {face.sha256 for face in faces}
        if listed != held:
            raise FacetrailError(f"{partner}'s record lists other images than it carries")
        return {
            **record,
            "subject": subject_of(transaction, source, SUBJECT_FIELD),
            "type2_provenance": {
                str(k): v for k, v in read_provenance(transaction, source).items()
            },
            "images": [
                {
                    "idc": face.idc,
                    "sha256": face.sha256,
                    "width": face.width,
                    "height": face.height,
                    "compression": face.compression,
                    "source_agency": face.source_agency,
                    "capture_date": face.capture_date.isoformat(),
                }
                for face in faces
            ],
            "type10": base64.b64encode(payload).decode(),
        }

    # -- requested side: approvals ---------------------------------------------------

    @requires(READ)
    def releases(self, context: Context, pending_only: bool = False) -> list[ReleaseInfo]:
        """Step-2 exchanges both ways, newest first (only those awaiting a decision)."""
        now = utcnow()
        with self.kernel.reader() as session:
            query = select(Exchange).order_by(Exchange.id.desc())
            if pending_only:
                query = query.where(Exchange.status == "pending_approval")
            return [_info(row, now) for row in session.scalars(query)]

    @requires(APPROVE)
    def pending(self, context: Context) -> list[ReleaseInfo]:
        """Partners' step-2 requests awaiting a local officer's decision, oldest due first."""
        now = utcnow()
        with self.kernel.reader() as session:
            rows = session.scalars(
                select(Exchange)
                .where(Exchange.direction == "in", Exchange.status == "pending_approval")
                .order_by(Exchange.due_at, Exchange.id)
            )
            return [_info(row, now) for row in rows]

    @requires(APPROVE)
    def decide(
        self, context: Context, exchange_id: int, *, release: bool, reason: str = ""
    ) -> ReleaseInfo:
        """Approve (or refuse, with a reason) a queued release; the partner collects it."""
        action = "federation.release.approve" if release else "federation.release.refuse"
        with self.kernel.audited_failure(context, action):
            if not release and not reason.strip():
                raise InvalidInputError("refusing a release needs --reason")
            with self.kernel.unit_of_work(context) as work:
                row = work.session.get(Exchange, exchange_id)
                if row is None or row.direction != "in":
                    raise NotFoundError(f"no release request {exchange_id} from a partner")
                if row.status != "pending_approval":
                    raise InvalidInputError(
                        f"release request {exchange_id} is already {row.status}"
                    )
                version, policy = current_policy(
                    work.session, find_partner(work.session, row.partner, active=False)
                )
                row.status = "released" if release else "refused"
                row.reason = reason.strip()
                row.decided_by = context.officer_name
                row.decided_at = utcnow()
                work.session.flush()
                work.audit(
                    action,
                    target=row.request_id,
                    details={
                        "request_id": row.request_id,
                        "partner": row.partner,
                        "reference": row.reference,
                        "exchange_id": row.id,
                        "reason": row.reason,
                        "policy_version": version,
                        "dpia": policy.dpia,
                    },
                )
                return _info(row, utcnow())

    @requires(ERASE)
    def erase_received(self, context: Context, exchange_id: int, reason: str) -> ReleaseInfo:
        """Erase a record a partner released to us (and every copy of the same release)."""
        with self.kernel.audited_failure(context, "federation.received.erase"):
            if not reason.strip():
                raise InvalidInputError("erasing a received record needs --reason")
            with self.kernel.unit_of_work(context) as work:
                row = work.session.get(Exchange, exchange_id)
                if row is None or row.direction != "out":
                    raise NotFoundError(f"no record {exchange_id} received from a partner")
                same = work.session.scalars(
                    select(Exchange).where(
                        Exchange.direction == "out",
                        Exchange.request_id == row.request_id,
                        Exchange.partner == row.partner,
                        Exchange.reference == row.reference,
                    )
                ).all()
                erase_received_records(
                    work.session,
                    list(same),
                    actor=context.actor,
                    action="federation.received.erase",
                    reason=reason.strip(),
                )
                work.session.flush()
                return _info(row, utcnow())

    @requires(READ)
    def overdue(self, context: Context) -> list[ReleaseInfo]:
        """Step-2 requests still awaiting a decision past their deadline (both ways)."""
        return [r for r in self.releases(context, pending_only=True) if r.overdue]

    @requires(READ)
    def report(self, context: Context, partner: str) -> dict[str, Any]:
        """What was asked of and released to one partner, and what we asked of it."""
        with self.kernel.reader() as session:
            find_partner(session, partner, active=False)
            entries = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("federation.%"))
                .order_by(AuditEntry.id)
            ).all()
            issued = session.scalars(
                select(IssuedReference).where(IssuedReference.partner == partner)
            ).all()
            exchanges = session.scalars(
                select(Exchange).where(Exchange.partner == partner).order_by(Exchange.id)
            ).all()
            outgoing = session.scalars(
                select(OutgoingQuery).where(OutgoingQuery.partner == partner)
            ).all()
        asked = [
            {
                "request_id": e.details.get("request_id"),
                "at": e.occurred_at.isoformat(),
                "kind": e.action.rsplit(".", 1)[-1],
                "status": e.details.get("status"),
                "reason": e.details.get("reason", ""),
                "hits": e.details.get("hits", 0),
            }
            for e in entries
            if e.action.startswith("federation.answer.") and e.details.get("partner") == partner
        ]
        refusals: dict[str, int] = {}
        for item in asked:
            if item["status"] == "refused":
                refusals[str(item["reason"])] = refusals.get(str(item["reason"]), 0) + 1
        return {
            "partner": partner,
            "asked_of_us": asked,
            "references_issued": len(issued),
            "released_to_partner": [
                {
                    "request_id": x.request_id,
                    "reference": x.reference,
                    "status": x.status,
                    "decided_by": x.decided_by,
                    "examiner": x.examiner,
                }
                for x in exchanges
                if x.direction == "in"
            ],
            "asked_by_us": {
                "queries": len(outgoing),
                "hits": sum(1 for o in outgoing if o.status == "hit"),
                "by_status": _count(o.status for o in outgoing),
            },
            "received_from_partner": sum(
                1 for x in exchanges if x.direction == "out" and x.status == "released"
            ),
            "refusals_by_reason": refusals,
        }


def _retain_until(record: dict[str, Any], days: int) -> datetime:
    """Now plus the partner policy's period, or the partner's own earlier date if it set one."""
    until = utcnow() + timedelta(days=days)
    stated = record.get("retain_until")
    if isinstance(stated, str):
        try:
            theirs = datetime.fromisoformat(stated)
        except ValueError:
            return until
        if theirs.tzinfo is not None and theirs < until:
            return theirs
    return until


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
