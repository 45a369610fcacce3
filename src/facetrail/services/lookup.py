"""Finding the gallery and subject a call names, with errors that list what exists."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import NotFoundError
from facetrail.store.models import Gallery, Subject


def find_gallery(session: Session, name: str) -> Gallery:
    """The gallery called `name`, or NotFoundError listing the galleries there are."""
    gallery = session.scalar(select(Gallery).where(Gallery.name == name))
    if gallery is None:
        known = ", ".join(session.scalars(select(Gallery.name).order_by(Gallery.name)))
        raise NotFoundError(f"gallery {name!r} does not exist (galleries: {known or 'none'})")
    return gallery


def find_subject(session: Session, gallery: Gallery, subject: str) -> Subject:
    """The subject `subject` of `gallery` (as given, else as enrolment normalises names:
    NFC, trimmed), or NotFoundError."""
    record = None
    for name in dict.fromkeys((subject, unicodedata.normalize("NFC", subject).strip())):
        record = session.scalar(
            select(Subject).where(Subject.gallery_id == gallery.id, Subject.external_id == name)
        )
        if record is not None:
            break
    if record is None:
        raise NotFoundError(f"subject {subject!r} is not in gallery {gallery.name!r}")
    return record
