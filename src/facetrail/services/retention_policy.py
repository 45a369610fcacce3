"""Retention policy: the periods in force and each image's effective retain-until."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.store.models import Image
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
