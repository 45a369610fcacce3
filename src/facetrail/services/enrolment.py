"""Enrolling photos into a gallery: resumable, in parallel, one transaction per photo."""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from facetrail.biometrics.face import Face
from facetrail.biometrics.finite import require_finite
from facetrail.core.access import ADMINISTRATOR, OPERATOR, declare, requires
from facetrail.core.analyzers import AnalyzerPool
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import (
    FacetrailError,
    ImageError,
    InvalidInputError,
    NotFoundError,
    RecordError,
    StoreError,
)
from facetrail.index.catalog import IndexCatalog, bump_generation, vector_to_bytes
from facetrail.media.files import stat_regular
from facetrail.media.images import (
    DecodedImage,
    check_image_file,
    load_image,
    read_image_file,
)
from facetrail.records import (
    DEFAULT_SUBJECT_FIELD,
    EnrolmentImage,
    FaceRecord,
    Transaction,
    enrolment_of,
    is_transaction_file,
    read_provenance,
    read_transaction_file,
)
from facetrail.records import provenance as record_provenance
from facetrail.records.standard import DOMAIN, SUBJECT_FIELD
from facetrail.services.face_choice import describe_faces, face_at_box, pick_face
from facetrail.services.gallery_records import (
    GALLERY_CREATE,
    GalleryRequest,
    create_gallery,
    gallery_min_quality,
)
from facetrail.services.lookup import find_gallery
from facetrail.services.matching import rank_subjects_batch
from facetrail.services.naming import displayable, normalise_subject_id, validate_subject_id
from facetrail.services.results import EnrolItem, EnrolReport
from facetrail.store.blobs import PhotoStore
from facetrail.store.database import Database
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

ENROL = declare("enrol", "enrol photos into galleries", (OPERATOR, ADMINISTRATOR))

INDEX_SAVE_EVERY = 500  # enrolled photos between index saves; a crash loses none (reconciled)
DUPLICATE_CHECK_CANDIDATES = 3
DUPLICATE_WARNING = "possible duplicate"
CONCURRENT_SKIP = "already enrolled (by another enrolment running at the same time)"
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
    # An ANSI/NIST-ITL transaction: the field naming the subject (1.009, 1.010 or 2.NNN);
    # None: 1.009 TCN, or 2.900 in a transaction facetrail exported.
    subject_field: str | None = None
    # A single photo holding several faces: which one is the subject's (1 = largest), or
    # the box around it; without either such a photo is refused, never given the largest.
    face: int | None = None
    box: tuple[float, float, float, float] | None = None
    # A photo under the gallery's minimum quality is refused, or enrolled and flagged.
    allow_low_quality: bool = False
    min_quality: float | None = None  # a new gallery's minimum (default DEFAULT_MIN_QUALITY)


@dataclass(frozen=True, slots=True)
class EnrolTask:
    """One photo file to enrol as one subject."""

    path: Path
    subject: str
    notices: tuple[str, ...] = ()  # e.g. the folder name was normalised
    single: bool = False  # one photo named on the command line (a choice is required)
    face: int | None = None  # its chosen face (1 = largest)
    box: tuple[float, float, float, float] | None = None  # or the box around it


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
    skip_reason: str = "already enrolled"
    warnings: list[str] = field(default_factory=list)
    low_quality: bool = False  # under the gallery's minimum, enrolled by --allow-low-quality

    @property
    def ready(self) -> bool:
        return not self.skipped and not self.error and self.face is not None


def with_face_choice(request: EnrolRequest, tasks: list[EnrolTask]) -> list[EnrolTask]:
    """A single photo's task carrying the request's face choice; refused for folders."""
    if request.path.is_dir():
        if request.face is not None or request.box is not None:
            raise InvalidInputError(
                "--face and --box choose the face in one photo; enrol that photo on its own"
            )
        return tasks
    return [replace(t, single=True, face=request.face, box=request.box) for t in tasks]


def chosen_face(task: EnrolTask, faces: list[Face]) -> int:
    """The index of the subject's face: as chosen, or the only one. A single photo named on
    the command line with several faces and no choice is refused (InvalidInputError
    listing them); in a folder the largest is taken and the item warns, naming it."""
    what = displayable(str(task.path))
    if task.box is not None:
        return face_at_box(faces, task.box, what)
    if task.face is not None or task.single:
        return pick_face(faces, task.face, option="--face", what=what, hint=" (or --box x,y,w,h)")
    return 0


def _entry_item(path: Path, subject: str | None, status: str, reason: str) -> EnrolItem:
    """A report line for a folder entry the run will not enrol."""
    return EnrolItem(path=displayable(str(path)), subject=subject, status=status, reason=reason)


def _entries(folder: Path) -> list[Path]:
    """The folder's entries, sorted; ImageError naming the folder when it cannot be listed."""
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise ImageError(
            displayable(str(folder)), f"cannot list the folder ({error.strerror})"
        ) from error


def _photos_in(folder: Path, subject: str) -> tuple[list[EnrolTask], list[EnrolItem]]:
    """The photos of one subject folder, and every other entry with why it is not one."""
    tasks: list[EnrolTask] = []
    passed_over: list[EnrolItem] = []
    for entry in _entries(folder):
        if entry.name.startswith("."):
            reason = "hidden file, not enrolled (rename it without the leading dot to enrol it)"
            passed_over.append(_entry_item(entry, subject, "skipped", reason))
            continue
        if entry.is_dir() and not entry.is_symlink():
            reason = "is a folder inside a subject folder; sub-folders are not searched"
            passed_over.append(_entry_item(entry, subject, "skipped", reason))
            continue
        try:
            check_image_file(entry, displayable(str(entry)))
        except ImageError as error:
            passed_over.append(_entry_item(entry, subject, "failed", str(error)))
            continue
        tasks.append(EnrolTask(entry, subject))
    return tasks, passed_over


def _subject_folder(folder: Path) -> tuple[list[EnrolTask], list[EnrolItem]]:
    """One subject folder's photos and report lines; a refused folder never stops the run."""
    try:
        name = normalise_subject_id(folder.name)
        tasks, passed_over = _photos_in(folder, name.name)
    except FacetrailError as error:
        reason = f"subject folder {displayable(str(folder))!r} not enrolled: {error}"
        try:
            inside = _entries(folder)
        except ImageError:
            inside = []
        items = [_entry_item(p, None, "failed", reason) for p in inside]
        return [], items or [_entry_item(folder, None, "failed", reason)]
    if name.changed:
        notice = f"folder name {displayable(name.given)!r} enrolled as {name.name!r} (normalised)"
        for item in passed_over:
            item.warnings.append(notice)
        tasks = [EnrolTask(t.path, t.subject, (notice,)) for t in tasks]
    return tasks, passed_over


def plan(path: Path, subject: str | None) -> tuple[list[EnrolTask], list[EnrolItem]]:
    """Photos to enrol under `path`, and every entry passed over with the reason.

    A file needs `subject`. A folder with `subject` enrols its photos as that subject;
    without it, each sub-folder is a subject named after the folder. Nothing in the folder
    is skipped silently: other files, special files and refused folders are all reported.
    """
    if not path.is_dir():
        if not path.exists() and not path.is_symlink():
            raise NotFoundError(f"{displayable(str(path))}: no such file or folder")
        stat_regular(path, displayable(str(path)))  # a FIFO, socket or device: a clear error
        if subject is None:
            raise InvalidInputError(
                f"{displayable(str(path))}: enrolling a single photo needs --subject"
            )
        return [EnrolTask(path, validate_subject_id(subject))], []
    if subject is not None:
        return _photos_in(path, validate_subject_id(subject))
    tasks: list[EnrolTask] = []
    passed_over: list[EnrolItem] = []
    for entry in _entries(path):
        if entry.is_dir() and not entry.name.startswith("."):
            folder_tasks, folder_items = _subject_folder(entry)
            tasks.extend(folder_tasks)
            passed_over.extend(folder_items)
        elif entry.is_dir():
            reason = "hidden folder, not enrolled (rename it without the leading dot)"
            passed_over.append(_entry_item(entry, None, "skipped", reason))
        else:
            reason = "not in a subject folder (put photos in a folder named after the subject)"
            passed_over.append(_entry_item(entry, None, "skipped", reason))
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
        self.allow_low_quality = False  # the running request's (set by run)

    def run(
        self, request: EnrolRequest, gallery: Gallery, progress: Progress | None = None
    ) -> EnrolReport:
        """Enrol every planned photo; already enrolled ones are skipped (resumable)."""
        started = time.perf_counter()
        if request.retain_until is not None and request.retain_until < utcnow().date():
            raise InvalidInputError(
                f"--retain-until {request.retain_until} is in the past; nothing was enrolled"
            )
        if request.collected_at is not None and _aware(request.collected_at) > utcnow():
            # A future date would push every retention period past its legal end.
            raise InvalidInputError(
                f"--collected-at {request.collected_at:%Y-%m-%d %H:%M} is in the future;"
                " nothing was enrolled"
            )
        tasks, items = plan(request.path, request.subject)
        tasks = with_face_choice(request, tasks)
        self.allow_low_quality = request.allow_low_quality
        temp_files_removed = self.photos.clean_stale_temp_files(gallery.id)
        known_subjects, enrolled_hashes = self._existing(gallery.id)
        subjects_before = len(known_subjects)
        total = len(tasks)
        if progress:
            for item in items:  # entries the plan passed over, reported as they are found
                progress(item, 0, total)
        done = 0
        since_save = 0
        prepared_photos = _skip_repeats(self._prepare_all(tasks, gallery, enrolled_hashes))
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
            temp_files_removed=temp_files_removed,
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
        prepared = Prepared(task, warnings=list(task.notices))
        try:
            data = read_image_file(task.path, name=displayable(str(task.path)))
            prepared.sha256 = hashlib.sha256(data).hexdigest()
            if (task.subject, prepared.sha256) in done:
                prepared.skipped = True
                return prepared
            image = load_image(data, name=displayable(str(task.path)))
            self._prepare_decoded(image, gallery, prepared)
        except FacetrailError as error:
            prepared.error = str(error)
        return prepared

    def _prepare_decoded(self, image: DecodedImage, gallery: Gallery, prepared: Prepared) -> None:
        """Detect the subject's face in a decoded photo, check its quality, embed it and keep
        the photo's bytes if the gallery does (errors and notices go on `prepared`)."""
        task = prepared.task
        analyzer = self.analyzers.get(gallery.pipeline)
        faces = analyzer.detect(image.pixels)
        prepared.faces_found = len(faces)
        if not faces:
            prepared.error = "no face found; use a photo where the face is clearly visible"
            return
        index = chosen_face(task, faces)
        if len(faces) > 1:
            prepared.warnings.append(
                f"{len(faces)} faces found ({describe_faces(faces)}); enrolled face {index + 1};"
                " if it is not the subject's, enrol the photo alone with --face N"
            )
        self._check_quality(prepared, faces[index], gallery)
        if prepared.error:
            return
        prepared.face = require_finite(
            analyzer.embed(image.pixels, faces[index]), f"face in {displayable(task.path.name)}"
        )
        prepared.image_format, prepared.width, prepared.height = (
            image.format,
            image.width,
            image.height,
        )
        if gallery.keep_photos:
            self._keep_photo(gallery, image, prepared)

    def _check_quality(self, prepared: Prepared, face: Face, gallery: Gallery) -> None:
        """Refuse (or, with --allow-low-quality, flag) a face under the gallery's minimum."""
        minimum = gallery_min_quality(gallery)
        quality = face.quality
        if quality is None or quality.score >= minimum:
            return
        failing = ", ".join(
            f"{name} {value:.0f}"
            for name, value in sorted(quality.components.items())
            if value < minimum
        )
        verdict = (
            f"quality {quality.score:.0f} is under the gallery's minimum {minimum:.0f}"
            f" (components under it: {failing or 'none alone'})"
        )
        if self.allow_low_quality:
            prepared.low_quality = True
            prepared.warnings.append(f"{verdict}; enrolled and flagged (--allow-low-quality)")
        else:
            prepared.error = (
                f"{verdict}; use a sharper, larger, frontal, well-lit photo, or enrol it"
                " flagged with --allow-low-quality"
            )

    def _keep_photo(self, gallery: Gallery, image: DecodedImage, prepared: Prepared) -> None:
        # Written before the database commit; a crash in between leaves an unreferenced,
        # content-addressed file that the re-run reuses. Never the other way round.
        target = self.photos.path_for(gallery.id, image.sha256, image.format)
        prepared.photo_created = not target.exists()
        prepared.photo_path = self.photos.stored(
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
            new_subject,
            self._duplicate_warnings([p for p, _ in new_subject], gallery, len(known_subjects)),
            strict=True,
        ):
            item.warnings.extend(warnings)
        try:
            image_ids, changes = self._commit(
                request, gallery, [p for p, _ in ready], known_subjects
            )
        except (SQLAlchemyError, FacetrailError) as error:
            if len(ready) > 1:  # find the photo that cannot be stored; store the others
                return [
                    self._store_batch(request, gallery, [prepared], known_subjects)[0]
                    for prepared in batch
                ]
            self._forget_photos(ready)
            ready[0][1].reason = f"could not be stored: {_first_line(error)}"
            return items
        except BaseException:
            self._forget_photos(ready)
            raise
        for model, (generation, template_ids, vectors) in changes.items():
            self.catalog.apply(
                gallery.id,
                model,
                generation,
                add=(np.array(template_ids, np.int64), np.stack(vectors)),
            )
        for (prepared, item), image_id in zip(ready, image_ids, strict=True):
            if image_id is None:
                item.status, item.reason = "skipped", CONCURRENT_SKIP
                continue
            quality = prepared.face.quality if prepared.face else None
            item.status, item.image_id = "enrolled", image_id
            item.quality = quality.score if quality else None
            item.quality_components = (
                {k: round(v, 1) for k, v in quality.components.items()} if quality else None
            )
            item.low_quality = prepared.low_quality
        return items

    def _forget_photos(self, ready: list[tuple[Prepared, EnrolItem]]) -> None:
        """Remove the photo files this run wrote for photos that were not stored."""
        for prepared, _ in ready:
            if prepared.photo_created:
                self.photos.delete(prepared.photo_path)

    def _duplicate_warnings(
        self, batch: list[Prepared], gallery: Gallery, gallery_size: int
    ) -> list[list[str]]:
        """For each new subject's face: existing (or same-batch) subjects it matches.

        The threshold grows with the gallery (calibration.duplicate_threshold), so false
        warnings stay about one per hundred new people however large the gallery is.
        """
        if not batch:
            return []
        analyzer = self.analyzers.get(gallery.pipeline)
        threshold = analyzer.calibration.duplicate_threshold(gallery_size + len(batch))
        faces = [p.face for p in batch if p.face is not None]
        try:
            with self.database.reader() as session:
                matches = rank_subjects_batch(
                    session, self.catalog, gallery, analyzer, faces, DUPLICATE_CHECK_CANDIDATES
                )
        except StoreError as error:  # the index (e.g. a Milvus server) is down: enrol anyway
            skipped = f"duplicate check skipped: the index is unavailable ({_first_line(error)})"
            return [[skipped] for _ in batch]
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
    ) -> tuple[list[int | None], dict[str, tuple[int, list[int], list[np.ndarray]]]]:
        """Subjects, images, templates, one audit entry per photo, and the index generations.

        All in one transaction: a crash stores the whole batch or none of it.
        """
        analyzer = self.analyzers.get(gallery.pipeline)
        created: dict[str, int] = {}
        image_ids: list[int | None] = []
        added: dict[str, tuple[list[int], list[np.ndarray]]] = {
            r.name: ([], []) for r in analyzer.recognizers
        }
        with self.database.transaction() as session:
            for prepared in batch:
                image_id = self._insert_photo(
                    session, request, gallery, prepared, known_subjects, created, added
                )
                image_ids.append(image_id)
            generations = {  # none when every photo was stored by a concurrent run
                model: bump_generation(session, gallery.id, model)
                for model, (ids, _) in added.items()
                if ids
            }
        known_subjects.update(created)
        changes = {
            model: (generations[model], ids, vectors)
            for model, (ids, vectors) in added.items()
            if ids
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
    ) -> int | None:
        """Store one photo; None when a concurrent enrolment has just stored it."""
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
            file_name=displayable(task.path.name),
            source=request.source,
            legal_basis=request.legal_basis,
            collected_at=request.collected_at,
            retain_until=request.retain_until,
            photo_path=prepared.photo_path,
            faces_found=prepared.faces_found,
            quality_components=(
                {k: round(v, 1) for k, v in quality.components.items()} if quality else None
            ),
            low_quality=prepared.low_quality,
        )
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:  # a concurrent enrolment stored this photo for the subject
            found = session.scalar(
                select(Image.id).where(
                    Image.subject_id == subject_id, Image.sha256 == prepared.sha256
                )
            )
            if found is None:
                raise
            return None
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
                "file": displayable(task.path.name),
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
        path=displayable(str(prepared.task.path)),
        subject=prepared.task.subject,
        status="failed",
        warnings=list(prepared.warnings),
    )
    if prepared.skipped:
        item.status, item.reason = "skipped", prepared.skip_reason
    elif not prepared.ready:
        item.reason = prepared.error or "not processed"
    return item


def _skip_repeats(prepared: Iterator[Prepared]) -> Iterator[Prepared]:
    """Prepared photos, an identical file already in this run for the subject marked skipped."""
    first: dict[tuple[str, str], Path] = {}
    for item in prepared:
        key = (item.task.subject, item.sha256)
        if item.ready and key in first:
            item.skipped = True
            item.skip_reason = (
                f"identical to {displayable(first[key].name)!r} (same bytes) for subject"
                f" {item.task.subject!r}; enrolled once"
            )
        elif item.ready:
            first[key] = item.task.path
        yield item


def _first_line(error: Exception) -> str:
    """A short reason for a storage error: the driver's message, not the SQL and its values."""
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:300]


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


class Enrolment:
    """The enrol use case: a photo or a folder of subject folders into a gallery."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(ENROL)
    def enrol(
        self, context: Context, request: EnrolRequest, progress: Progress | None = None
    ) -> EnrolReport:
        """Enrol the request's photos; the gallery is created on first use (resumable)."""
        if request.subject_field is not None or is_records_path(request.path):
            return self._enrol_records(context, request, progress)
        with self.kernel.reader() as session:
            record = session.scalar(select(Gallery).where(Gallery.name == request.gallery))
        if record is None:
            record = self._new_gallery(context, request)
        elif request.pipeline and request.pipeline != record.pipeline:
            raise InvalidInputError(
                f"gallery {record.name!r} enrols with {record.pipeline!r}, not {request.pipeline!r}"
            )
        return self._enroller(Enroller, context).run(request, record, progress)

    def _enroller(self, kind: type[Enroller], context: Context) -> Enroller:
        """An enroller of `kind` on this kernel's stores, acting as the caller."""
        return kind(
            self.kernel.database,
            self.kernel.catalog,
            self.kernel.photos,
            self.kernel.analyzers,
            context.actor,
            self.kernel.settings.workers,
        )

    def _enrol_records(
        self, context: Context, request: EnrolRequest, progress: Progress | None
    ) -> EnrolReport:
        """Enrol ANSI/NIST-ITL transactions: checked whole before anything is stored."""
        if request.retain_until is not None and request.retain_until < utcnow().date():
            raise InvalidInputError(
                f"--retain-until {request.retain_until} is in the past; nothing was enrolled"
            )
        with self.kernel.reader() as session:
            record = session.scalar(select(Gallery).where(Gallery.name == request.gallery))
        if record is not None and request.pipeline and request.pipeline != record.pipeline:
            raise InvalidInputError(
                f"gallery {record.name!r} enrols with {record.pipeline!r}, not {request.pipeline!r}"
            )
        enroller = self._enroller(RecordEnroller, context)
        assert isinstance(enroller, RecordEnroller)
        started = time.perf_counter()
        reported: list[EnrolItem] = []
        created = 0
        for tasks, items in plan_records(request):  # a folder: a few files' images at a time
            for item in items:  # a refused transaction of a folder: said as it is found
                if progress and item.status == "failed":
                    progress(item, 0, len(tasks))
            if record is None and tasks:  # no gallery is created for nothing
                record = self._new_gallery(context, request)
            if record is None or not tasks:
                reported.extend(items)
                continue
            part = enroller.run_records(request, record, tasks, items, progress)
            reported.extend(part.items)
            created += part.subjects_created
        pipeline = record.pipeline if record else request.pipeline or self.kernel.settings.pipeline
        return enroller.report(request.gallery, pipeline, reported, created, started)

    def _new_gallery(self, context: Context, request: EnrolRequest) -> Gallery:
        """Create the request's gallery (pipeline, photo policy, quality gate, index kind)."""
        self.kernel.require(context, GALLERY_CREATE.name)
        new_gallery = GalleryRequest(
            request.gallery,
            pipeline=request.pipeline,
            keep_photos=request.keep_photos,
            min_quality=request.min_quality,
        )
        settings = self.kernel.settings
        with self.kernel.unit_of_work(context) as work:
            create_gallery(
                work, new_gallery, settings.pipeline, settings.index_kind, settings.index_url
            )
        with self.kernel.reader() as session:
            return find_gallery(session, request.gallery)


# -- enrolling from standard records (ANSI/NIST-ITL transactions) --------------------------

RECORD_SKIPPED = "not an ANSI/NIST-ITL transaction file (enrol photo folders separately)"
PLAN_BYTES = 256 * 1024 * 1024  # image bytes of a folder's transactions held at once


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordTask(EnrolTask):
    """One Type-10 FACE image of a transaction file, to enrol as one subject."""

    record: FaceRecord = field(repr=False)
    label: str  # "file.an2 (Type-10 IDC 2)": the image in messages and as its file name
    source: str  # Image.source: --source, else 10.004 SRC
    collected_at: datetime | None  # --collected-at, else 10.005 PHD (midnight UTC)
    provenance: dict[str, str]  # what the transaction says about the image

    @property
    def record_label(self) -> str:
        """'Type-10 IDC 2': which record of the transaction the image is."""
        return f"Type-10 IDC {self.record.idc}"


def is_records_path(path: Path) -> bool:
    """A transaction file, or a folder holding at least one directly."""
    if path.is_dir():
        try:
            return any(is_transaction_file(p) for p in path.iterdir())
        except OSError:
            return False
    return is_transaction_file(path)


def default_subject_field(transaction: Transaction) -> str:
    """2.900 for a transaction facetrail exported (it names the subject there), else 1.009."""
    if transaction.envelope.domain == DOMAIN and SUBJECT_FIELD in transaction.type2:
        return SUBJECT_FIELD
    return DEFAULT_SUBJECT_FIELD


def record_tasks(path: Path, request: EnrolRequest) -> list[RecordTask]:
    """The FACE images of one transaction file; RecordError/ImageError refuses it whole."""
    label = str(path)
    transaction = read_transaction_file(path)
    field_name = request.subject_field or default_subject_field(transaction)
    if request.subject is not None:  # --subject names it: the subject field is not read
        subject = validate_subject_id(request.subject)
        images = _face_images(transaction, label)
    else:
        found = enrolment_of(transaction, label, field_name)
        subject, images = found.subject, found.images
        try:
            subject = validate_subject_id(subject)
        except InvalidInputError as error:
            raise RecordError(label, "transaction", field_name, str(error)) from None
    tasks = []
    for image in images:
        name = image.name(label)
        image.record.decode(name)  # the same safe decoder as photo files; refuses it whole
        details = dict(image.provenance)
        details["file"] = path.name
        details["subject_field"] = field_name
        if request.source:
            details["given_source"] = request.source
        captured = datetime.combine(image.record.capture_date, dt_time(), tzinfo=UTC)
        tasks.append(
            RecordTask(
                path=path,
                subject=subject,
                record=image.record,
                label=image.name(path.name),
                source=request.source or image.record.source_agency,
                collected_at=request.collected_at or captured,
                provenance=details,
            )
        )
    return tasks


def _face_images(transaction: Transaction, label: str) -> tuple[EnrolmentImage, ...]:
    """Every FACE image with its provenance, for a subject named by --subject."""
    faces = transaction.face_images
    if not faces:
        raise RecordError(label, "transaction", None, "has no Type-10 FACE record to enrol")
    sent = read_provenance(transaction, label)
    return tuple(
        EnrolmentImage(
            record=face, provenance=record_provenance(transaction, face, sent.get(face.idc))
        )
        for face in faces
    )


def plan_records(
    request: EnrolRequest,
) -> Iterator[tuple[list[RecordTask], list[EnrolItem]]]:
    """Images of a transaction file (refused whole: raises), or of a folder of them.

    In a folder, a malformed transaction is a failed item naming the record and field;
    the others are enrolled. Anything else in the folder is passed over. A folder comes
    in groups of files holding about PLAN_BYTES of images, so memory stays bounded.
    """
    path = request.path
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder")
    if not path.is_dir():
        if not is_transaction_file(path):
            raise InvalidInputError(
                f"{path}: --subject-field is for ANSI/NIST-ITL transactions"
                " (.an2, .eft, .nist), and this is not one"
            )
        yield _once(record_tasks(path, request), [])
        return
    tasks: list[RecordTask] = []
    items: list[EnrolItem] = []
    held = 0
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        if not is_transaction_file(entry):
            items.append(
                EnrolItem(path=str(entry), subject=None, status="skipped", reason=RECORD_SKIPPED)
            )
            continue
        try:
            found = record_tasks(entry, request)
        except FacetrailError as error:
            items.append(
                EnrolItem(path=str(entry), subject=None, status="failed", reason=str(error))
            )
            continue
        tasks.extend(found)
        held += sum(len(task.record.data) for task in found)
        if held >= PLAN_BYTES:
            yield _once(tasks, items)
            tasks, items, held = [], [], 0
    if tasks or items:
        yield _once(tasks, items)


def _once(
    tasks: list[RecordTask], items: list[EnrolItem]
) -> tuple[list[RecordTask], list[EnrolItem]]:
    """Each image once per subject: a repeat (in one transaction or several) is skipped."""
    first: dict[tuple[str, str], RecordTask] = {}
    kept = []
    for task in tasks:
        key = (task.subject, task.record.sha256)
        if key in first:
            items.append(
                EnrolItem(
                    path=str(task.path),
                    subject=task.subject,
                    status="skipped",
                    reason=f"the same image as {first[key].label}, enrolled once",
                    record=task.record_label,
                )
            )
            continue
        first[key] = task
        kept.append(task)
    return kept, items


class RecordEnroller(Enroller):
    """The Enroller for Type-10 images: decoded from the record, provenance from it."""

    def run_records(
        self,
        request: EnrolRequest,
        gallery: Gallery,
        tasks: list[RecordTask],
        items: list[EnrolItem],
        progress: Progress | None = None,
    ) -> EnrolReport:
        """Enrol the planned images through the Enroller's store path (resumable)."""
        started = time.perf_counter()
        known_subjects, enrolled_hashes = self._existing(gallery.id)
        subjects_before = len(known_subjects)
        done = 0
        prepared_photos = self._prepare_all(list(tasks), gallery, enrolled_hashes)
        for batch in _batches(prepared_photos, STORE_BATCH):
            stored = self._store_batch(request, gallery, batch, known_subjects)
            for prepared, item in zip(batch, stored, strict=True):
                if isinstance(prepared.task, RecordTask):
                    item.record = prepared.task.record_label
                items.append(item)
                done += 1
                if item.status == "enrolled":
                    enrolled_hashes.add((prepared.task.subject, prepared.sha256))
                if progress:
                    progress(item, done, len(tasks))
        self.catalog.save(gallery.id)
        created = len(known_subjects) - subjects_before
        return self.report(gallery.name, gallery.pipeline, items, created, started)

    @staticmethod
    def report(
        gallery: str, pipeline: str, items: list[EnrolItem], created: int, started: float
    ) -> EnrolReport:
        """The enrolment report of `items` (the same shape as for photo files)."""
        return EnrolReport(
            gallery=gallery,
            pipeline=pipeline,
            enrolled=sum(i.status == "enrolled" for i in items),
            skipped=sum(i.status == "skipped" for i in items),
            failed=sum(i.status == "failed" for i in items),
            subjects_created=created,
            duplicate_warnings=sum(
                any(w.startswith(DUPLICATE_WARNING) for w in i.warnings) for i in items
            ),
            seconds=round(time.perf_counter() - started, 3),
            items=items,
        )

    def _prepare(self, task: EnrolTask, gallery: Gallery, done: set[tuple[str, str]]) -> Prepared:
        """A Type-10 image decoded from its record, then detected and embedded."""
        if not isinstance(task, RecordTask):
            return super()._prepare(task, gallery, done)
        prepared = Prepared(task)
        try:
            image = task.record.decode(task.label)
            prepared.sha256 = image.sha256
            if (task.subject, prepared.sha256) in done:
                prepared.skipped = True
                return prepared
            self._prepare_decoded(image, gallery, prepared)
        except FacetrailError as error:
            prepared.error = str(error)
        return prepared

    def _insert_photo(
        self,
        session: Session,
        request: EnrolRequest,
        gallery: Gallery,
        prepared: Prepared,
        known_subjects: dict[str, int],
        created: dict[str, int],
        added: dict[str, tuple[list[int], list[np.ndarray]]],
    ) -> int | None:
        """The Enroller's row, with the record's source, capture date and provenance."""
        task = prepared.task
        if not isinstance(task, RecordTask):
            return super()._insert_photo(
                session, request, gallery, prepared, known_subjects, created, added
            )
        own = replace(request, source=task.source, collected_at=task.collected_at)
        image_id = super()._insert_photo(
            session, own, gallery, prepared, known_subjects, created, added
        )
        if image_id is None:  # a concurrent enrolment stored it just now
            return None
        record = session.get(Image, image_id)
        assert record is not None
        record.file_name = task.label
        record.provenance = dict(task.provenance)
        return image_id


def _aware(moment: datetime) -> datetime:
    """A moment with a time zone (naive ones are local time)."""
    return moment if moment.tzinfo else moment.astimezone()
