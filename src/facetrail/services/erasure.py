"""Erasure: the one way a person's images, templates and every copy of them go.

Subject deletion, granted deletion requests and retention all erase through here. In the
caller's transaction: the rows (images, templates, emptied subjects), the frozen watchlist
templates of those images, the subject's name, id and crop on alerts (the alert stays
for statistics), their audit entries, and a journal row (`ErasureJob`) listing what has
to go outside the database: index ids, photo files, watchlist reference crops, alert
crops and evaluation template cache entries. After the commit the removals run
(`finish_erasure`); if the process dies first, the next open of the home (or
`facetrail repair`) runs them again until they are done (`resume_erasures`).

Preconditions (the key of an encrypted home, folders writable, caches readable) are
checked before anything is deleted, so an erasure never commits what it cannot finish.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.audit import append_audit
from facetrail.core.kernel import Kernel
from facetrail.errors import FacetrailError, StoreError
from facetrail.evaluation.templates import forget_cached
from facetrail.index.catalog import bump_generation
from facetrail.index.rerank import store_path
from facetrail.security.keyring import is_sealed
from facetrail.store.blobs import PhotoStore
from facetrail.store.erasure_models import ErasureJob
from facetrail.store.federation_models import Exchange
from facetrail.store.live_models import Alert, FrozenTemplate, WatchlistVersion
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.oversight_models import DeletionRequest
from facetrail.store.types import utcnow

log = logging.getLogger(__name__)

ERASED = "(erased)"  # what an alert or deletion request shows instead of an erased subject
CACHE_FOLDER = Path("cache") / "templates"
FILE_KINDS = ("photos", "reference_crops", "alert_crops")


@dataclass
class Erasure:
    """What one transaction removed; finished (index, files, caches) after it commits."""

    images: int = 0
    templates: int = 0
    subjects: int = 0
    frozen_templates: int = 0
    alerts_anonymised: int = 0
    removed: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    generations: dict[tuple[int, str], int] = field(default_factory=dict)
    photo_paths: list[str] = field(default_factory=list)
    reference_paths: list[str] = field(default_factory=list)
    alert_crop_paths: list[str] = field(default_factory=list)
    sha256s: list[str] = field(default_factory=list)
    pipelines: dict[int, str] = field(default_factory=dict)
    job_id: int | None = None
    by_kind: dict[str, int] = field(default_factory=dict)  # filled by finish_erasure


def check_erasable(kernel: Kernel, session: Session, gallery_ids: set[int]) -> None:
    """Refuse (before anything is deleted) an erasure this process could not finish."""
    if not kernel.sealer.enabled and _sealed(kernel, session, gallery_ids):
        raise StoreError(
            "this home is encrypted at rest: set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE to"
            " erase (nothing was deleted)"
        )
    folders = [kernel.catalog.directory, kernel.photos.root]
    folders += [kernel.watchlist_references.root, kernel.alert_crops.root]
    for folder in folders:
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"cannot erase: {folder} is not writable (nothing was deleted)")
    cache = kernel.home / CACHE_FOLDER
    for path in sorted(cache.glob("*.npz")) if cache.is_dir() else []:
        if not os.access(path, os.R_OK) or not os.access(cache, os.W_OK):
            raise StoreError(
                f"cannot erase: the template cache {path} is not readable and writable"
                " (nothing was deleted)"
            )


def _sealed(kernel: Kernel, session: Session, gallery_ids: set[int]) -> bool:
    """Whether the galleries' templates or index files are sealed (need the key)."""
    if gallery_ids:
        sample = session.scalar(
            select(Template.vector).where(Template.gallery_id.in_(gallery_ids)).limit(1)
        )
        if sample is not None and is_sealed(sample):
            return True
    for path in kernel.catalog.directory.glob("gallery-*.faiss"):
        gallery_id = path.name.split("-")[1]
        if gallery_id.isdigit() and int(gallery_id) in gallery_ids:
            with path.open("rb") as stream:
                if is_sealed(stream.read(64)):
                    return True
    return False


def erase_images(
    kernel: Kernel,
    session: Session,
    images: list[tuple[Image, Gallery, Subject]],
    *,
    actor: str,
    action: str,
    reasons: dict[int, str],
    extra: dict[str, object] | None = None,
    subjects: list[tuple[Subject, Gallery]] | None = None,
    audit_each: bool = True,
) -> Erasure:
    """Delete images (templates cascade), emptied subjects and every copy, journalled.

    `subjects` are deleted whole even with no image left. With `audit_each`, one audit
    entry per image keeps its provenance (ids, source, legal basis, photo hash), never
    templates; else the caller writes its own entry in the same transaction.
    """
    erasure = Erasure()
    whole = {subject.id: (subject, gallery) for subject, gallery in subjects or []}
    if not images and not whole:
        return erasure
    gallery_ids = {g.id for _, g, _ in images} | {g.id for _, g in whole.values()}
    check_erasable(kernel, session, gallery_ids)
    ids = [image.id for image, _, _ in images]
    per_image: dict[int, int] = defaultdict(int)
    for template_id, image_id, gallery_id, model in session.execute(
        select(Template.id, Template.image_id, Template.gallery_id, Template.model).where(
            Template.image_id.in_(ids)
        )
    ):
        erasure.removed.setdefault((gallery_id, model), []).append(template_id)
        per_image[image_id] += 1
    touched: dict[int, tuple[Subject, Gallery]] = dict(whole)
    for image, gallery, subject in images:
        erasure.pipelines[gallery.id] = gallery.pipeline
        erasure.sha256s.append(image.sha256)
        if image.photo_path:
            erasure.photo_paths.append(image.photo_path)
        touched[subject.id] = (subject, gallery)
        if audit_each:
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
    for _, gallery in whole.values():
        erasure.pipelines[gallery.id] = gallery.pipeline
    _erase_frozen_copies(session, erasure, ids)
    for image, _, _ in images:
        session.delete(image)
    session.flush()
    erasure.images = len(images)
    erasure.templates = sum(len(t) for t in erasure.removed.values())
    gone = []
    for subject, gallery in touched.values():
        left = session.scalar(select(func.count(Image.id)).where(Image.subject_id == subject.id))
        if subject.id in whole or not left:
            gone.append((subject, gallery))
    _forget_subjects(session, erasure, gone)
    for subject, _ in gone:
        session.delete(subject)
        erasure.subjects += 1
    session.flush()
    for gallery_id, model in erasure.removed:
        erasure.generations[(gallery_id, model)] = bump_generation(session, gallery_id, model)
    erasure.photo_paths = _unused(session, Image.photo_path, erasure.photo_paths)
    erasure.reference_paths = [
        p
        for p in _unused(session, FrozenTemplate.reference_path, erasure.reference_paths)
        if p in _unused(session, Alert.reference_path, [p])
    ]
    erasure.alert_crop_paths = _unused(session, Alert.crop_path, erasure.alert_crop_paths)
    erasure.sha256s = _unused(session, Image.sha256, erasure.sha256s)
    erasure.job_id = _journal(session, erasure, actor=actor, action=action)
    return erasure


def erase_received_records(
    session: Session, rows: list[Exchange], *, actor: str, action: str, reason: str
) -> int:
    """Empty records received from partners (core data, Type-10 images, the note), audited.

    The row keeps what is not the person: request id, partner, opaque reference, status,
    and when and why it was erased. Nothing of the record stays outside these rows (the
    received transaction is only ever stored sealed in `Exchange.transaction`).
    """
    now = utcnow()
    erased = 0
    for row in rows:
        if row.erased_at is not None or (row.record is None and row.transaction is None):
            continue
        images = len((row.record or {}).get("images") or [])
        row.record = None
        row.transaction = None
        row.note = ""
        row.erased_at = now
        erased += 1
        append_audit(
            session,
            actor=actor,
            action=action,
            outcome="ok",
            target=row.request_id,
            details={
                "request_id": row.request_id,
                "partner": row.partner,
                "reference": row.reference,
                "exchange_id": row.id,
                "images": images,
                "retain_until": row.retain_until.isoformat() if row.retain_until else None,
                "reason": reason,
            },
        )
    session.flush()
    return erased


def _erase_frozen_copies(session: Session, erasure: Erasure, image_ids: list[int]) -> None:
    """Delete the frozen watchlist templates of the images; their reference crops go later."""
    if not image_ids:
        return
    frozen = list(
        session.scalars(select(FrozenTemplate).where(FrozenTemplate.image_id.in_(image_ids)))
    )
    for template in frozen:
        if template.reference_path:
            erasure.reference_paths.append(template.reference_path)
        session.delete(template)
    erasure.frozen_templates += len(frozen)
    session.flush()


def _forget_subjects(
    session: Session, erasure: Erasure, gone: list[tuple[Subject, Gallery]]
) -> None:
    """Strip erased subjects from alerts, frozen rows, exclusion lists and requests."""
    if not gone:
        return
    subject_ids = [s.id for s, _ in gone]
    names = {s.external_id for s, _ in gone}
    alerts = list(session.scalars(select(Alert).where(Alert.subject_id.in_(subject_ids))))
    now = utcnow()
    for alert in alerts:
        if alert.crop_path:
            erasure.alert_crop_paths.append(alert.crop_path)
        if alert.reference_path:
            erasure.reference_paths.append(alert.reference_path)
        alert.subject_id = None
        alert.subject_external_id = ERASED
        alert.crop_path = None
        alert.reference_path = None
        alert.crop_deleted_at = alert.crop_deleted_at or now
    erasure.alerts_anonymised += len(alerts)
    leftover = list(
        session.scalars(select(FrozenTemplate).where(FrozenTemplate.subject_id.in_(subject_ids)))
    )
    for template in leftover:  # templates of images erased earlier by image id
        if template.reference_path:
            erasure.reference_paths.append(template.reference_path)
        session.delete(template)
    erasure.frozen_templates += len(leftover)
    for version in session.scalars(select(WatchlistVersion)):
        kept = [e for e in version.excluded or [] if e.get("subject") not in names]
        if len(kept) != len(version.excluded or []):
            version.excluded = kept
    for subject, gallery in gone:
        session.execute(
            update(DeletionRequest)
            .where(
                DeletionRequest.gallery == gallery.name,
                DeletionRequest.subject == subject.external_id,
            )
            .values(subject=ERASED)
        )
    session.flush()


def _unused(session: Session, column: Any, values: list[str]) -> list[str]:
    """The values (deduplicated) no remaining row of `column` holds."""
    unique = list(dict.fromkeys(v for v in values if v))
    if not unique:
        return []
    held = set(session.scalars(select(column).where(column.in_(unique))))
    return [v for v in unique if v not in held]


def _journal(session: Session, erasure: Erasure, *, actor: str, action: str) -> int:
    """Record what is left to remove outside the database, in the erasure's transaction."""
    index = []
    for (gallery_id, model), template_ids in sorted(erasure.removed.items()):
        index.append(
            {
                "gallery_id": gallery_id,
                "model": model,
                "generation": erasure.generations[(gallery_id, model)],
                "ids": sorted(template_ids),
            }
        )
    plan = {
        "index": index,
        "pipelines": {str(g): p for g, p in erasure.pipelines.items()},
        "photos": erasure.photo_paths,
        "reference_crops": erasure.reference_paths,
        "alert_crops": erasure.alert_crop_paths,
        "cache_sha256": erasure.sha256s,
        "rows": {
            "images": erasure.images,
            "templates": erasure.templates,
            "subjects": erasure.subjects,
            "frozen_templates": erasure.frozen_templates,
            "alerts_anonymised": erasure.alerts_anonymised,
        },
    }
    job = ErasureJob(action=action, actor=actor, plan=plan, removed={}, attempts=0)
    session.add(job)
    session.flush()
    return job.id


def finish_erasure(kernel: Kernel, erasure: Erasure) -> int:
    """After commit: run the erasure's journalled removals; returns photo files removed."""
    if erasure.job_id is None:
        return 0
    erasure.by_kind = run_job(kernel, erasure.job_id)
    return erasure.by_kind.get("photos", 0)


def run_job(kernel: Kernel, job_id: int) -> dict[str, int]:
    """Run one journalled erasure's removals (again); mark it finished; removed by kind.

    Every step is idempotent, so a job cut short by a crash is simply run again.
    """
    with kernel.database.reader() as session:
        job = session.get(ErasureJob, job_id)
        if job is None:
            raise StoreError(f"erasure job {job_id} does not exist")
        if job.finished_at is not None:
            return dict(job.removed)
        plan = dict(job.plan)
    try:
        removed = _run_plan(kernel, plan)
    except (FacetrailError, OSError) as error:
        with kernel.database.transaction() as session:
            record = session.get(ErasureJob, job_id)
            assert record is not None
            record.attempts += 1
            record.last_error = str(error)
        raise StoreError(
            f"erasure {job_id} is committed but its removals failed ({error}); they are"
            " retried on the next open, or run `facetrail repair`"
        ) from error
    with kernel.database.transaction() as session:
        record = session.get(ErasureJob, job_id)
        assert record is not None
        record.attempts += 1
        record.last_error = None
        record.removed = removed
        record.finished_at = utcnow()
    kernel.database.forget_old_pages()
    return removed


def _run_plan(kernel: Kernel, plan: dict[str, Any]) -> dict[str, int]:
    """The removals of one plan: index ids, files, cache entries; counts by kind."""
    removed = {k: int(v) for k, v in plan.get("rows", {}).items()}
    removed["index_entries"] = _remove_from_indexes(kernel, plan)
    stores: dict[str, PhotoStore] = {
        "photos": kernel.photos,
        "reference_crops": kernel.watchlist_references,
        "alert_crops": kernel.alert_crops,
    }
    columns: dict[str, list[Any]] = {
        "photos": [Image.photo_path],
        "reference_crops": [FrozenTemplate.reference_path, Alert.reference_path],
        "alert_crops": [Alert.crop_path],
    }
    for kind in FILE_KINDS:
        paths = list(plan.get(kind, []))
        with kernel.database.reader() as session:  # a path used again since is kept
            held: set[str] = set()
            for column in columns[kind]:
                held |= set(session.scalars(select(column).where(column.in_(paths))))
        store = stores[kind]
        for path in paths:
            if path not in held:
                store.delete(path)
        removed[kind] = sum(1 for p in paths if p not in held and not store.resolve(p).exists())
    shas = set(plan.get("cache_sha256", []))
    removed["cache_entries"] = forget_cached(kernel.home / CACHE_FOLDER, shas) if shas else 0
    return removed


def _remove_from_indexes(kernel: Kernel, plan: dict[str, Any]) -> int:
    """Drop the ids from every index on disk (open here or not); how many were dropped."""
    pipelines = {int(g): p for g, p in plan.get("pipelines", {}).items()}
    dims: dict[tuple[int, str], int] = {}
    for gallery_id, pipeline in pipelines.items():
        for recognizer in FaceAnalyzer.from_spec(pipeline).recognizers:
            dims[(gallery_id, recognizer.name)] = recognizer.dim
    count = 0
    with kernel.database.reader() as session:
        factories = dict(
            session.execute(
                select(Gallery.id, Gallery.index_factory).where(Gallery.id.in_(list(pipelines)))
            )
            .tuples()
            .all()
        )
    for entry in plan.get("index", []):
        gallery_id, model = int(entry["gallery_id"]), str(entry["model"])
        ids = np.array(entry["ids"], np.int64)
        kernel.catalog.apply(gallery_id, model, int(entry["generation"]), remove=ids)
        kernel.catalog.save(gallery_id)
        dim = dims.get((gallery_id, model))
        if dim is None or not kernel.catalog.path(gallery_id, model).exists():
            count += ids.size
            continue
        if gallery_id not in factories:  # the gallery itself went since: its index too
            kernel.catalog.path(gallery_id, model).unlink(missing_ok=True)
            store_path(kernel.catalog.path(gallery_id, model)).unlink(missing_ok=True)
            count += ids.size
            continue
        # An index not open in this process is reconciled from the database and saved.
        index = kernel.catalog.get(gallery_id, model, dim, factories[gallery_id])
        still = np.isin(ids, index.ids())
        if still.any():
            raise StoreError(
                f"index gallery {gallery_id} / {model} still holds {int(still.sum())}"
                " erased template(s)"
            )
        count += ids.size
    return count


def pending_jobs(kernel: Kernel) -> list[int]:
    """Ids of journalled erasures whose removals have not finished."""
    with kernel.database.reader() as session:
        return list(
            session.scalars(
                select(ErasureJob.id)
                .where(ErasureJob.finished_at.is_(None))
                .order_by(ErasureJob.id)
            )
        )


def resume_erasures(kernel: Kernel) -> dict[int, dict[str, int] | str]:
    """Finish every pending erasure; per job, its removals or why it is still pending."""
    outcome: dict[int, dict[str, int] | str] = {}
    if kernel.seal_refusal:  # finished by the next process that holds the key
        return outcome
    for job_id in pending_jobs(kernel):
        try:
            outcome[job_id] = run_job(kernel, job_id)
            log.info("erasure %s finished: %s", job_id, outcome[job_id])
        except (FacetrailError, OSError) as error:
            outcome[job_id] = str(error)
            log.warning("erasure %s still pending: %s", job_id, error)
    return outcome
