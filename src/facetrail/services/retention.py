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

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import InvalidInputError
from facetrail.services.alerts import purge_expired_crops
from facetrail.services.audit import append_audit
from facetrail.services.indexes import bump_generation
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.oversight_models import RetentionPolicy
from facetrail.store.types import utcnow

if TYPE_CHECKING:
    from facetrail.services.app import Facetrail

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


@dataclass
class Erasure:
    """What one transaction removed; finished (index, photo files) after it commits."""

    images: int = 0
    templates: int = 0
    subjects: int = 0
    removed: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    generations: dict[tuple[int, str], int] = field(default_factory=dict)
    photo_paths: list[str] = field(default_factory=list)
    pipelines: dict[int, str] = field(default_factory=dict)


def policies_in_force(session: Session) -> dict[tuple[str, str], int]:
    """The newest days per (scope, key)."""
    found: dict[tuple[str, str], int] = {}
    for policy in session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.id)):
        found[(policy.scope, policy.key)] = policy.days
    return found


def effective_retain_until(
    image: Image, gallery: str, policies: dict[tuple[str, str], int]
) -> date | None:
    """The earliest retain-until that applies to the image (None: no period set anywhere)."""
    base = (image.collected_at or image.created_at).date()
    candidates = [image.retain_until] if image.retain_until else []
    for scope, key in (("gallery", gallery), ("legal_basis", image.legal_basis)):
        days = policies.get((scope, key))
        if days is not None:
            candidates.append(base + timedelta(days=days))
    return min(candidates) if candidates else None


def _due_reason(retain_until: date | None, lawful: bool, today: date) -> str | None:
    if not lawful:
        return "not lawfully held"
    if retain_until is not None and retain_until < today:
        return f"retention period ended {retain_until}"
    return None


def erase_images(
    session: Session,
    images: list[tuple[Image, Gallery, Subject]],
    *,
    actor: str,
    action: str,
    reasons: dict[int, str],
    extra: dict[str, object] | None = None,
) -> Erasure:
    """Delete images (templates cascade) and emptied subjects, one audit entry per image.

    The audit keeps provenance (ids, source, legal basis, photo hash), never templates.
    """
    erasure = Erasure()
    if not images:
        return erasure
    ids = [image.id for image, _, _ in images]
    per_image: dict[int, int] = defaultdict(int)
    for template_id, image_id, gallery_id, model in session.execute(
        select(Template.id, Template.image_id, Template.gallery_id, Template.model).where(
            Template.image_id.in_(ids)
        )
    ):
        erasure.removed.setdefault((gallery_id, model), []).append(template_id)
        per_image[image_id] += 1
    subjects: dict[int, Subject] = {}
    for image, gallery, subject in images:
        erasure.pipelines[gallery.id] = gallery.pipeline
        if image.photo_path:
            erasure.photo_paths.append(image.photo_path)
        subjects[subject.id] = subject
        append_audit(
            session,
            actor=actor,
            action=action,
            outcome="ok",
            gallery=gallery.name,
            target=subject.external_id,
            details={
                "image_id": image.id,
                "sha256": image.sha256,
                "source": image.source,
                "legal_basis": image.legal_basis,
                "retain_until": str(image.retain_until) if image.retain_until else None,
                "reason": reasons.get(image.id, ""),
                "templates": per_image[image.id],
                **(extra or {}),
            },
        )
        session.delete(image)
    session.flush()
    erasure.images = len(images)
    erasure.templates = sum(len(t) for t in erasure.removed.values())
    for subject in subjects.values():
        left = session.scalar(select(func.count(Image.id)).where(Image.subject_id == subject.id))
        if not left:
            session.delete(subject)
            erasure.subjects += 1
    session.flush()
    for gallery_id, model in erasure.removed:
        erasure.generations[(gallery_id, model)] = bump_generation(session, gallery_id, model)
    still_used = set(
        session.scalars(select(Image.photo_path).where(Image.photo_path.in_(erasure.photo_paths)))
    )
    erasure.photo_paths = [p for p in dict.fromkeys(erasure.photo_paths) if p not in still_used]
    return erasure


def finish_erasure(app: Facetrail, erasure: Erasure) -> int:
    """After commit: drop the ids from the indexes (on disk too) and delete the photo files."""
    for (gallery_id, model), template_ids in erasure.removed.items():
        app.catalog.apply(
            gallery_id,
            model,
            erasure.generations[(gallery_id, model)],
            remove=np.array(template_ids, np.int64),
        )
    for gallery_id in {g for g, _ in erasure.removed}:
        app.catalog.save(gallery_id)
        for recognizer in FaceAnalyzer.from_spec(erasure.pipelines[gallery_id]).recognizers:
            # An index not open in this process is reconciled from the database and saved.
            if app.catalog.path(gallery_id, recognizer.name).exists():
                app.catalog.get(gallery_id, recognizer.name, recognizer.dim)
    for path in erasure.photo_paths:
        app.photos.delete(path)
    return len(erasure.photo_paths)


class RetentionService:
    """Retention policies, what is due, and the retention run."""

    def __init__(self, app: Facetrail) -> None:
        self.app = app

    def set_policy(self, scope: str, key: str, days: int) -> PolicyInfo:
        """Keep images of a gallery, or held under a legal basis, for `days` (audited)."""
        self.app.require("retention.manage")
        if scope not in SCOPES:
            raise InvalidInputError(f"retention scope must be one of {SCOPES}, got {scope!r}")
        if not key.strip():
            raise InvalidInputError(f"a {scope} retention policy needs a {scope} to apply to")
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise InvalidInputError(f"retention days must be 1-{MAX_RETENTION_DAYS}, got {days}")
        with self.app.database.transaction() as session:
            if scope == "gallery" and not session.scalar(
                select(Gallery.id).where(Gallery.name == key.strip())
            ):
                raise InvalidInputError(f"gallery {key!r} does not exist")
            policy = RetentionPolicy(scope=scope, key=key.strip(), days=days, set_by=self.app.actor)
            session.add(policy)
            session.flush()
            append_audit(
                session,
                actor=self.app.actor,
                action="retention.policy",
                outcome="ok",
                gallery=key.strip() if scope == "gallery" else None,
                target=key.strip(),
                details={"scope": scope, "days": days},
            )
            return PolicyInfo(scope=scope, key=policy.key, days=days, set_by=policy.set_by)

    def policies(self) -> list[PolicyInfo]:
        """The policy in force for each gallery and legal basis."""
        self.app.require("retention.read")
        with self.app.database.reader() as session:
            return [
                PolicyInfo(scope=scope, key=key, days=days, set_by="")
                for (scope, key), days in sorted(policies_in_force(session).items())
            ]

    def due(self, today: date | None = None) -> list[DueImage]:
        """Images whose retention has ended (or that are not lawfully held) as of `today`."""
        self.app.require("retention.read")
        with self.app.database.reader() as session:
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

    def run(self, today: date | None = None, *, dry_run: bool = False) -> RetentionReport:
        """Delete every image that is due as of `today` (default: now), audited one by one."""
        self.app.require("retention.run")
        moment = today or utcnow().date()
        with self.app.database.reader() as session:
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
        if dry_run:
            return report
        for start in range(0, len(due), DELETE_BATCH):
            batch = due[start : start + DELETE_BATCH]
            with self.app.database.transaction() as session:
                rows = session.execute(
                    select(Image, Gallery, Subject)
                    .join(Subject, Image.subject_id == Subject.id)
                    .join(Gallery, Subject.gallery_id == Gallery.id)
                    .where(Image.id.in_([d.image_id for d in batch]))
                ).all()
                erasure = erase_images(
                    session,
                    [tuple(row) for row in rows],  # type: ignore[misc]
                    actor=self.app.actor,
                    action="retention.delete",
                    reasons={d.image_id: d.reason for d in batch},
                    extra={"as_of": str(moment)},
                )
            report.photos_deleted += finish_erasure(self.app, erasure)
            report.images_deleted += erasure.images
            report.templates_deleted += erasure.templates
            report.subjects_deleted += erasure.subjects
        report.alert_crops_deleted = self._purge_alert_crops(today)
        return report

    def _purge_alert_crops(self, today: date | None) -> int:
        """Delete live alert crops whose retention ended by `today` (default: now)."""
        moment = utcnow() if today is None else datetime.combine(today, time.min, tzinfo=UTC)
        return purge_expired_crops(self.app, moment).crops_deleted
