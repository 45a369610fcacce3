"""Retention: each image's retain-until from its legal basis and gallery policy; due deletions.

An image's effective retain-until is the earliest of: the date given at enrolment, its
collection date (else enrolment date) plus the days set for its gallery, and the same
plus the days set for its legal basis. An image held unlawfully (`lawfully_held` false)
is due at once. The effective date is computed when needed, never written over the
enrolment date, so lengthening a policy later is honoured. `run` deletes due images
(photo file, templates, index entries) and audits each deletion with provenance only,
never biometric data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.core.access import ADMINISTRATOR, AUDITOR, declare, requires
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.services.crop_retention import purge_expired_crops
from facetrail.services.erasure import erase_images, erase_received_records, finish_erasure
from facetrail.services.retention_policy import effective_retain_until, policies_in_force
from facetrail.store.federation_models import Exchange
from facetrail.store.models import Gallery, Image, Subject
from facetrail.store.oversight_models import RetentionPolicy
from facetrail.store.types import utcnow

RETENTION_MANAGE = declare("retention.manage", "set retention policies", (ADMINISTRATOR,))
RETENTION_READ = declare(
    "retention.read", "read retention policies and what is due", (AUDITOR, ADMINISTRATOR)
)
RETENTION_RUN = declare(
    "retention.run", "delete images past their retention date", (ADMINISTRATOR,)
)


SCOPES = ("gallery", "legal_basis")
MAX_RETENTION_DAYS = 100 * 366
DELETE_BATCH = 200  # images per transaction


class PolicyInfo(BaseModel):
    scope: str
    key: str
    days: int
    set_by: str


class DueImage(BaseModel):
    image_id: int
    gallery: str
    subject: str
    source: str
    legal_basis: str
    retain_until: date | None
    reason: str


class RetentionReport(BaseModel):
    today: date
    dry_run: bool
    due: list[DueImage]
    images_deleted: int
    templates_deleted: int
    photos_deleted: int
    subjects_deleted: int
    alert_crops_deleted: int = 0  # live alert crops past their own retention period
    received_records_due: int = 0  # records partners released to us, past their date
    received_records_deleted: int = 0
    removed: dict[str, int] = {}  # what the erasures removed, by kind


def _due_reason(retain_until: date | None, lawful: bool, today: date) -> str | None:
    if not lawful:
        return "not lawfully held"
    if retain_until is not None and retain_until < today:
        return f"retention period ended {retain_until}"
    return None


class RetentionService:
    """Retention policies, what is due, and the retention run."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(RETENTION_MANAGE)
    def set_policy(self, context: Context, scope: str, key: str, days: int) -> PolicyInfo:
        """Keep images of a gallery, or held under a legal basis, for `days` (audited)."""
        if scope not in SCOPES:
            raise InvalidInputError(f"retention scope must be one of {SCOPES}, got {scope!r}")
        if not key.strip():
            raise InvalidInputError(f"a {scope} retention policy needs a {scope} to apply to")
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise InvalidInputError(f"retention days must be 1-{MAX_RETENTION_DAYS}, got {days}")
        with self.kernel.database.transaction() as session:
            if scope == "gallery" and not session.scalar(
                select(Gallery.id).where(Gallery.name == key.strip())
            ):
                raise InvalidInputError(f"gallery {key!r} does not exist")
            policy = RetentionPolicy(scope=scope, key=key.strip(), days=days, set_by=context.actor)
            session.add(policy)
            session.flush()
            append_audit(
                session,
                actor=context.actor,
                action="retention.policy",
                outcome="ok",
                gallery=key.strip() if scope == "gallery" else None,
                target=key.strip(),
                details={"scope": scope, "days": days},
            )
            return PolicyInfo(scope=scope, key=policy.key, days=days, set_by=policy.set_by)

    @requires(RETENTION_READ)
    def policies(self, context: Context) -> list[PolicyInfo]:
        """The policy in force for each gallery and legal basis."""
        with self.kernel.database.reader() as session:
            return [
                PolicyInfo(scope=scope, key=key, days=days, set_by="")
                for (scope, key), days in sorted(policies_in_force(session).items())
            ]

    @requires(RETENTION_READ)
    def due(self, context: Context, today: date | None = None) -> list[DueImage]:
        """Images whose retention has ended (or that are not lawfully held) as of `today`."""
        with self.kernel.database.reader() as session:
            return [item for item, _ in self._scan(session, today or utcnow().date())]

    def _scan(self, session: Session, today: date) -> list[tuple[DueImage, date | None]]:
        """Every image with its effective retain-until; the due ones as DueImage."""
        policies = policies_in_force(session)
        rows = session.execute(
            select(Image, Gallery.name, Subject.external_id)
            .join(Subject, Image.subject_id == Subject.id)
            .join(Gallery, Subject.gallery_id == Gallery.id)
            .order_by(Image.id)
        )
        due = []
        for image, gallery, subject in rows:
            until = effective_retain_until(image, gallery, policies)
            reason = _due_reason(until, image.lawfully_held, today)
            if reason:
                due.append(
                    (
                        DueImage(
                            image_id=image.id,
                            gallery=gallery,
                            subject=subject,
                            source=image.source,
                            legal_basis=image.legal_basis,
                            retain_until=until,
                            reason=reason,
                        ),
                        until,
                    )
                )
        return due

    @requires(RETENTION_RUN)
    def run(
        self, context: Context, today: date | None = None, *, dry_run: bool = False
    ) -> RetentionReport:
        """Delete every image that is due as of `today` (default: now), audited one by one."""
        moment = today or utcnow().date()
        with self.kernel.database.reader() as session:
            due = [item for item, _ in self._scan(session, moment)]
        report = RetentionReport(
            today=moment,
            dry_run=dry_run,
            due=due,
            images_deleted=0,
            templates_deleted=0,
            photos_deleted=0,
            subjects_deleted=0,
        )
        with self.kernel.database.reader() as session:
            report.received_records_due = len(_received_due(session, today))
        if dry_run:
            return report
        for start in range(0, len(due), DELETE_BATCH):
            batch = due[start : start + DELETE_BATCH]
            with self.kernel.database.transaction() as session:
                rows = session.execute(
                    select(Image, Gallery, Subject)
                    .join(Subject, Image.subject_id == Subject.id)
                    .join(Gallery, Subject.gallery_id == Gallery.id)
                    .where(Image.id.in_([d.image_id for d in batch]))
                ).all()
                erasure = erase_images(
                    self.kernel,
                    session,
                    [tuple(row) for row in rows],  # type: ignore[misc]
                    actor=context.actor,
                    action="retention.delete",
                    reasons={d.image_id: d.reason for d in batch},
                    extra={"as_of": str(moment)},
                )
            report.photos_deleted += finish_erasure(self.kernel, erasure)
            for kind, count in erasure.by_kind.items():
                report.removed[kind] = report.removed.get(kind, 0) + count
            report.images_deleted += erasure.images
            report.templates_deleted += erasure.templates
            report.subjects_deleted += erasure.subjects
        report.alert_crops_deleted = self._purge_alert_crops(context, today)
        with self.kernel.database.transaction() as session:
            report.received_records_deleted = erase_received_records(
                session,
                _received_due(session, today),
                actor=context.actor,
                action="retention.delete.received",
                reason=f"retention period ended (as of {moment})",
            )
        return report

    def _purge_alert_crops(self, context: Context, today: date | None) -> int:
        """Delete live alert crops whose retention ended by `today` (default: now)."""
        moment = utcnow() if today is None else datetime.combine(today, time.min, tzinfo=UTC)
        return purge_expired_crops(self.kernel, context, moment).crops_deleted


def _received_due(session: Session, today: date | None) -> list[Exchange]:
    """Records received from partners whose retention date has passed (by `today`'s start)."""
    start = utcnow() if today is None else datetime.combine(today, time.min, tzinfo=UTC)
    return list(
        session.scalars(
            select(Exchange).where(
                Exchange.direction == "out",
                Exchange.erased_at.is_(None),
                Exchange.retain_until.is_not(None),
                Exchange.retain_until < start,
            )
        )
    )
