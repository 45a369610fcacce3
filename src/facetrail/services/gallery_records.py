"""Gallery records: creating one (audited) and describing one with its counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.access import ADMINISTRATOR, declare
from facetrail.core.unit_of_work import UnitOfWork
from facetrail.errors import ConflictError, InvalidInputError
from facetrail.index.kinds import AUTO, MILVUS, check_kind, kind_of
from facetrail.services.results import GalleryInfo
from facetrail.store.models import Gallery, Image, Subject, Template

GALLERY_CREATE = declare("gallery.create", "create galleries", (ADMINISTRATOR,))

MAX_GALLERY_NAME = 200
# Photos under this quality (0-100) are refused by default. Measured on lfw-dev pairsDevTrain
# with the default pipeline (benchmarks/quality_gate.py, 2026-12-01): genuine pairs whose
# lower quality is under 40 miss 10x as often as all pairs (9.1% vs 0.91%, 22 pairs); under
# 70 it is 2.1x, but that gate would turn away about one LFW pair in ten.
DEFAULT_MIN_QUALITY = 40.0


@dataclass(frozen=True, slots=True)
class GalleryRequest:
    """A new gallery: its name, the pipeline it enrols with, whether it keeps photos."""

    name: str
    pipeline: str | None = None  # default: the configured pipeline
    keep_photos: bool = True
    description: str = ""
    min_quality: float | None = None  # photos under it are refused (None: the default)
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
        min_quality=gallery_min_quality(gallery),
        index=kind_of(gallery.index_factory),
        created_at=gallery.created_at,
        **counts,
    )


def gallery_min_quality(gallery: Gallery) -> float:
    """The quality under which the gallery refuses photos (its own, else the default)."""
    return gallery.min_quality if gallery.min_quality is not None else DEFAULT_MIN_QUALITY


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
        raise ConflictError(f"gallery {cleaned!r} already exists")
    if request.min_quality is not None and not 0 <= request.min_quality <= 100:
        raise InvalidInputError(f"--min-quality must be 0-100, got {request.min_quality}")
    gallery = Gallery(
        name=cleaned,
        pipeline=spec,
        keep_photos=request.keep_photos,
        description=request.description,
        min_quality=request.min_quality,
        index_factory=kind,
    )
    work.session.add(gallery)
    work.session.flush()
    work.audit(
        "gallery.create",
        gallery=cleaned,
        details={
            "pipeline": spec,
            "keep_photos": request.keep_photos,
            "min_quality": gallery_min_quality(gallery),
            "index": kind,
        },
    )
    return gallery
