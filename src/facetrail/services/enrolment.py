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

from facetrail.biometrics.face import Face
from facetrail.errors import FacetrailError, ImageError, InvalidInputError, NotFoundError
from facetrail.media.images import DEFAULT_LIMITS, DecodedImage, is_image_file, load_image
from facetrail.services.analyzers import AnalyzerPool
from facetrail.services.audit import append_audit
from facetrail.services.indexes import IndexCatalog, bump_generation, vector_to_bytes
from facetrail.services.matching import rank_subjects
from facetrail.services.photos import PhotoStore
from facetrail.services.results import EnrolItem, EnrolReport
from facetrail.store.database import Database
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".pnm", ".gif"}
MAX_SUBJECT_ID_LENGTH = 200
INDEX_SAVE_EVERY = 500  # enrolled photos between index saves; a crash loses none (reconciled)
DUPLICATE_CHECK_CANDIDATES = 3

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


@dataclass(frozen=True, slots=True)
class EnrolTask:
    """One photo file to enrol as one subject."""

    path: Path
    subject: str


@dataclass(slots=True)
class Prepared:
    """A photo read, decoded and embedded by a worker, waiting to be stored."""

    task: EnrolTask
    sha256: str = ""
    image: DecodedImage | None = None
    face: Face | None = None
    faces_found: int = 0
    error: str = ""
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)


def validate_subject_id(subject: str) -> str:
    """A subject identifier, stripped; refuses empty, over-long or control characters."""
    cleaned = subject.strip()
    if not cleaned:
        raise InvalidInputError("subject id is empty")
    if len(cleaned) > MAX_SUBJECT_ID_LENGTH:
        raise InvalidInputError(f"subject id is over {MAX_SUBJECT_ID_LENGTH} characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise InvalidInputError(f"subject id {cleaned!r} contains control characters")
    return cleaned


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
        counts = {"enrolled": 0, "skipped": len(items), "failed": 0, "duplicates": 0}
        since_save = 0
        for done, prepared in enumerate(
            self._prepare_all(tasks, gallery.pipeline, enrolled_hashes), 1
        ):
            item = self._store(request, gallery, prepared, known_subjects)
            counts[item.status if item.status != "enrolled" else "enrolled"] += 1
            if any(w.startswith("possible duplicate") for w in item.warnings):
                counts["duplicates"] += 1
            items.append(item)
            if item.status == "enrolled":
                enrolled_hashes.add((prepared.task.subject, prepared.sha256))
                since_save += 1
                if since_save >= INDEX_SAVE_EVERY:
                    self.catalog.save(gallery.id)
                    since_save = 0
            if progress:
                progress(item, done, total)
        self.catalog.save(gallery.id)
        return EnrolReport(
            gallery=gallery.name,
            pipeline=gallery.pipeline,
            enrolled=counts["enrolled"],
            skipped=counts["skipped"],
            failed=counts["failed"],
            subjects_created=len(known_subjects) - subjects_before,
            duplicate_warnings=counts["duplicates"],
            seconds=round(time.perf_counter() - started, 3),
            items=items,
        )

    def _existing(self, gallery_id: int) -> tuple[dict[str, int], set[tuple[str, str]]]:
        with self.database.reader() as session:
            subjects = dict(
                session.execute(
                    select(Subject.external_id, Subject.id).where(Subject.gallery_id == gallery_id)
                ).all()
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
        self, tasks: list[EnrolTask], pipeline: str, done: set[tuple[str, str]]
    ) -> Iterator[Prepared]:
        """Prepared photos in task order, computed by worker threads a few ahead."""
        window = self.workers * 4
        with ThreadPoolExecutor(self.workers, thread_name_prefix="enrol") as pool:
            pending: deque[Future[Prepared]] = deque()
            queue = iter(tasks)
            for task in queue:
                pending.append(pool.submit(self._prepare, task, pipeline, done))
                if len(pending) >= window:
                    break
            while pending:
                prepared = pending.popleft().result()
                next_task = next(queue, None)
                if next_task is not None:
                    pending.append(pool.submit(self._prepare, next_task, pipeline, done))
                yield prepared

    def _prepare(self, task: EnrolTask, pipeline: str, done: set[tuple[str, str]]) -> Prepared:
        prepared = Prepared(task)
        try:
            data = _read_checked(task.path)
            prepared.sha256 = hashlib.sha256(data).hexdigest()
            if (task.subject, prepared.sha256) in done:
                prepared.skipped = True
                return prepared
            image = load_image(data, name=str(task.path))
            analyzer = self.analyzers.get(pipeline)
            faces = analyzer.detect(image.pixels)
            prepared.faces_found = len(faces)
            if not faces:
                prepared.error = "no face found; use a photo where the face is clearly visible"
                return prepared
            if len(faces) > 1:
                prepared.warnings.append(
                    f"{len(faces)} faces found; enrolled the largest (use a single-face photo)"
                )
            prepared.image = image
            prepared.face = analyzer.embed(image.pixels, faces[0])
        except FacetrailError as error:
            prepared.error = str(error)
        return prepared

    def _store(
        self,
        request: EnrolRequest,
        gallery: Gallery,
        prepared: Prepared,
        known_subjects: dict[str, int],
    ) -> EnrolItem:
        task = prepared.task
        item = EnrolItem(path=str(task.path), subject=task.subject, status="failed")
        if prepared.skipped:
            item.status, item.reason = "skipped", "already enrolled"
            return item
        if prepared.error or prepared.face is None or prepared.image is None:
            item.reason = prepared.error or "not processed"
            return item
        face, image = prepared.face, prepared.image
        item.warnings.extend(prepared.warnings)
        if task.subject not in known_subjects:
            item.warnings.extend(self._duplicate_warnings(gallery, face))
        photo_path, photo_created = None, False
        if gallery.keep_photos:
            target = self.photos.path_for(gallery.id, image.sha256, image.format)
            photo_created = not target.exists()
            photo_path = str(self.photos.write(gallery.id, image.sha256, image.format, image.data))
        try:
            image_id, changes = self._commit(request, gallery, prepared, photo_path, known_subjects)
        except BaseException:
            if photo_created:
                self.photos.delete(photo_path)
            raise
        for model, (generation, template_id, vector) in changes.items():
            self.catalog.apply(
                gallery.id,
                model,
                generation,
                add=(np.array([template_id], np.int64), vector[np.newaxis, :]),
            )
        item.status, item.image_id = "enrolled", image_id
        item.quality = face.quality.score if face.quality else None
        return item

    def _duplicate_warnings(self, gallery: Gallery, face: Face) -> list[str]:
        analyzer = self.analyzers.get(gallery.pipeline)
        threshold = analyzer.calibration.threshold
        with self.database.reader() as session:
            matches = rank_subjects(
                session, self.catalog, gallery, analyzer, face, DUPLICATE_CHECK_CANDIDATES
            )
        return [
            f"possible duplicate: matches existing subject {m.subject!r} with score"
            f" {m.score:.3f} (threshold {threshold:.3f})"
            for m in matches
            if m.score >= threshold
        ]

    def _commit(
        self,
        request: EnrolRequest,
        gallery: Gallery,
        prepared: Prepared,
        photo_path: str | None,
        known_subjects: dict[str, int],
    ) -> tuple[int, dict[str, tuple[int, int, np.ndarray]]]:
        """Subject, image, templates, index generations and audit entry in one transaction."""
        face, image, task = prepared.face, prepared.image, prepared.task
        assert face is not None and image is not None
        quality = face.quality
        analyzer = self.analyzers.get(gallery.pipeline)
        changes: dict[str, tuple[int, int, np.ndarray]] = {}
        with self.database.transaction() as session:
            subject_id = known_subjects.get(task.subject)
            if subject_id is None:
                subject = Subject(gallery_id=gallery.id, external_id=task.subject)
                session.add(subject)
                session.flush()
                subject_id = subject.id
            record = Image(
                subject_id=subject_id,
                sha256=image.sha256,
                format=image.format,
                width=image.width,
                height=image.height,
                file_name=task.path.name,
                source=request.source,
                legal_basis=request.legal_basis,
                collected_at=request.collected_at,
                retain_until=request.retain_until,
                photo_path=photo_path,
                faces_found=prepared.faces_found,
            )
            session.add(record)
            session.flush()
            for recognizer in analyzer.recognizers:
                vector = np.ascontiguousarray(face.template(recognizer.name), dtype=np.float32)
                template = Template(
                    image_id=record.id,
                    gallery_id=gallery.id,
                    model=recognizer.name,
                    model_version=recognizer.version,
                    dim=recognizer.dim,
                    vector=vector_to_bytes(vector),
                    box=[float(v) for v in face.box],
                    landmarks=np.asarray(face.landmarks, dtype=float).round(2).tolist(),
                    quality=quality.score if quality else 0.0,
                    quality_components=dict(quality.components) if quality else {},
                )
                session.add(template)
                session.flush()
                generation = bump_generation(session, gallery.id, recognizer.name)
                changes[recognizer.name] = (generation, template.id, vector)
            append_audit(
                session,
                actor=self.actor,
                action="enrol",
                outcome="ok",
                gallery=gallery.name,
                target=task.subject,
                details={
                    "image_id": record.id,
                    "sha256": image.sha256,
                    "file": task.path.name,
                    "faces_found": prepared.faces_found,
                    "quality": round(quality.score, 1) if quality else None,
                    "models": sorted(changes),
                    "source": request.source,
                    "legal_basis": request.legal_basis,
                    "retain_until": str(request.retain_until) if request.retain_until else None,
                    "photo_kept": photo_path is not None,
                },
            )
        known_subjects[task.subject] = subject_id
        return record.id, changes


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
