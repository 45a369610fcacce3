"""Galleries: creating them (with the pipeline they enrol with) and listing their counts."""

from __future__ import annotations

from sqlalchemy import select

from facetrail.core.access import ROLES, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.services.gallery_records import (
    GALLERY_CREATE,
    GalleryRequest,
    create_gallery,
    gallery_info,
)
from facetrail.services.results import GalleryInfo
from facetrail.store.models import Gallery

GALLERY_READ = declare("gallery.read", "list galleries and their counts", ROLES)


class Galleries:
    """Create and list galleries."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(GALLERY_CREATE)
    def create(self, context: Context, request: GalleryRequest) -> GalleryInfo:
        """Create a gallery that enrols with the requested (else the configured) pipeline."""
        with self.kernel.unit_of_work(context) as work:
            settings = self.kernel.settings
            gallery = create_gallery(
                work, request, settings.pipeline, settings.index_kind, settings.index_url
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
