"""Gallery records: creating one (audited) and describing one with its counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.access import ADMINISTRATOR, declare
from facetrail.core.unit_of_work import UnitOfWork
from facetrail.errors import InvalidInputError
from facetrail.index.kinds import AUTO, MILVUS, check_kind, kind_of
from facetrail.services.results import GalleryInfo
from facetrail.store.models import Gallery, Image, Subject, Template

GALLERY_CREATE = declare("gallery.create", "create galleries", (ADMINISTRATOR,))

MAX_GALLERY_NAME = 200


@dataclass(frozen=True, slots=True)
class GalleryRequest:
    """A new gallery: its name, the pipeline it enrols with, whether it keeps photos."""

    name: str
    pipeline: str | None = None  # default: the configured pipeline
    keep_photos: bool = True
    description: str = ""
    index: str | None = None  # auto, exact, compressed or milvus; default: the configured kind


def gallery_info(gallery: Gallery, session: Session | None = None) -> GalleryInfo:
    """A gallery as listed, with its counts when a session is given."""
    counts = {"subjects": 0, "images": 0, "templates": 0}
    if session is not None:
        counts["subjects"] = (
            session.scalar(select(func.count(Subject.id)).where(Subject.gallery_id == gallery.id))
            or 0
        )
        counts["images"] = (
            session.scalar(
                select(func.count(Image.id))
                .join(Subject, Image.subject_id == Subject.id)
                .where(Subject.gallery_id == gallery.id)
            )
            or 0
        )
        counts["templates"] = (
            session.scalar(select(func.count(Template.id)).where(Template.gallery_id == gallery.id))
            or 0
        )
    return GalleryInfo(
        name=gallery.name,
        pipeline=gallery.pipeline,
        keep_photos=gallery.keep_photos,
        index=kind_of(gallery.index_factory),
        created_at=gallery.created_at,
        **counts,
    )


def create_gallery(
    work: UnitOfWork,
    request: GalleryRequest,
    default_pipeline: str,
    default_index: str = AUTO,
    index_url: str | None = None,
) -> Gallery:
    """Create the gallery in the unit of work, audited; refuses a bad name, spec, index or clash.

    A `milvus` gallery needs a configured server (`index_url`) before anything is stored.
    """
    cleaned = request.name.strip()
    if not cleaned or len(cleaned) > MAX_GALLERY_NAME:
        raise InvalidInputError(f"gallery name must be 1-{MAX_GALLERY_NAME} characters")
    spec = request.pipeline or default_pipeline
    FaceAnalyzer.from_spec(spec)  # refuses a bad spec before anything is stored
    kind = check_kind(request.index or default_index)
    if kind == MILVUS and not index_url:
        raise InvalidInputError(
            "--index milvus needs a Milvus server: set FACETRAIL_INDEX_URL=milvus://host:port"
            " or pass --index-url (e.g. facetrail --index-url milvus://127.0.0.1:19530 ...)"
        )
    if work.session.scalar(select(Gallery).where(Gallery.name == cleaned)):
        raise InvalidInputError(f"gallery {cleaned!r} already exists")
    gallery = Gallery(
        name=cleaned,
        pipeline=spec,
        keep_photos=request.keep_photos,
        description=request.description,
        index_factory=kind,
    )
    work.session.add(gallery)
    work.session.flush()
    work.audit(
        "gallery.create",
        gallery=cleaned,
        details={"pipeline": spec, "keep_photos": request.keep_photos, "index": kind},
    )
    return gallery
