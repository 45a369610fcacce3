"""The answering side of both steps: check a partner's signed message, apply its policy, answer.

Authenticated by the partner's Ed25519 signature, not by a user account: the message is
the credential, and every outcome (answered, refused, failed) is audited under the
partner's name with the shared request id.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from facetrail.biometrics.face import Face
from facetrail.core.context import PARTNER, Context
from facetrail.core.kernel import Kernel
from facetrail.errors import AuthorisationError, FacetrailError, InvalidInputError
from facetrail.records import (
    Candidate,
    Envelope,
    ExportImage,
    candidate_list,
    read_transaction,
    subject_transaction,
    write_transaction,
)
from facetrail.records.standard import RESPONSE_TOT
from facetrail.security.messages import Message, Signed, envelope_fields, new_message, seal
from facetrail.services.federation_policy import Policy, check_request
from facetrail.services.federation_wire import check_incoming, current_policy, find_partner
from facetrail.services.lookup import find_gallery
from facetrail.services.matching import check_models, rank_subjects
from facetrail.store.federation_models import Exchange, IssuedReference
from facetrail.store.models import Gallery, Image, Subject
from facetrail.store.node_identity import NodeIdentity, load_identity
from facetrail.store.types import utcnow

log = logging.getLogger(__name__)

RELEASE_TOT = "FRR"  # facial recognition record release (step 2)
MAX_RELEASED_IMAGES = 10


@dataclass(frozen=True, slots=True)
class Answer:
    """The signed answer and the HTTP status it goes back with."""

    signed: Signed
    http_status: int = 200


@dataclass(frozen=True, slots=True)
class _Claimed:
    """What an unverified message says about itself: enough to address a refusal."""

    kind: str
    sender: str
    request_id: str
    nonce: str | None


class FederationAnswer:
    """`POST /federation/v1/messages`: step 1 (hit/no-hit) and step 2 (release) answers."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def answer(self, context: Context, signed: Signed) -> Answer:
        """Check one partner message and answer it, signed; refusals are answered too."""
        started = time.perf_counter()
        identity = load_identity(self.kernel.home)
        claimed = _claimed(signed)
        # The partner, not whoever runs the server: no user role, no sign-in refusal.
        caller = replace(
            context,
            role=None,
            refusal="",
            actor=f"partner:{claimed.sender or '?'}",
            auth_method=PARTNER,
            node=claimed.sender or "?",
            request_id=claimed.request_id or context.request_id,
        )
        reply_kind = "confirm.answer" if claimed.kind == "confirm" else "search.answer"
        outcome = "refused"
        try:
            with self.kernel.unit_of_work(caller) as work:
                message = check_incoming(work.session, signed, identity.name, utcnow())
            if message.kind == "search":
                meta, payload = self._search(caller, identity, message)
            elif message.kind == "confirm":
                meta, payload = self._confirm(caller, identity, message)
            else:
                raise InvalidInputError(f"a node is not sent {message.kind!r} messages")
            outcome = str(meta.get("status"))
            return Answer(self._reply(identity, claimed, reply_kind, meta, payload))
        except FacetrailError as error:
            status = "refused" if isinstance(error, AuthorisationError) else "error"
            outcome = status
            self._audit_refusal(caller, claimed, status, str(error))
            meta = {"status": status, "reason": str(error)}
            http = getattr(error, "http_status", 403 if status == "refused" else 422)
            return Answer(self._reply(identity, claimed, reply_kind, meta, b""), http)
        finally:
            log.info(
                "federation answer: kind=%s partner=%s request=%s outcome=%s ms=%.1f",
                claimed.kind,
                claimed.sender,
                claimed.request_id,
                outcome,
                (time.perf_counter() - started) * 1000,
            )

    # -- step 1 ----------------------------------------------------------------------

    def _search(
        self, context: Context, identity: NodeIdentity, message: Message
    ) -> tuple[dict[str, Any], bytes]:
        """Search the galleries the policy allows; hits as opaque references and scores."""
        name = message.sender
        with self.kernel.reader() as session:
            partner = find_partner(session, name)
            version, policy = current_policy(session, partner)
        meta = message.meta
        asked = _int(meta.get("max_candidates"), "max_candidates")
        galleries = check_request(
            policy,
            partner=name,
            galleries=_strings(meta.get("galleries")),
            offence_category=str(meta.get("offence_category") or ""),
            purpose=str(meta.get("purpose") or ""),
            max_candidates=asked,
        )
        transaction = read_transaction(message.payload, f"step-1 probe from {name}")
        faces = transaction.face_images
        if not faces:
            raise InvalidInputError(f"the step-1 message from {name} holds no Type-10 face record")
        probe = faces[0]
        image = probe.decode(f"step-1 probe from {name}")
        matches = self._rank(image.pixels, galleries, policy, asked)
        now = utcnow()
        references: list[Candidate] = []
        with self.kernel.unit_of_work(context) as work:
            for gallery_id, subject_id, score in matches:
                reference = f"{identity.name}-{secrets.token_hex(6).upper()}"
                work.session.add(
                    IssuedReference(
                        reference=reference,
                        request_id=message.request_id,
                        partner=name,
                        gallery_id=gallery_id,
                        subject_id=subject_id,
                        score=score,
                        created_at=now,
                    )
                )
                references.append(Candidate(len(references) + 1, reference, round(score, 6)))
            status = "hit" if references else "no_hit"
            work.audit(
                "federation.answer.search",
                target=message.request_id,
                details={
                    "request_id": message.request_id,
                    "partner": name,
                    "status": status,
                    "hits": len(references),
                    "references": [c.reference for c in references],
                    "scores": [c.score for c in references],
                    "galleries": list(galleries),
                    "policy_version": version,
                    "dpia": policy.dpia,
                    "max_candidates": asked,
                    "offence_category": meta.get("offence_category") or "",
                    "purpose": meta.get("purpose") or "",
                    "case_reference": meta.get("case_reference") or "",
                    "probe_sha256": probe.sha256,
                },
            )
        envelope = Envelope(
            type_of_transaction=RESPONSE_TOT,
            control_number=secrets.token_hex(8),
            originating_agency=identity.name,
            destination_agency=name,
            date=now.date(),
            control_reference=message.request_id[:40],
        )
        payload = write_transaction(candidate_list(envelope, references))
        return {"status": status, "hits": len(references), "reason": ""}, payload

    def _rank(
        self, pixels: Any, galleries: tuple[str, ...], policy: Policy, top: int
    ) -> list[tuple[int, int, float]]:
        """(gallery id, subject id, score) at or over the threshold, best first, at most `top`."""
        found: list[tuple[int, int, float]] = []
        embedded: dict[str, Face] = {}
        with self.kernel.reader() as session:
            for gallery_name in galleries:
                gallery = find_gallery(session, gallery_name)
                analyzer = self.kernel.analyzers.get(gallery.pipeline)
                check_models(gallery, analyzer)
                if gallery.pipeline not in embedded:
                    embedded[gallery.pipeline] = analyzer.analyze_largest(pixels)
                face = embedded[gallery.pipeline]
                threshold = (
                    policy.min_score
                    if policy.min_score is not None
                    else analyzer.calibration.threshold
                )
                for match in rank_subjects(
                    session, self.kernel.catalog, gallery, analyzer, face, top
                ):
                    if match.score >= threshold:
                        found.append((gallery.id, match.subject_id, match.score))
        found.sort(key=lambda item: -item[2])
        return found[:top]

    # -- step 2 ----------------------------------------------------------------------

    def _confirm(
        self, context: Context, identity: NodeIdentity, message: Message
    ) -> tuple[dict[str, Any], bytes]:
        """Release (or queue for approval) the core record behind a confirmed reference."""
        name = message.sender
        reference = str(message.meta.get("reference") or "")
        note = str(message.meta.get("note") or "").strip()
        examiner = str(message.meta.get("examiner") or "").strip()
        if not note or not examiner:
            raise InvalidInputError("step 2 needs the examiner's name and comparison note")
        now = utcnow()
        with self.kernel.unit_of_work(context) as work:
            session = work.session
            partner = find_partner(session, name)
            version, policy = current_policy(session, partner)
            issued = session.scalar(
                select(IssuedReference).where(
                    IssuedReference.reference == reference,
                    IssuedReference.partner == name,
                    IssuedReference.request_id == message.request_id,
                )
            )
            if issued is None:
                raise AuthorisationError(
                    f"no step-1 answer to {name} in request {message.request_id} gave"
                    f" reference {reference!r}: step 2 needs a confirmed step-1 hit"
                )
            exchange = session.scalar(
                select(Exchange).where(
                    Exchange.direction == "in",
                    Exchange.partner == name,
                    Exchange.request_id == message.request_id,
                    Exchange.reference == reference,
                )
            )
            if exchange is None:
                auto = policy.step2 == "auto"
                exchange = Exchange(
                    direction="in",
                    request_id=message.request_id,
                    partner=name,
                    reference=reference,
                    status="released" if auto else "pending_approval",
                    examiner=examiner,
                    note=note,
                    due_at=now + timedelta(hours=policy.deadline_hours),
                    decided_by="policy: step2 = auto" if auto else None,
                    decided_at=now if auto else None,
                    created_at=now,
                )
                session.add(exchange)
                session.flush()
            meta: dict[str, Any] = {
                "status": exchange.status,
                "reason": exchange.reason,
                "reference": reference,
                "due_at": exchange.due_at.isoformat() if exchange.due_at else None,
            }
            payload = b""
            details: dict[str, Any] = {
                "request_id": message.request_id,
                "partner": name,
                "reference": reference,
                "status": exchange.status,
                "examiner": examiner,
                "exchange_id": exchange.id,
                "policy_version": version,
                "dpia": policy.dpia,
            }
            if exchange.status == "released":
                record, payload = self._release(session, identity, issued, name, message.request_id)
                meta["record"] = record
                details["released_images_sha256"] = [p["sha256"] for p in record["provenance"]]
                details["subject_id"] = issued.subject_id
            work.audit("federation.answer.confirm", target=message.request_id, details=details)
        return meta, payload

    def _release(
        self, session: Any, identity: NodeIdentity, issued: IssuedReference, partner: str, rid: str
    ) -> tuple[dict[str, Any], bytes]:
        """The subject's core record: reference, name held, provenance, legal basis, images."""
        subject = session.get(Subject, issued.subject_id) if issued.subject_id else None
        if subject is None:
            raise AuthorisationError(
                f"the subject behind reference {issued.reference} is no longer held here"
            )
        gallery = session.get(Gallery, subject.gallery_id)
        images = [
            image
            for image in session.scalars(
                select(Image).where(Image.subject_id == subject.id).order_by(Image.id)
            )
            if image.photo_path and image.lawfully_held
        ][:MAX_RELEASED_IMAGES]
        if not images:
            raise AuthorisationError(
                f"no photo behind reference {issued.reference} is kept here to release"
            )
        provenance = [
            {
                "idc": idc,
                "sha256": image.sha256,
                "source": image.source,
                "legal_basis": image.legal_basis,
                "collected_at": image.collected_at.isoformat() if image.collected_at else "",
                "enrolled_at": image.created_at.isoformat(),
            }
            for idc, image in enumerate(images, 1)
        ]
        exports = [
            ExportImage(
                data=self.kernel.photos.read(image.photo_path),
                source_agency=identity.name,
                capture_date=(image.collected_at or image.created_at).date(),
                provenance={k: str(v) for k, v in item.items() if k != "idc"},
            )
            for image, item in zip(images, provenance, strict=True)
        ]
        now = utcnow()
        envelope = Envelope(
            type_of_transaction=RELEASE_TOT,
            control_number=secrets.token_hex(8),
            originating_agency=identity.name,
            destination_agency=partner,
            date=now.date(),
            control_reference=rid[:40],
        )
        payload = write_transaction(subject_transaction(envelope, subject.external_id, exports))
        record = {
            "reference": issued.reference,
            "subject": subject.external_id,
            "gallery": gallery.name if gallery else "",
            "legal_basis": sorted({i.legal_basis for i in images if i.legal_basis}),
            "provenance": provenance,
            "released_by": identity.name,
            "released_at": now.isoformat(),
        }
        return record, payload

    # -- answers ---------------------------------------------------------------------

    def _reply(
        self,
        identity: NodeIdentity,
        claimed: _Claimed,
        kind: str,
        meta: dict[str, Any],
        payload: bytes,
    ) -> Signed:
        message = new_message(
            kind,
            identity.name,
            claimed.sender or "?",
            claimed.request_id or "?",
            utcnow(),
            meta,
            payload,
            in_reply_to=claimed.nonce,
        )
        return seal(identity.private_key, message)

    def _audit_refusal(self, context: Context, claimed: _Claimed, status: str, reason: str) -> None:
        with self.kernel.unit_of_work(context) as work:
            work.audit(
                f"federation.answer.{'confirm' if claimed.kind == 'confirm' else 'search'}",
                status if status == "refused" else "failed",
                target=claimed.request_id,
                details={
                    "request_id": claimed.request_id,
                    "partner": claimed.sender,
                    "status": status,
                    "reason": reason,
                },
            )


def _claimed(signed: Signed) -> _Claimed:
    """What the (not yet verified) message claims; blanks where it is not even JSON."""
    try:
        fields = envelope_fields(signed.body)
    except FacetrailError:
        return _Claimed("search", signed.sender, "", None)
    return _Claimed(
        kind=str(fields.get("kind") or "search"),
        sender=signed.sender or str(fields.get("from") or ""),
        request_id=str(fields.get("request_id") or "")[:64],
        nonce=fields["nonce"] if isinstance(fields.get("nonce"), str) else None,
    )


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"step-1 message field {name!r} must be an integer")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError("step-1 message field 'galleries' must be a list of names")
    return tuple(value)
