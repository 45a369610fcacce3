"""Bulk loading for scale benchmarks: synthetic templates straight into the DB and index.

Benchmark-only: no photos, no models, no audit. One subject with one image and one
template per vector goes in with large multi-row inserts, the (gallery, model)
generation is bumped once, and the index store is built from the same vectors
(`IndexCatalog.adopt`), so a 1M-10M gallery is searchable through the app's own path
(`services/matching.py`) minutes later. Never use it for real enrolment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from facetrail.errors import InvalidInputError
from facetrail.index.catalog import IndexCatalog, bump_generation, vector_to_bytes
from facetrail.index.kinds import check_kind
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

INSERT_BATCH = 20_000
SYNTHETIC_FORMAT = "synthetic"


@dataclass(frozen=True)
class BulkGallery:
    """A bulk-loaded gallery: its id and the template id of each input row."""

    gallery_id: int
    template_ids: np.ndarray  # row i of the vectors is template template_ids[i]
    subject_names: list[str]


def _next_id(session: Session, column: InstrumentedAttribute[int]) -> int:
    """One past the largest id in column (ids are given explicitly for speed)."""
    return int(session.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


def bulk_load(
    catalog: IndexCatalog,
    name: str,
    vectors: np.ndarray,
    *,
    kind: str = "auto",
    pipeline: str = "yunet+sface",
    model: str = "sface",
    model_version: str = "bulk",
    subject_prefix: str = "s",
) -> BulkGallery:
    """Create gallery `name` holding one subject per row of unit `vectors`, indexed `kind`."""
    check_kind(kind)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or not len(vectors):
        raise InvalidInputError(f"bulk load needs an (n, dim) matrix, got shape {vectors.shape}")
    n, dim = vectors.shape
    database, sealer = catalog.database, catalog.sealer
    now = utcnow()
    names = [f"{subject_prefix}{i}" for i in range(n)]
    with database.transaction() as session:
        if session.scalar(select(Gallery.id).where(Gallery.name == name)) is not None:
            raise InvalidInputError(f"gallery {name!r} already exists")
        gallery = Gallery(name=name, pipeline=pipeline, keep_photos=False, index_factory=kind)
        session.add(gallery)
        session.flush()
        first_subject = _next_id(session, Subject.id)
        first_image = _next_id(session, Image.id)
        first_template = _next_id(session, Template.id)
        for lo in range(0, n, INSERT_BATCH):
            hi = min(n, lo + INSERT_BATCH)
            rows = range(lo, hi)
            session.execute(
                insert(Subject),
                [
                    {
                        "id": first_subject + i,
                        "gallery_id": gallery.id,
                        "external_id": names[i],
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
            session.execute(
                insert(Image),
                [
                    {
                        "id": first_image + i,
                        "subject_id": first_subject + i,
                        "sha256": hashlib.sha256(b"%d:%d" % (gallery.id, i)).hexdigest(),
                        "format": SYNTHETIC_FORMAT,
                        "width": 0,
                        "height": 0,
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
            session.execute(
                insert(Template),
                [
                    {
                        "id": first_template + i,
                        "image_id": first_image + i,
                        "gallery_id": gallery.id,
                        "model": model,
                        "model_version": model_version,
                        "dim": dim,
                        "vector": vector_to_bytes(vectors[i], sealer),
                        "box": [],
                        "landmarks": [],
                        "quality": 1.0,
                        "quality_components": {},
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
        bump_generation(session, gallery.id, model)
        gallery_id = gallery.id
    ids = np.arange(first_template, first_template + n, dtype=np.int64)
    catalog.adopt(gallery_id, model, dim, kind, ids, vectors)
    return BulkGallery(gallery_id, ids, names)
