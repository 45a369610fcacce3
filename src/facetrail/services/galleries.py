"""Galleries: creating them (with the pipeline they enrol with) and listing their counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.access import ADMINISTRATOR, ROLES, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.services.results import GalleryInfo
from facetrail.store.models import Gallery, Image, Subject, Template

GALLERY_CREATE = declare("gallery.create", "create galleries", (ADMINISTRATOR,))
GALLERY_READ = declare("gallery.read", "list galleries and their counts", ROLES)

MAX_GALLERY_NAME = 200


@dataclass(frozen=True, slots=True)
class GalleryRequest:
    """A new gallery: its name, the pipeline it enrols with, whether it keeps photos."""

    name: str
    pipeline: str | None = None  # default: the configured pipeline
    keep_photos: bool = True
    description: str = ""


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
        created_at=gallery.created_at,
        **counts,
    )


class Galleries:
    """Create and list galleries."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(GALLERY_CREATE)
    def create(self, context: Context, request: GalleryRequest) -> GalleryInfo:
        """Create a gallery that enrols with the requested (else the configured) pipeline."""
        cleaned = request.name.strip()
        if not cleaned or len(cleaned) > MAX_GALLERY_NAME:
            raise InvalidInputError(f"gallery name must be 1-{MAX_GALLERY_NAME} characters")
        spec = request.pipeline or self.kernel.settings.pipeline
        FaceAnalyzer.from_spec(spec)  # refuses a bad spec before anything is stored
        with self.kernel.unit_of_work(context) as work:
            if work.session.scalar(select(Gallery).where(Gallery.name == cleaned)):
                raise InvalidInputError(f"gallery {cleaned!r} already exists")
            gallery = Gallery(
                name=cleaned,
                pipeline=spec,
                keep_photos=request.keep_photos,
                description=request.description,
            )
            work.session.add(gallery)
            work.session.flush()
            work.audit(
                "gallery.create",
                gallery=cleaned,
                details={"pipeline": spec, "keep_photos": request.keep_photos},
            )
        return gallery_info(gallery)

    @requires(GALLERY_READ)
    def list(self, context: Context) -> list[GalleryInfo]:
        """Every gallery with its counts."""
        with self.kernel.reader() as session:
            return [
                gallery_info(g, session)
                for g in session.scalars(select(Gallery).order_by(Gallery.name))
            ]
