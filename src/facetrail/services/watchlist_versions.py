"""Watchlist versions: which entries are eligible now, and freezing them for a deployment.

A deployment searches a frozen version: a copy of the eligible templates (and a reference
crop of each watchlist photo), so later enrolments or deletions never change a running
deployment. Shared by the watchlist and live use cases.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import FacetrailError, InvalidInputError, NotFoundError
from facetrail.index.catalog import vector_from_bytes
from facetrail.media.images import load_image
from facetrail.services.live_results import FrozenWatchlist, WatchlistExclusion
from facetrail.services.retention_policy import effective_retain_until, policies_in_force
from facetrail.store.live_models import FrozenTemplate, Watchlist, WatchlistEntry, WatchlistVersion
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

REFERENCE_MARGIN = 0.25  # reference crops keep a quarter of the face size around the box
REFERENCE_JPEG_QUALITY = 90


def crop_face(pixels: np.ndarray, box: tuple[float, float, float, float]) -> bytes:
    """JPEG bytes of the face box plus a margin, clipped to the image."""
    x, y, w, h = box
    margin_x, margin_y = w * REFERENCE_MARGIN, h * REFERENCE_MARGIN
    height, width = pixels.shape[:2]
    left, top = max(0, int(x - margin_x)), max(0, int(y - margin_y))
    right, bottom = min(width, int(x + w + margin_x)), min(height, int(y + h + margin_y))
    crop = pixels[top : max(bottom, top + 1), left : max(right, left + 1)]
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, REFERENCE_JPEG_QUALITY])
    if not ok:
        raise InvalidInputError("could not encode a face crop as JPEG")
    return encoded.tobytes()


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Which entries are searched now, their usable images, and why others are not."""

    eligible: dict[int, list[int]]  # entry id -> image ids within retain-until
    excluded: list[WatchlistExclusion]
    entries: list[tuple[WatchlistEntry, str]]  # every entry with its subject's id, by id


@dataclass(slots=True)
class FrozenTemplates:
    """A frozen version in memory: one row per template, grouped by model."""

    version_id: int
    subjects: list[str]  # per row
    subject_ids: list[int | None]
    references: list[str | None]
    vectors: dict[str, np.ndarray]  # model -> (rows, dim), L2-normalised

    def __len__(self) -> int:
        return len(self.subjects)

    def best(self, analyzer: FaceAnalyzer, query: dict[str, np.ndarray]) -> tuple[int, float]:
        """The best-scoring row for an embedded face (per-model templates) and its score."""
        if not self.subjects:
            return -1, float("-inf")
        per_model = {m: self.vectors[m] @ query[m] for m in analyzer.model_names}
        if len(per_model) == 1:
            scores = next(iter(per_model.values()))
        else:
            scores = np.array(
                [
                    analyzer.score_templates({m: float(s[i]) for m, s in per_model.items()})
                    for i in range(len(self.subjects))
                ]
            )
        row = int(np.argmax(scores))
        return row, float(scores[row])


class WatchlistFreezer:
    """Freezes a watchlist's eligible entries into a version, and loads a version."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.references = kernel.watchlist_references

    def freeze(
        self, context: Context, session: Session, watchlist: Watchlist, analyzer: FaceAnalyzer
    ) -> FrozenWatchlist:
        """Freeze the eligible entries (reusing an identical latest version) in `session`.

        Reference crops are written before the transaction commits; a failed transaction
        leaves only unreferenced, content-addressed crops, overwritten by the next freeze.
        """
        gallery = session.get(Gallery, watchlist.gallery_id)
        assert gallery is not None
        today = utcnow().date()
        eligibility = eligible_entries(session, watchlist, today)
        rows = self._template_rows(session, eligibility, analyzer)
        if not rows:
            reasons = "; ".join(f"{e.subject}: {e.reason}" for e in eligibility.excluded)
            raise InvalidInputError(
                f"watchlist {watchlist.name!r} has no entry that may be searched today"
                f" ({reasons or 'no entries'}); nothing was started"
            )
        digest = _content_digest(str(analyzer.spec), rows)
        latest = session.scalar(
            select(WatchlistVersion)
            .where(WatchlistVersion.watchlist_id == watchlist.id)
            .order_by(WatchlistVersion.version.desc())
            .limit(1)
        )
        excluded = [e.model_dump() for e in eligibility.excluded]
        if latest is not None and latest.content_sha256 == digest and latest.excluded == excluded:
            return self._frozen_info(watchlist, gallery, latest, reused=True)
        version = WatchlistVersion(
            watchlist_id=watchlist.id,
            version=watchlist.version + 1,
            pipeline=str(analyzer.spec),
            content_sha256=digest,
            entries=len({r.subject_id for r in rows}),
            excluded=excluded,
            frozen_by=context.actor,
        )
        session.add(version)
        session.flush()
        references = self._reference_crops(session, gallery, version.id, rows)
        for row in rows:
            session.add(
                FrozenTemplate(
                    version_id=version.id,
                    subject_id=row.subject_id,
                    subject_external_id=row.subject,
                    reason=row.reason,
                    image_id=row.image_id,
                    model=row.model,
                    dim=row.dim,
                    vector=row.vector,
                    reference_path=references.get(row.image_id),
                )
            )
        watchlist.version = version.version
        session.flush()
        return self._frozen_info(watchlist, gallery, version, reused=False)

    @staticmethod
    def _frozen_info(
        watchlist: Watchlist, gallery: Gallery, version: WatchlistVersion, *, reused: bool
    ) -> FrozenWatchlist:
        return FrozenWatchlist(
            name=watchlist.name,
            gallery=gallery.name,
            version=version.version,
            version_id=version.id,
            pipeline=version.pipeline,
            entries=version.entries,
            templates=0,
            excluded=[WatchlistExclusion(**e) for e in version.excluded],
            reused=reused,
        )

    @staticmethod
    def _template_rows(
        session: Session, eligibility: Eligibility, analyzer: FaceAnalyzer
    ) -> list[_Row]:
        image_ids = [i for ids in eligibility.eligible.values() for i in ids]
        if not image_ids:
            return []
        entry_of_image = {i: e for e, ids in eligibility.eligible.items() for i in ids}
        entries = {
            e.id: e
            for e in session.scalars(
                select(WatchlistEntry).where(WatchlistEntry.id.in_(list(eligibility.eligible)))
            )
        }
        names = dict(
            session.execute(
                select(Subject.id, Subject.external_id).where(
                    Subject.id.in_([e.subject_id for e in entries.values()])
                )
            )
            .tuples()
            .all()
        )
        rows = []
        for template in session.scalars(
            select(Template)
            .where(Template.image_id.in_(image_ids), Template.model.in_(analyzer.model_names))
            .order_by(Template.image_id, Template.model)
        ):
            entry = entries[entry_of_image[template.image_id]]
            rows.append(
                _Row(
                    subject_id=entry.subject_id,
                    subject=names[entry.subject_id],
                    reason=entry.reason,
                    image_id=template.image_id,
                    model=template.model,
                    dim=template.dim,
                    vector=template.vector,
                    box=tuple(template.box),  # type: ignore[arg-type]
                )
            )
        # A fused pipeline needs every model's template of an image.
        per_image: dict[int, set[str]] = {}
        for row in rows:
            per_image.setdefault(row.image_id, set()).add(row.model)
        complete = {
            i for i, models in per_image.items() if len(models) == len(analyzer.model_names)
        }
        return [r for r in rows if r.image_id in complete]

    def _reference_crops(
        self, session: Session, gallery: Gallery, version_id: int, rows: list[_Row]
    ) -> dict[int, str]:
        """Reference crops of the watchlist photos (none when the gallery keeps no photos)."""
        if not gallery.keep_photos:
            return {}
        boxes = {r.image_id: r.box for r in rows}
        paths = dict(
            session.execute(
                select(Image.id, Image.photo_path).where(
                    Image.id.in_(list(boxes)), Image.photo_path.is_not(None)
                )
            )
            .tuples()
            .all()
        )
        stored: dict[int, str] = {}
        for image_id, photo_path in paths.items():
            if photo_path is None:
                continue
            try:
                pixels = load_image(self.kernel.photos.read(photo_path)).pixels
            except (OSError, FacetrailError):
                continue  # the alert then shows no reference image; the template still counts
            data = crop_face(pixels, boxes[image_id])
            sha = hashlib.sha256(data).hexdigest()
            written = self.references.write(version_id, sha, "jpg", data)
            stored[image_id] = self.references.stored(written)
        return stored

    def load(self, version_id: int, analyzer: FaceAnalyzer) -> FrozenTemplates:
        """A frozen version's templates in memory, for searching."""
        with self.kernel.database.reader() as session:
            templates = list(
                session.scalars(
                    select(FrozenTemplate)
                    .where(FrozenTemplate.version_id == version_id)
                    .order_by(FrozenTemplate.image_id, FrozenTemplate.model)
                )
            )
        by_image: dict[tuple[int | None, int | None], dict[str, FrozenTemplate]] = {}
        for template in templates:
            by_image.setdefault((template.subject_id, template.image_id), {})[template.model] = (
                template
            )
        models = analyzer.model_names
        rows = [group for group in by_image.values() if all(m in group for m in models)]
        frozen = FrozenTemplates(
            version_id=version_id,
            subjects=[next(iter(g.values())).subject_external_id for g in rows],
            subject_ids=[next(iter(g.values())).subject_id for g in rows],
            references=[next(iter(g.values())).reference_path for g in rows],
            vectors={},
        )
        for model in models:
            dim = rows[0][model].dim if rows else 0
            frozen.vectors[model] = (
                np.stack(
                    [
                        vector_from_bytes(g[model].vector, g[model].dim, self.kernel.sealer)
                        for g in rows
                    ]
                )
                if rows
                else np.empty((0, dim), np.float32)
            )
        return frozen


@dataclass(frozen=True, slots=True)
class _Row:
    subject_id: int
    subject: str
    reason: str
    image_id: int
    model: str
    dim: int
    vector: bytes
    box: tuple[float, float, float, float]


def _content_digest(pipeline: str, rows: list[_Row]) -> str:
    """What a frozen version holds: pipeline, and each template's subject, reason and id."""
    payload = [pipeline] + [
        [
            r.subject_id,
            r.subject,
            r.reason,
            r.image_id,
            r.model,
            hashlib.sha256(r.vector).hexdigest(),
        ]
        for r in sorted(rows, key=lambda r: (r.image_id, r.model))
    ]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def watchlist_by_name(session: Session, name: str) -> Watchlist:
    """The named watchlist; NotFoundError lists the ones there are."""
    watchlist = session.scalar(select(Watchlist).where(Watchlist.name == name))
    if watchlist is None:
        known = ", ".join(session.scalars(select(Watchlist.name).order_by(Watchlist.name)))
        raise NotFoundError(f"watchlist {name!r} does not exist (watchlists: {known or 'none'})")
    return watchlist


def eligible_entries(session: Session, watchlist: Watchlist, today: date) -> Eligibility:
    """Entries within their expiry whose subject has a lawfully held image within retain-until."""
    excluded: list[WatchlistExclusion] = []
    eligible: dict[int, list[int]] = {}
    rows = [
        (entry, external_id)
        for entry, external_id in session.execute(
            select(WatchlistEntry, Subject.external_id)
            .join(Subject, WatchlistEntry.subject_id == Subject.id)
            .where(WatchlistEntry.watchlist_id == watchlist.id)
            .order_by(Subject.external_id)
        )
    ]
    # Every entry's images in one query (not one per entry: watchlists hold thousands).
    images_of: dict[int, list[tuple[int, date | None, bool]]] = defaultdict(list)
    policies = policies_in_force(session)  # effective retention, as retention runs it
    gallery_name = session.scalar(select(Gallery.name).where(Gallery.id == watchlist.gallery_id))
    for image in session.scalars(
        select(Image)
        .join(WatchlistEntry, WatchlistEntry.subject_id == Image.subject_id)
        .where(WatchlistEntry.watchlist_id == watchlist.id)
        .order_by(Image.id)
    ):
        until = effective_retain_until(image, gallery_name or "", policies)
        images_of[image.subject_id].append((image.id, until, image.lawfully_held))
    for entry, external_id in rows:
        if entry.expires_on is not None and entry.expires_on < today:
            excluded.append(
                WatchlistExclusion(subject=external_id, reason=f"entry expired {entry.expires_on}")
            )
            continue
        images = images_of[entry.subject_id]
        usable = [
            image_id
            for image_id, retain_until, lawful in images
            if lawful and (retain_until is None or retain_until >= today)
        ]
        if not usable:
            latest = max((r for _, r, _ in images if r is not None), default=None)
            why = (
                f"every image is past its retain-until (latest {latest})"
                if latest
                else "no lawfully held image"
            )
            excluded.append(WatchlistExclusion(subject=external_id, reason=why))
            continue
        eligible[entry.id] = usable
    if watchlist.expires_on is not None and watchlist.expires_on < today:
        excluded = [
            WatchlistExclusion(
                subject=external_id, reason=f"watchlist expired {watchlist.expires_on}"
            )
            for _, external_id in rows
        ]
        eligible = {}
    return Eligibility(eligible=eligible, excluded=excluded, entries=rows)


def template_count(session: Session, version_id: int) -> int:
    """How many templates a frozen version holds."""
    return (
        session.scalar(
            select(func.count(FrozenTemplate.id)).where(FrozenTemplate.version_id == version_id)
        )
        or 0
    )
