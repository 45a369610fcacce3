"""Enrolling photos into a gallery: resumable, in parallel, one transaction per photo."""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facetrail.biometrics.face import Face
from facetrail.core.access import ADMINISTRATOR, OPERATOR, declare, requires
from facetrail.core.analyzers import AnalyzerPool
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import FacetrailError, ImageError, InvalidInputError, NotFoundError
from facetrail.index.catalog import IndexCatalog, bump_generation, vector_to_bytes
from facetrail.media.images import DEFAULT_LIMITS, DecodedImage, is_image_file, load_image
from facetrail.services.gallery_records import GALLERY_CREATE, GalleryRequest, create_gallery
from facetrail.services.lookup import find_gallery
from facetrail.services.matching import rank_subjects_batch
from facetrail.services.naming import validate_subject_id
from facetrail.services.results import EnrolItem, EnrolReport
from facetrail.store.blobs import PhotoStore
from facetrail.store.database import Database
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

ENROL = declare("enrol", "enrol photos into galleries", (OPERATOR, ADMINISTRATOR))

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".pnm", ".gif"}
INDEX_SAVE_EVERY = 500  # enrolled photos between index saves; a crash loses none (reconciled)
DUPLICATE_CHECK_CANDIDATES = 3
DUPLICATE_WARNING = "possible duplicate"
STORE_BATCH = 32  # photos per transaction: amortises commit, audit and index bookkeeping

Progress = Callable[[EnrolItem, int, int], None]


@dataclass(frozen=True, slots=True)
class EnrolRequest:
    """What to enrol, where, and with which provenance."""

    path: Path
    gallery: str
    subject: str | None = None
    source: str = ""
    legal_basis: str = ""
    retain_until: date | None = None
    collected_at: datetime | None = None
    pipeline: str | None = None  # a new gallery's pipeline (an existing one keeps its own)
    keep_photos: bool = True  # a new gallery: keep the photo bytes, or templates only


@dataclass(frozen=True, slots=True)
class EnrolTask:
    """One photo file to enrol as one subject."""

    path: Path
    subject: str


@dataclass(slots=True)
class Prepared:
    """A photo read, decoded, embedded (and its bytes kept if asked) by a worker."""

    task: EnrolTask
    sha256: str = ""
    image_format: str = ""
    width: int = 0
    height: int = 0
    face: Face | None = None
    faces_found: int = 0
    photo_path: str | None = None
    photo_created: bool = False
    error: str = ""
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.skipped and not self.error and self.face is not None


def _looks_like_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or is_image_file(path)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _looks_like_image(p))


def plan(path: Path, subject: str | None) -> tuple[list[EnrolTask], list[EnrolItem]]:
    """Photos to enrol under `path`, and the files passed over with the reason.

    A file needs `subject`. A folder with `subject` enrols its photos as that subject;
    without it, each sub-folder is a subject named after the folder.
    """
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        if subject is None:
            raise InvalidInputError(f"{path}: enrolling a single photo needs --subject")
        return [EnrolTask(path, validate_subject_id(subject))], []
    if subject is not None:
        name = validate_subject_id(subject)
        return [EnrolTask(p, name) for p in _images_in(path)], []
    tasks: list[EnrolTask] = []
    passed_over = [
        EnrolItem(path=str(p), subject=None, status="skipped", reason="not in a subject folder")
        for p in sorted(path.iterdir())
        if p.is_file() and _looks_like_image(p)
    ]
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = validate_subject_id(folder.name)
        tasks.extend(EnrolTask(p, name) for p in _images_in(folder))
    return tasks, passed_over


class Enroller:
    """Runs one enrolment request against a gallery."""

    def __init__(
        self,
        database: Database,
        catalog: IndexCatalog,
        photos: PhotoStore,
        analyzers: AnalyzerPool,
        actor: str,
        workers: int,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.photos = photos
        self.analyzers = analyzers
        self.actor = actor
        self.workers = max(1, workers)

    def run(
        self, request: EnrolRequest, gallery: Gallery, progress: Progress | None = None
    ) -> EnrolReport:
        """Enrol every planned photo; already enrolled ones are skipped (resumable)."""
        started = time.perf_counter()
        if request.retain_until is not None and request.retain_until < utcnow().date():
            raise InvalidInputError(
                f"--retain-until {request.retain_until} is in the past; nothing was enrolled"
            )
        tasks, items = plan(request.path, request.subject)
        known_subjects, enrolled_hashes = self._existing(gallery.id)
        subjects_before = len(known_subjects)
        total = len(tasks)
        done = 0
        since_save = 0
        prepared_photos = self._prepare_all(tasks, gallery, enrolled_hashes)
        for batch in _batches(prepared_photos, STORE_BATCH):
            stored = self._store_batch(request, gallery, batch, known_subjects)
            for prepared, item in zip(batch, stored, strict=True):
                items.append(item)
                done += 1
                if item.status == "enrolled":
                    enrolled_hashes.add((prepared.task.subject, prepared.sha256))
                    since_save += 1
                if progress:
                    progress(item, done, total)
            if since_save >= INDEX_SAVE_EVERY:
                self.catalog.save(gallery.id)
                since_save = 0
        self.catalog.save(gallery.id)
        return EnrolReport(
            gallery=gallery.name,
            pipeline=gallery.pipeline,
            enrolled=sum(i.status == "enrolled" for i in items),
            skipped=sum(i.status == "skipped" for i in items),
            failed=sum(i.status == "failed" for i in items),
            subjects_created=len(known_subjects) - subjects_before,
            duplicate_warnings=sum(
                any(w.startswith(DUPLICATE_WARNING) for w in i.warnings) for i in items
            ),
            seconds=round(time.perf_counter() - started, 3),
            items=items,
        )

    def _existing(self, gallery_id: int) -> tuple[dict[str, int], set[tuple[str, str]]]:
        with self.database.reader() as session:
            subjects = dict(
                session.execute(
                    select(Subject.external_id, Subject.id).where(Subject.gallery_id == gallery_id)
                )
                .tuples()
                .all()
            )
            hashes = set(
                session.execute(
                    select(Subject.external_id, Image.sha256)
                    .join(Image, Image.subject_id == Subject.id)
                    .where(Subject.gallery_id == gallery_id)
                ).all()
            )
        return subjects, {(s, h) for s, h in hashes}

    def _prepare_all(
        self, tasks: list[EnrolTask], gallery: Gallery, done: set[tuple[str, str]]
    ) -> Iterator[Prepared]:
        """Prepared photos in task order, computed by worker threads a few ahead."""
        window = max(self.workers * 4, STORE_BATCH * 2)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="enrol") as pool:
            pending: deque[Future[Prepared]] = deque()
            queue = iter(tasks)
            for task in queue:
                pending.append(pool.submit(self._prepare, task, gallery, done))
                if len(pending) >= window:
                    break
            while pending:
                prepared = pending.popleft().result()
                next_task = next(queue, None)
                if next_task is not None:
                    pending.append(pool.submit(self._prepare, next_task, gallery, done))
                yield prepared

    def _prepare(self, task: EnrolTask, gallery: Gallery, done: set[tuple[str, str]]) -> Prepared:
        """Read, decode, detect and embed one photo; keep its bytes if the gallery does."""
        prepared = Prepared(task)
        try:
            data = _read_checked(task.path)
            prepared.sha256 = hashlib.sha256(data).hexdigest()
            if (task.subject, prepared.sha256) in done:
                prepared.skipped = True
                return prepared
            image = load_image(data, name=str(task.path))
            analyzer = self.analyzers.get(gallery.pipeline)
            faces = analyzer.detect(image.pixels)
            prepared.faces_found = len(faces)
            if not faces:
                prepared.error = "no face found; use a photo where the face is clearly visible"
                return prepared
            if len(faces) > 1:
                prepared.warnings.append(
                    f"{len(faces)} faces found; enrolled the largest (use a single-face photo)"
                )
            prepared.face = analyzer.embed(image.pixels, faces[0])
            prepared.image_format, prepared.width, prepared.height = (
                image.format,
                image.width,
                image.height,
            )
            if gallery.keep_photos:
                self._keep_photo(gallery, image, prepared)
        except FacetrailError as error:
            prepared.error = str(error)
        return prepared

    def _keep_photo(self, gallery: Gallery, image: DecodedImage, prepared: Prepared) -> None:
        # Written before the database commit; a crash in between leaves an unreferenced,
        # content-addressed file that the re-run reuses. Never the other way round.
        target = self.photos.path_for(gallery.id, image.sha256, image.format)
        prepared.photo_created = not target.exists()
        prepared.photo_path = str(
            self.photos.write(gallery.id, image.sha256, image.format, image.data)
        )

    def _store_batch(
        self,
        request: EnrolRequest,
        gallery: Gallery,
        batch: list[Prepared],
        known_subjects: dict[str, int],
    ) -> list[EnrolItem]:
        """Store every ready photo of the batch in one transaction; an item for each."""
        items = [_initial_item(prepared) for prepared in batch]
        ready = [(p, i) for p, i in zip(batch, items, strict=True) if p.ready]
        if not ready:
            return items
        new_subject = [(p, i) for p, i in ready if p.task.subject not in known_subjects]
        for (_, item), warnings in zip(
            new_subject, self._duplicate_warnings([p for p, _ in new_subject], gallery), strict=True
        ):
            item.warnings.extend(warnings)
        try:
            image_ids, changes = self._commit(
                request, gallery, [p for p, _ in ready], known_subjects
            )
        except BaseException:
            for prepared, _ in ready:
                if prepared.photo_created:
                    self.photos.delete(prepared.photo_path)
            raise
        for model, (generation, template_ids, vectors) in changes.items():
            self.catalog.apply(
                gallery.id,
                model,
                generation,
                add=(np.array(template_ids, np.int64), np.stack(vectors)),
            )
        for (prepared, item), image_id in zip(ready, image_ids, strict=True):
            quality = prepared.face.quality if prepared.face else None
            item.status, item.image_id = "enrolled", image_id
            item.quality = quality.score if quality else None
        return items

    def _duplicate_warnings(self, batch: list[Prepared], gallery: Gallery) -> list[list[str]]:
        """For each new subject's face: existing (or same-batch) subjects it matches."""
        if not batch:
            return []
        analyzer = self.analyzers.get(gallery.pipeline)
        threshold = analyzer.calibration.threshold
        faces = [p.face for p in batch if p.face is not None]
        with self.database.reader() as session:
            matches = rank_subjects_batch(
                session, self.catalog, gallery, analyzer, faces, DUPLICATE_CHECK_CANDIDATES
            )
        warnings: list[list[str]] = []
        for row, (prepared, found) in enumerate(zip(batch, matches, strict=True)):
            similar = {m.subject: m.score for m in found if m.score >= threshold}
            for other in batch[:row]:  # new subjects of this batch are not indexed yet
                if other.task.subject != prepared.task.subject and other.face is not None:
                    score = analyzer.compare(prepared.face, other.face)  # type: ignore[arg-type]
                    if score >= threshold:
                        similar[other.task.subject] = max(
                            score, similar.get(other.task.subject, score)
                        )
            warnings.append(
                [
                    f"{DUPLICATE_WARNING}: matches subject {subject!r} with score {score:.3f}"
                    f" (threshold {threshold:.3f})"
                    for subject, score in sorted(similar.items(), key=lambda kv: -kv[1])
                ]
            )
        return warnings

    def _commit(
        self,
        request: EnrolRequest,
        gallery: Gallery,
        batch: list[Prepared],
        known_subjects: dict[str, int],
    ) -> tuple[list[int], dict[str, tuple[int, list[int], list[np.ndarray]]]]:
        """Subjects, images, templates, one audit entry per photo, and the index generations.

        All in one transaction: a crash stores the whole batch or none of it.
        """
        analyzer = self.analyzers.get(gallery.pipeline)
        created: dict[str, int] = {}
        image_ids: list[int] = []
        added: dict[str, tuple[list[int], list[np.ndarray]]] = {
            r.name: ([], []) for r in analyzer.recognizers
        }
        with self.database.transaction() as session:
            for prepared in batch:
                image_id = self._insert_photo(
                    session, request, gallery, prepared, known_subjects, created, added
                )
                image_ids.append(image_id)
            generations = {model: bump_generation(session, gallery.id, model) for model in added}
        known_subjects.update(created)
        changes = {
            model: (generations[model], ids, vectors) for model, (ids, vectors) in added.items()
        }
        return image_ids, changes

    def _insert_photo(
        self,
        session: Session,
        request: EnrolRequest,
        gallery: Gallery,
        prepared: Prepared,
        known_subjects: dict[str, int],
        created: dict[str, int],
        added: dict[str, tuple[list[int], list[np.ndarray]]],
    ) -> int:
        face, task = prepared.face, prepared.task
        assert face is not None
        quality = face.quality
        cached = known_subjects.get(task.subject) or created.get(task.subject)
        subject_id = subject_in_transaction(session, gallery.id, task.subject, cached)
        if subject_id != cached:
            created[task.subject] = subject_id
        record = Image(
            subject_id=subject_id,
            sha256=prepared.sha256,
            format=prepared.image_format,
            width=prepared.width,
            height=prepared.height,
            file_name=task.path.name,
            source=request.source,
            legal_basis=request.legal_basis,
            collected_at=request.collected_at,
            retain_until=request.retain_until,
            photo_path=prepared.photo_path,
            faces_found=prepared.faces_found,
        )
        session.add(record)
        session.flush()
        templates = []
        for model, (ids, vectors) in added.items():
            recognizer = next(
                r for r in self.analyzers.get(gallery.pipeline).recognizers if r.name == model
            )
            vector = np.ascontiguousarray(face.template(model), dtype=np.float32)
            template = Template(
                image_id=record.id,
                gallery_id=gallery.id,
                model=model,
                model_version=recognizer.version,
                dim=recognizer.dim,
                vector=vector_to_bytes(vector, self.catalog.sealer),
                box=[float(v) for v in face.box],
                landmarks=np.asarray(face.landmarks, dtype=float).round(2).tolist(),
                quality=quality.score if quality else 0.0,
                quality_components=dict(quality.components) if quality else {},
            )
            session.add(template)
            templates.append((template, ids, vectors, vector))
        session.flush()
        for template, ids, vectors, vector in templates:
            ids.append(template.id)
            vectors.append(vector)
        append_audit(
            session,
            actor=self.actor,
            action="enrol",
            outcome="ok",
            gallery=gallery.name,
            target=task.subject,
            details={
                "image_id": record.id,
                "sha256": prepared.sha256,
                "file": task.path.name,
                "faces_found": prepared.faces_found,
                "quality": round(quality.score, 1) if quality else None,
                "models": sorted(added),
                "source": request.source,
                "legal_basis": request.legal_basis,
                "retain_until": str(request.retain_until) if request.retain_until else None,
                "photo_kept": prepared.photo_path is not None,
            },
        )
        return record.id


def subject_in_transaction(
    session: Session, gallery_id: int, external_id: str, cached: int | None
) -> int:
    """The subject's id as of this transaction, created if no one has (or it was deleted).

    Another enrolment (thread or process) may have created the subject, or a deletion
    removed it, since the run read its subjects; concurrent creations converge on one row.
    """
    if cached is not None and session.get(Subject, cached) is not None:
        return cached
    query = select(Subject.id).where(
        Subject.gallery_id == gallery_id, Subject.external_id == external_id
    )
    existing = session.scalar(query)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            subject = Subject(gallery_id=gallery_id, external_id=external_id)
            session.add(subject)
            session.flush()
            return subject.id
    except IntegrityError:  # created by a concurrent transaction just now
        found = session.scalar(query)
        if found is None:
            raise
        return found


def _initial_item(prepared: Prepared) -> EnrolItem:
    """The report line of a photo before storing: skipped, failed, or pending."""
    item = EnrolItem(
        path=str(prepared.task.path),
        subject=prepared.task.subject,
        status="failed",
        warnings=list(prepared.warnings),
    )
    if prepared.skipped:
        item.status, item.reason = "skipped", "already enrolled"
    elif not prepared.ready:
        item.reason = prepared.error or "not processed"
    return item


def _batches(prepared: Iterator[Prepared], size: int) -> Iterator[list[Prepared]]:
    """Consecutive groups of at most `size` prepared photos."""
    batch: list[Prepared] = []
    for item in prepared:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _read_checked(path: Path) -> bytes:
    """The file's bytes, refusing an over-large file before reading it."""
    try:
        size = os.stat(path).st_size
    except OSError as error:
        raise ImageError(str(path), f"cannot read file: {error.strerror}") from error
    if size > DEFAULT_LIMITS.max_bytes:
        raise ImageError(
            str(path), f"file is {size} bytes, over the {DEFAULT_LIMITS.max_bytes}-byte limit"
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageError(str(path), f"cannot read file: {error.strerror}") from error


class Enrolment:
    """The enrol use case: a photo or a folder of subject folders into a gallery."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(ENROL)
    def enrol(
        self, context: Context, request: EnrolRequest, progress: Progress | None = None
    ) -> EnrolReport:
        """Enrol the request's photos; the gallery is created on first use (resumable)."""
        with self.kernel.reader() as session:
            record = session.scalar(select(Gallery).where(Gallery.name == request.gallery))
        if record is None:
            self.kernel.require(context, GALLERY_CREATE.name)
            new_gallery = GalleryRequest(
                request.gallery, pipeline=request.pipeline, keep_photos=request.keep_photos
            )
            with self.kernel.unit_of_work(context) as work:
                settings = self.kernel.settings
                create_gallery(
                    work, new_gallery, settings.pipeline, settings.index_kind, settings.index_url
                )
            with self.kernel.reader() as session:
                record = find_gallery(session, request.gallery)
        elif request.pipeline and request.pipeline != record.pipeline:
            raise InvalidInputError(
                f"gallery {record.name!r} enrols with {record.pipeline!r}, not {request.pipeline!r}"
            )
        enroller = Enroller(
            self.kernel.database,
            self.kernel.catalog,
            self.kernel.photos,
            self.kernel.analyzers,
            context.actor,
            self.kernel.settings.workers,
        )
        return enroller.run(request, record, progress)
