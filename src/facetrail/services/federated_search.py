"""Step 1 on the requesting side: a probe to partners as a Type-10 record, hit/no-hit back."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, selectinload

from facetrail.core.access import INVESTIGATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import FacetrailError, InvalidInputError
from facetrail.media.images import load_image
from facetrail.records import (
    Envelope,
    Transaction,
    face_record,
    read_candidates,
    read_transaction,
    write_transaction,
)
from facetrail.security.messages import Message, new_message, open_signed, seal
from facetrail.services.authorisations import check_covers
from facetrail.services.federation_policy import MAX_CANDIDATES
from facetrail.services.federation_results import (
    FederatedSearchResult,
    PartnerAnswer,
    RemoteCandidate,
)
from facetrail.services.federation_wire import (
    HttpTransport,
    Transport,
    TransportTimeout,
    check_reply,
    destination,
    find_partner,
    is_from_router,
    pin_for,
    router_answer,
)
from facetrail.store.federation_models import OutgoingQuery
from facetrail.store.models import Authorisation
from facetrail.store.node_identity import NodeIdentity, load_identity
from facetrail.store.types import utcnow

SEARCH = declare(
    "federation.search",
    "search partner agencies' galleries, hit/no-hit (under a federated_query authorisation)",
    (INVESTIGATOR,),
)
SEARCH_TOT = "FRS"  # facial recognition search (step 1)
DEFAULT_TOP = 10
STATUSES = ("hit", "no_hit", "refused", "timeout", "error")


@dataclass(frozen=True, slots=True)
class FederatedSearchRequest:
    """A probe to send to named partners (directly or through a router), authorised."""

    probe: Path | str | bytes
    partners: tuple[str, ...]
    authorisation: int
    via_router: str | None = None
    galleries: tuple[str, ...] = ()  # the partners' galleries; empty: all their policy allows
    top: int = DEFAULT_TOP
    timeout: float | None = None  # seconds per partner; default the configured bound
    router_certificate: bytes | None = None  # pinned, for an https router
    router_key: str | None = None  # the router's Ed25519 public key (PEM): its refusals signed


@dataclass(frozen=True, slots=True)
class _Outbound:
    partner: str
    url: str | None
    key: str | None
    message: Message | None
    pin: bytes | None = None
    error: str = ""
    via_router: str | None = None
    router_key: str | None = None


def probe_transaction(data: bytes, identity: NodeIdentity, partner: str, request_id: str) -> bytes:
    """The probe as an ANSI/NIST-ITL transaction: Type-1 envelope and one Type-10 record."""
    now = utcnow()
    envelope = Envelope(
        type_of_transaction=SEARCH_TOT,
        control_number=request_id[:40],
        originating_agency=identity.name,
        destination_agency=partner,
        date=now.date(),
        timestamp=now.replace(microsecond=0),
    )
    record = face_record(data, source_agency=identity.name, capture_date=now.date())
    return write_transaction(Transaction(envelope=envelope, faces=(record,)))


class FederatedSearch:
    """`facetrail federated search`."""

    def __init__(self, kernel: Kernel, transport: Transport | None = None) -> None:
        self.kernel = kernel
        self.transport: Transport = transport or HttpTransport()

    @requires(SEARCH)
    def search(self, context: Context, request: FederatedSearchRequest) -> FederatedSearchResult:
        """Ask each partner at once; each answers hit / no_hit / refused, or times out alone."""
        rid = context.request_id
        with self.kernel.audited_failure(
            context, "federation.search", authorisation_id=request.authorisation
        ):
            partners = tuple(dict.fromkeys(p.strip() for p in request.partners if p.strip()))
            if not partners:
                raise InvalidInputError("--partners must name at least one partner")
            if not 1 <= request.top <= MAX_CANDIDATES:
                raise InvalidInputError(f"--top must be 1-{MAX_CANDIDATES}, got {request.top}")
            timeout = request.timeout or self.kernel.settings.federation_timeout
            identity = load_identity(self.kernel.home)
            with self.kernel.reader() as session:
                record = session.get(
                    Authorisation,
                    request.authorisation,
                    options=[selectinload(Authorisation.galleries)],
                )
                check_covers(
                    record,
                    authorisation_id=request.authorisation,
                    kind="federated_query",
                    gallery=None,
                    actor=context.actor if context.signed_in else None,
                )
                assert record is not None
                top = min(request.top, record.max_candidates or request.top)
                meta = {
                    "galleries": list(request.galleries),
                    "offence_category": record.offence_category or "",
                    "purpose": record.purpose,
                    "case_reference": record.case_reference,
                    "max_candidates": top,
                }
                image = load_image(request.probe, name="probe")
                if image.format not in ("jpeg", "png"):
                    raise InvalidInputError(
                        f"the probe is {image.format}; a Type-10 record carries JPEG or PNG"
                    )
                outbound = [
                    self._prepare(session, identity, name, rid, meta, image.data, request)
                    for name in partners
                ]
            with ThreadPoolExecutor(max_workers=len(outbound)) as pool:
                answers = list(pool.map(lambda o: self._exchange(identity, o, timeout), outbound))
            with self.kernel.unit_of_work(context) as work:
                for answer in answers:
                    work.session.add(
                        OutgoingQuery(
                            request_id=rid,
                            partner=answer.partner,
                            status=answer.status,
                            reason=answer.reason,
                            candidates=[c.model_dump() for c in answer.candidates],
                            authorisation_id=request.authorisation,
                            actor=context.actor,
                        )
                    )
                entry = work.audit(
                    "federation.search",
                    target=rid,
                    authorisation_id=request.authorisation,
                    details={
                        "request_id": rid,
                        "probe_sha256": image.sha256,
                        "via_router": request.via_router or "",
                        "max_candidates": top,
                        "partners": {
                            a.partner: {"status": a.status, "hits": len(a.candidates)}
                            for a in answers
                        },
                    },
                )
            return FederatedSearchResult(request_id=rid, partners=answers, audit_id=entry.id)

    def _prepare(
        self,
        session: Session,
        identity: NodeIdentity,
        name: str,
        rid: str,
        meta: dict[str, object],
        probe: bytes,
        request: FederatedSearchRequest,
    ) -> _Outbound:
        """The signed-to-be message for one partner, or why it cannot be sent."""
        try:
            partner = find_partner(session, name)
        except FacetrailError as error:
            return _Outbound(name, None, None, None, error=str(error))
        payload = probe_transaction(probe, identity, name, rid)
        message = new_message("search", identity.name, name, rid, utcnow(), meta, payload)
        return _Outbound(
            name,
            destination(partner, request.via_router),
            partner.public_key,
            message,
            pin_for(partner, request.via_router, request.router_certificate),
            via_router=request.via_router,
            router_key=request.router_key,
        )

    def _exchange(
        self, identity: NodeIdentity, outbound: _Outbound, timeout: float
    ) -> PartnerAnswer:
        """Send to one partner and read its answer; every failure is this partner's status."""
        started = time.perf_counter()

        def answer(
            status: str, reason: str = "", candidates: list[RemoteCandidate] | None = None
        ) -> PartnerAnswer:
            return PartnerAnswer(
                partner=outbound.partner,
                status=status,
                reason=reason,
                candidates=candidates or [],
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

        if outbound.message is None or outbound.url is None or outbound.key is None:
            return answer("error", outbound.error)
        try:
            signed = self.transport.send(
                outbound.url,
                seal(identity.private_key, outbound.message),
                timeout,
                outbound.pin,
            )
            if is_from_router(signed, outbound.via_router):
                said = router_answer(signed, outbound.router_key, outbound.message, utcnow())
                return answer(said.status, said.reason)
            key = outbound.key
            reply = open_signed(signed, lambda _name: key)
            check_reply(reply, outbound.message, "search.answer", utcnow())
        except TransportTimeout as error:
            return answer("timeout", str(error))
        except FacetrailError as error:
            return answer("error", str(error))
        status = str(reply.meta.get("status", "error"))
        reason = str(reply.meta.get("reason", ""))
        if status not in STATUSES:
            return answer("error", f"unknown status {status!r} from {outbound.partner}")
        if status != "hit":
            return answer(status, reason)
        try:
            transaction = read_transaction(reply.payload, f"candidate list from {outbound.partner}")
            found = read_candidates(transaction, f"candidate list from {outbound.partner}")
        except FacetrailError as error:
            return answer("error", str(error))
        asked = int(outbound.message.meta.get("max_candidates", DEFAULT_TOP))  # type: ignore[call-overload]
        if len(found) > asked:
            return answer(
                "error", f"{outbound.partner} returned {len(found)} candidates, {asked} asked"
            )
        candidates = [RemoteCandidate(reference=c.reference, score=c.score) for c in found]
        return answer("hit" if candidates else "no_hit", reason, candidates)
