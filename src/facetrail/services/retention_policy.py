"""Retention policy: the periods in force and each image's effective retain-until."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.store.models import Gallery, Image, Subject
from facetrail.store.oversight_models import RetentionPolicy


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


def usable_images(session: Session, image_ids: set[int], today: date) -> set[int]:
    """The images that may be used today: lawfully held and within their effective
    retain-until (image, gallery and legal-basis periods, the earliest)."""
    if not image_ids:
        return set()
    policies = policies_in_force(session)
    rows = session.execute(
        select(Image, Gallery.name)
        .join(Subject, Image.subject_id == Subject.id)
        .join(Gallery, Subject.gallery_id == Gallery.id)
        .where(Image.id.in_(image_ids))
    )
    usable = set()
    for image, gallery in rows:
        until = effective_retain_until(image, gallery, policies)
        if image.lawfully_held and (until is None or until >= today):
            usable.add(image.id)
    return usable
