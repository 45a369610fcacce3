"""Erasure: the one way images, templates, index entries and photo files of a person go.

Subject deletion, granted deletion requests and retention all erase through here: the
rows and one audit entry per image go in the caller's transaction; index entries and
files follow once it has committed (`finish_erasure`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.audit import append_audit
from facetrail.core.kernel import Kernel
from facetrail.index.catalog import bump_generation
from facetrail.store.models import Gallery, Image, Subject, Template


@dataclass
class Erasure:
    """What one transaction removed; finished (index, photo files) after it commits."""

    images: int = 0
    templates: int = 0
    subjects: int = 0
    removed: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    generations: dict[tuple[int, str], int] = field(default_factory=dict)
    photo_paths: list[str] = field(default_factory=list)
    pipelines: dict[int, str] = field(default_factory=dict)


def erase_images(
    session: Session,
    images: list[tuple[Image, Gallery, Subject]],
    *,
    actor: str,
    action: str,
    reasons: dict[int, str],
    extra: dict[str, object] | None = None,
) -> Erasure:
    """Delete images (templates cascade) and emptied subjects, one audit entry per image.

    The audit keeps provenance (ids, source, legal basis, photo hash), never templates.
    """
    erasure = Erasure()
    if not images:
        return erasure
    ids = [image.id for image, _, _ in images]
    per_image: dict[int, int] = defaultdict(int)
    for template_id, image_id, gallery_id, model in session.execute(
        select(Template.id, Template.image_id, Template.gallery_id, Template.model).where(
            Template.image_id.in_(ids)
        )
    ):
        erasure.removed.setdefault((gallery_id, model), []).append(template_id)
        per_image[image_id] += 1
    subjects: dict[int, Subject] = {}
    for image, gallery, subject in images:
        erasure.pipelines[gallery.id] = gallery.pipeline
        if image.photo_path:
            erasure.photo_paths.append(image.photo_path)
        subjects[subject.id] = subject
        append_audit(
            session,
            actor=actor,
            action=action,
            outcome="ok",
            gallery=gallery.name,
            target=subject.external_id,
            details={
                "image_id": image.id,
                "sha256": image.sha256,
                "source": image.source,
                "legal_basis": image.legal_basis,
                "retain_until": str(image.retain_until) if image.retain_until else None,
                "reason": reasons.get(image.id, ""),
                "templates": per_image[image.id],
                **(extra or {}),
            },
        )
        session.delete(image)
    session.flush()
    erasure.images = len(images)
    erasure.templates = sum(len(t) for t in erasure.removed.values())
    for subject in subjects.values():
        left = session.scalar(select(func.count(Image.id)).where(Image.subject_id == subject.id))
        if not left:
            session.delete(subject)
            erasure.subjects += 1
    session.flush()
    for gallery_id, model in erasure.removed:
        erasure.generations[(gallery_id, model)] = bump_generation(session, gallery_id, model)
    still_used = set(
        session.scalars(select(Image.photo_path).where(Image.photo_path.in_(erasure.photo_paths)))
    )
    erasure.photo_paths = [p for p in dict.fromkeys(erasure.photo_paths) if p not in still_used]
    return erasure


def finish_erasure(kernel: Kernel, erasure: Erasure) -> int:
    """After commit: drop the ids from the indexes (on disk too) and delete the photo files."""
    for (gallery_id, model), template_ids in erasure.removed.items():
        kernel.catalog.apply(
            gallery_id,
            model,
            erasure.generations[(gallery_id, model)],
            remove=np.array(template_ids, np.int64),
        )
    for gallery_id in {g for g, _ in erasure.removed}:
        kernel.catalog.save(gallery_id)
        with kernel.reader() as session:
            kind = session.scalars(
                select(Gallery.index_factory).where(Gallery.id == gallery_id)
            ).one()
        for recognizer in FaceAnalyzer.from_spec(erasure.pipelines[gallery_id]).recognizers:
            # An index not open in this process is reconciled from the database and saved
            # (a Milvus server that is down: reconciled before its next search).
            kernel.catalog.settle(gallery_id, recognizer.name, recognizer.dim, kind)
    for path in erasure.photo_paths:
        kernel.photos.delete(path)
    return len(erasure.photo_paths)
