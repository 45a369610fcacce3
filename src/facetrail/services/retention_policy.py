"""Retention policy: the periods in force and each image's effective retain-until."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.store.models import Gallery, Image, Subject
from facetrail.store.oversight_models import RetentionPolicy

# Read on every search; built once (SQLAlchemy memoises its cache key).
_POLICIES = select(RetentionPolicy.scope, RetentionPolicy.key, RetentionPolicy.days).order_by(
    RetentionPolicy.id
)


def policies_in_force(session: Session) -> dict[tuple[str, str], int]:
    """The newest days per (scope, key)."""
    found: dict[tuple[str, str], int] = {}
    for scope, key, days in session.connection().execute(_POLICIES):
        found[(scope, key)] = days
    return found


class RetentionFacts(Protocol):
    """What retention needs of an image: an `Image` row, or a result row of its columns."""

    @property
    def collected_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def retain_until(self) -> date | None: ...
    @property
    def legal_basis(self) -> str: ...


# The Image columns `usable` reads, for queries that select them beside others.
RETENTION_COLUMNS = (
    Image.collected_at,
    Image.created_at,
    Image.retain_until,
    Image.legal_basis,
    Image.lawfully_held,
)


def periods_apply(gallery: str, policies: dict[tuple[str, str], int]) -> bool:
    """Whether any policy period can apply to an image of `gallery`: one for the gallery,
    or one for any legal basis. When none does, an image's own retain-until alone decides
    (`held_and_in_time`) and its dates need not be read."""
    return ("gallery", gallery) in policies or any(scope == "legal_basis" for scope, _ in policies)


def held_and_in_time(lawfully_held: bool, until: date | None, today: date) -> bool:
    """Whether an image lawfully held (or not) with this effective retain-until may be used."""
    return lawfully_held and (until is None or until >= today)


def effective_retain_until(
    image: RetentionFacts, gallery: str, policies: dict[tuple[str, str], int]
) -> date | None:
    """The earliest retain-until that applies to the image (None: no period set anywhere)."""
    base = (image.collected_at or image.created_at).date()
    candidates = [image.retain_until] if image.retain_until else []
    for scope, key in (("gallery", gallery), ("legal_basis", image.legal_basis)):
        days = policies.get((scope, key))
        if days is not None:
            candidates.append(base + timedelta(days=days))
    return min(candidates) if candidates else None


def usable(
    image: RetentionFacts,
    lawfully_held: bool,
    gallery: str,
    policies: dict[tuple[str, str], int],
    today: date,
) -> bool:
    """Whether an image may be used today: lawfully held and within its retain-until."""
    return held_and_in_time(lawfully_held, effective_retain_until(image, gallery, policies), today)


def usable_images(session: Session, image_ids: set[int], today: date) -> set[int]:
    """The images that may be used today: lawfully held and within their effective
    retain-until (image, gallery and legal-basis periods, the earliest)."""
    if not image_ids:
        return set()
    policies = policies_in_force(session)
    rows = session.execute(
        select(Image.id, *RETENTION_COLUMNS, Gallery.name)
        .join(Subject, Image.subject_id == Subject.id)
        .join(Gallery, Subject.gallery_id == Gallery.id)
        .where(Image.id.in_(image_ids))
    )
    return {row.id for row in rows if usable(row, row.lawfully_held, row.name, policies, today)}
