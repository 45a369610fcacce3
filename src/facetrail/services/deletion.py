"""Deletion requests: recorded, decided by an officer with a reason; granted ones erase at once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from facetrail.core.access import (
    ADMINISTRATOR,
    AUDITOR,
    AUTHORISING_OFFICER,
    INVESTIGATOR,
    OPERATOR,
    declare,
    requires,
)
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.services.erasure import Erasure, erase_images, finish_erasure
from facetrail.store.models import Gallery, Image, Subject
from facetrail.store.oversight_models import DeletionRequest
from facetrail.store.types import utcnow

DELETION_REQUEST = declare(
    "deletion.request", "record a deletion request", (OPERATOR, INVESTIGATOR, AUTHORISING_OFFICER)
)
DELETION_DECIDE = declare(
    "deletion.decide", "grant or refuse deletion requests", (AUTHORISING_OFFICER, ADMINISTRATOR)
)
DELETION_READ = declare(
    "deletion.read", "list deletion requests", (AUTHORISING_OFFICER, AUDITOR, ADMINISTRATOR)
)


STATUSES = ("pending", "granted", "refused")


class DeletionRequestInfo(BaseModel):
    id: int
    gallery: str
    subject: str
    requester: str
    grounds: str
    received_at: datetime
    recorded_by: str
    status: str
    decided_at: datetime | None
    decided_by: str | None
    officer_rank: str | None
    decision_reason: str | None
    images_deleted: int
    photos_deleted: int = 0
    removed: dict[str, int] = {}  # a granted request: what went, by kind


def _info(
    record: DeletionRequest, photos_deleted: int = 0, removed: dict[str, int] | None = None
) -> DeletionRequestInfo:
    return DeletionRequestInfo(
        id=record.id,
        gallery=record.gallery,
        subject=record.subject,
        requester=record.requester,
        grounds=record.grounds,
        received_at=record.received_at,
        recorded_by=record.recorded_by,
        status=record.status,
        decided_at=record.decided_at,
        decided_by=record.decided_by,
        officer_rank=record.officer_rank,
        decision_reason=record.decision_reason,
        images_deleted=record.images_deleted,
        photos_deleted=photos_deleted,
        removed=removed or {},
    )


class DeletionService:
    """Record, decide and list requests to delete a subject's images."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(DELETION_REQUEST)
    def request(
        self, context: Context, *, gallery: str, subject: str, requester: str, grounds: str
    ) -> DeletionRequestInfo:
        """Record a deletion request for a subject the gallery holds (one pending at a time)."""
        for name, value in (("gallery", gallery), ("subject", subject), ("requester", requester)):
            if not value.strip():
                raise InvalidInputError(f"a deletion request needs a {name}")
        if not grounds.strip():
            raise InvalidInputError("a deletion request needs its grounds (--grounds)")
        with self.kernel.database.transaction() as session:
            held = session.scalar(
                select(Subject.id)
                .join(Gallery, Subject.gallery_id == Gallery.id)
                .where(Gallery.name == gallery.strip(), Subject.external_id == subject.strip())
            )
            if held is None:
                raise NotFoundError(
                    f"gallery {gallery.strip()!r} holds no subject {subject.strip()!r}:"
                    " nothing to delete, no request recorded"
                )
            pending = session.scalar(
                select(DeletionRequest.id).where(
                    DeletionRequest.gallery == gallery.strip(),
                    DeletionRequest.subject == subject.strip(),
                    DeletionRequest.status == "pending",
                )
            )
            if pending is not None:
                raise InvalidInputError(
                    f"deletion request {pending} for {subject.strip()!r} is still pending:"
                    " decide it first"
                )
            record = DeletionRequest(
                gallery=gallery.strip(),
                subject=subject.strip(),
                requester=requester.strip(),
                grounds=grounds.strip(),
                received_at=utcnow(),
                recorded_by=context.actor,
                status="pending",
                images_deleted=0,
            )
            session.add(record)
            session.flush()
            append_audit(
                session,
                actor=context.actor,
                action="deletion.request",
                outcome="ok",
                gallery=record.gallery,
                target=record.subject,
                details={"request_id": record.id, "grounds": record.grounds},
            )
            return _info(record)

    @requires(DELETION_DECIDE)
    def decide(
        self,
        context: Context,
        request_id: int,
        *,
        grant: bool,
        reason: str,
        officer: str | None = None,
        rank: str | None = None,
    ) -> DeletionRequestInfo:
        """Grant (erasing the subject's images at once) or refuse a pending request.

        The deciding officer is the signed-in user; in a single-operator home `officer`
        names them (default: the operator).
        """
        if not reason.strip():
            raise InvalidInputError("a deletion decision needs a reason (--reason)")
        decided_by = context.actor if context.signed_in else (officer or context.actor)
        officer_rank = (context.rank if context.signed_in else rank) or None
        erasure = Erasure()
        with self.kernel.database.transaction() as session:
            record = session.get(DeletionRequest, request_id)
            if record is None:
                raise NotFoundError(f"deletion request {request_id} does not exist")
            if record.status != "pending":
                raise InvalidInputError(
                    f"deletion request {request_id} was already {record.status}"
                    f" on {record.decided_at:%Y-%m-%d}"
                )
            subject_name = record.subject  # an erased subject's name leaves the request
            record.status = "granted" if grant else "refused"
            record.decided_at = utcnow()
            record.decided_by = decided_by
            record.officer_rank = officer_rank
            record.decision_reason = reason.strip()
            if grant:
                rows = session.execute(
                    select(Image, Gallery, Subject)
                    .join(Subject, Image.subject_id == Subject.id)
                    .join(Gallery, Subject.gallery_id == Gallery.id)
                    .where(Gallery.name == record.gallery, Subject.external_id == record.subject)
                ).all()
                erasure = erase_images(
                    self.kernel,
                    session,
                    [tuple(row) for row in rows],  # type: ignore[misc]
                    actor=context.actor,
                    action="deletion.delete",
                    reasons={row[0].id: f"deletion request {request_id}" for row in rows},
                    extra={"request_id": request_id},
                )
                record.images_deleted = erasure.images
            append_audit(
                session,
                actor=context.actor,
                action="deletion.decide",
                outcome="ok",
                gallery=record.gallery,
                target=subject_name,
                details={
                    "request_id": request_id,
                    "decision": record.status,
                    "reason": record.decision_reason,
                    "officer": decided_by,
                    "rank": officer_rank,
                    "images_deleted": erasure.images,
                },
            )
        photos = finish_erasure(self.kernel, erasure) if grant else 0
        return _info(record, photos, erasure.by_kind)

    @requires(DELETION_READ)
    def list(self, context: Context, status: str | None = None) -> list[DeletionRequestInfo]:
        """Deletion requests, oldest first (optionally only one status)."""
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status must be one of {STATUSES}, got {status!r}")
        with self.kernel.database.reader() as session:
            query = select(DeletionRequest).order_by(DeletionRequest.id)
            if status:
                query = query.where(DeletionRequest.status == status)
            return [_info(record) for record in session.scalars(query)]
