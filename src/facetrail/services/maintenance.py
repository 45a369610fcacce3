"""Index maintenance: recreating the vector indexes from the database alone."""

from __future__ import annotations

from sqlalchemy import select

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.access import ADMINISTRATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.services.lookup import find_gallery
from facetrail.services.results import RebuildResult
from facetrail.store.models import Gallery

INDEX_REBUILD = declare(
    "index.rebuild", "rebuild vector indexes from the database", (ADMINISTRATOR,)
)


class IndexMaintenance:
    """The index rebuild use case."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(INDEX_REBUILD)
    def rebuild(self, context: Context, gallery: str | None = None) -> list[RebuildResult]:
        """Recreate the vector indexes (of one gallery, or all) from the database."""
        with self.kernel.reader() as session:
            galleries = (
                [find_gallery(session, gallery)]
                if gallery
                else list(session.scalars(select(Gallery).order_by(Gallery.name)))
            )
        results = []
        for record in galleries:
            for recognizer in FaceAnalyzer.from_spec(record.pipeline).recognizers:
                count = self.kernel.catalog.rebuild(
                    record.id, recognizer.name, recognizer.dim, record.index_factory
                )
                results.append(
                    RebuildResult(gallery=record.name, model=recognizer.name, templates=count)
                )
        with self.kernel.unit_of_work(context) as work:
            work.audit(
                "index.rebuild",
                gallery=gallery,
                details={"indexes": [r.model_dump() for r in results]},
            )
        return results
