"""The facetrail application: every use case, authorised and audited, over one home."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.config import Settings
from facetrail.errors import (
    AuthorisationError,
    FacetrailError,
    InvalidInputError,
    NoFaceError,
    NotFoundError,
)
from facetrail.media.images import DecodedImage, load_image
from facetrail.services import access, crypto
from facetrail.services.access import PermissionDeniedError
from facetrail.services.analyzers import AnalyzerPool
from facetrail.services.audit import ChainCheck, append_audit, verify_chain
from facetrail.services.audit_export import AuditExportService
from facetrail.services.authorisations import (
    DEFAULT_VALID_DAYS,
    AuthorisationRequest,
    check_covers,
    grant,
    revoke,
)
from facetrail.services.calibrations import calibration_label, stored_calibration
from facetrail.services.crypto import KeyService
from facetrail.services.deletion import DeletionService
from facetrail.services.enrolment import Enroller, EnrolRequest, Progress
from facetrail.services.indexes import IndexCatalog, bump_generation
from facetrail.services.matching import check_models, rank_subjects
from facetrail.services.photos import PhotoStore
from facetrail.services.results import (
    AuthorisationInfo,
    Candidate,
    DeleteResult,
    EnrolReport,
    FaceResult,
    GalleryInfo,
    ImageInfo,
    RebuildResult,
    SearchResult,
    SubjectDetail,
    SubjectInfo,
    VerifyResult,
)
from facetrail.services.retention import Erasure, RetentionService, finish_erasure
from facetrail.services.transparency import DpiaService, TransparencyService
from facetrail.services.users import (
    Identity,
    UserService,
    accounts_exist,
    authenticate,
    check_token_current,
)
from facetrail.store.database import Database
from facetrail.store.models import AuditEntry, Authorisation, Gallery, Image, Subject, Template
from facetrail.store.oversight_models import ApiToken

MAX_TOP = 200
DEFAULT_TOP = 50
MAX_GALLERY_NAME = 200


def _calibration_label(analyzer: FaceAnalyzer) -> str:
    return calibration_label(analyzer.calibration)


def _probe_input(source: Path | str | bytes) -> DecodedImage:
    return load_image(source)


class Facetrail:
    """Galleries, enrolment, 1:N search and 1:1 verification over one facetrail home.

    A home without user accounts is a SINGLE-OPERATOR home: every call is allowed and
    audited under `settings.user` (or the OS user). Once `users.bootstrap` has created the
    first administrator, every call needs `settings.user` + `settings.token` and is checked
    against the permission matrix (services/access.py), deny by default.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        key = settings.key.get_secret_value() if settings.key else None
        self.keyring = crypto.load_keyring(key, settings.key_file)
        settings.home.mkdir(parents=True, exist_ok=True)
        self.database = Database(settings.resolved_database_url)
        self.database.upgrade()
        self.catalog = IndexCatalog(self.database, settings.index_dir)
        self.photos = PhotoStore(settings.photo_dir)
        self.analyzers = AnalyzerPool(lambda spec: stored_calibration(self.database, spec))
        self.actor = settings.user or getpass.getuser()
        self.identity: Identity | None = None  # the signed-in user, once checked
        self._token_id: int | None = None
        if self.keyring is not None:
            crypto.install(self.keyring)
        self.users = UserService(self)
        self.dpias = DpiaService(self)
        self.reports = TransparencyService(self)
        self.retention = RetentionService(self)
        self.deletions = DeletionService(self)
        self.audit_export = AuditExportService(self)
        self.keys = KeyService(self)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Save open indexes and release the database."""
        self.catalog.save()
        self.database.dispose()
        if self.keyring is not None:
            crypto.uninstall(self.keyring)

    def __enter__(self) -> Facetrail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- access control ----------------------------------------------------------------

    def require(self, permission: str) -> None:
        """Refuse (and audit the refusal) unless the acting user's role holds `permission`.

        Call it first thing in a use case, before opening a transaction. A home without
        user accounts is a single-operator home: everything is allowed.
        """
        try:
            identity = self._current_identity()
            if identity is not None:
                access.check(identity.role, permission, identity.name)
        except PermissionDeniedError as error:
            with self.database.transaction() as session:
                append_audit(
                    session,
                    actor=self.actor,
                    action="access.denied",
                    outcome="refused",
                    target=permission,
                    details={"reason": str(error)},
                )
            raise

    def _current_identity(self) -> Identity | None:
        """The acting user, checked now (None in a single-operator home)."""
        with self.database.reader() as session:
            if not accounts_exist(session):
                self.identity = None
                return None
            if self._token_id is not None:
                record = session.get(ApiToken, self._token_id)
                if record is not None and record.user.name == self.actor:
                    check_token_current(record)
                    user = record.user
                    self.identity = Identity(user.name, user.role, user.rank, user.display_name)
                    return self.identity
            token = self.settings.token.get_secret_value() if self.settings.token else None
            self.identity = authenticate(session, self.settings.user, token)
            self._token_id = int(token.split("_")[1]) if token else None
            self.actor = self.identity.name
            return self.identity

    @contextmanager
    def _audited_failure(
        self, action: str, gallery: str | None, authorisation_id: int | None
    ) -> Iterator[None]:
        """Record refusals and failures of an operation in their own committed entry."""
        try:
            yield
        except FacetrailError as error:
            outcome = "refused" if isinstance(error, AuthorisationError) else "failed"
            with self.database.transaction() as session:
                append_audit(
                    session,
                    actor=self.actor,
                    action=action,
                    outcome=outcome,
                    gallery=gallery,
                    authorisation_id=authorisation_id,
                    details={"reason": str(error)},
                )
            raise

    # -- galleries ---------------------------------------------------------------------

    def create_gallery(
        self,
        name: str,
        *,
        pipeline: str | None = None,
        keep_photos: bool = True,
        description: str = "",
    ) -> GalleryInfo:
        """Create a gallery that enrols with `pipeline` (default: the configured one)."""
        self.require("gallery.create")
        cleaned = name.strip()
        if not cleaned or len(cleaned) > MAX_GALLERY_NAME:
            raise InvalidInputError(f"gallery name must be 1-{MAX_GALLERY_NAME} characters")
        spec = pipeline or self.settings.pipeline
        FaceAnalyzer.from_spec(spec)  # refuses a bad spec before anything is stored
        with self.database.transaction() as session:
            if session.scalar(select(Gallery).where(Gallery.name == cleaned)):
                raise InvalidInputError(f"gallery {cleaned!r} already exists")
            gallery = Gallery(
                name=cleaned, pipeline=spec, keep_photos=keep_photos, description=description
            )
            session.add(gallery)
            session.flush()
            append_audit(
                session,
                actor=self.actor,
                action="gallery.create",
                outcome="ok",
                gallery=cleaned,
                details={"pipeline": spec, "keep_photos": keep_photos},
            )
        return self._gallery_info(gallery)

    def galleries(self) -> list[GalleryInfo]:
        """Every gallery with its counts."""
        self.require("gallery.read")
        with self.database.reader() as session:
            return [
                self._gallery_info(g, session)
                for g in session.scalars(select(Gallery).order_by(Gallery.name))
            ]

    def _gallery_info(self, gallery: Gallery, session: Session | None = None) -> GalleryInfo:
        counts = {"subjects": 0, "images": 0, "templates": 0}
        if session is not None:
            counts["subjects"] = (
                session.scalar(
                    select(func.count(Subject.id)).where(Subject.gallery_id == gallery.id)
                )
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
                session.scalar(
                    select(func.count(Template.id)).where(Template.gallery_id == gallery.id)
                )
                or 0
            )
        return GalleryInfo(
            name=gallery.name,
            pipeline=gallery.pipeline,
            keep_photos=gallery.keep_photos,
            created_at=gallery.created_at,
            **counts,
        )

    def _gallery(self, session: Session, name: str) -> Gallery:
        gallery = session.scalar(select(Gallery).where(Gallery.name == name))
        if gallery is None:
            known = ", ".join(session.scalars(select(Gallery.name).order_by(Gallery.name)))
            raise NotFoundError(f"gallery {name!r} does not exist (galleries: {known or 'none'})")
        return gallery

    # -- enrolment ---------------------------------------------------------------------

    def enrol(
        self,
        path: Path | str,
        *,
        gallery: str,
        subject: str | None = None,
        source: str = "",
        legal_basis: str = "",
        retain_until: date | None = None,
        collected_at: datetime | None = None,
        pipeline: str | None = None,
        keep_photos: bool = True,
        progress: Progress | None = None,
    ) -> EnrolReport:
        """Enrol a photo (needs `subject`) or a folder of subject folders into a gallery.

        The gallery is created on first use with `pipeline` and `keep_photos`.
        Re-running skips photos already enrolled for the same subject.
        """
        self.require("enrol")
        request = EnrolRequest(
            path=Path(path).expanduser(),
            gallery=gallery,
            subject=subject,
            source=source,
            legal_basis=legal_basis,
            retain_until=retain_until,
            collected_at=collected_at,
        )
        with self.database.reader() as session:
            record = session.scalar(select(Gallery).where(Gallery.name == gallery))
        if record is None:
            self.create_gallery(gallery, pipeline=pipeline, keep_photos=keep_photos)
            with self.database.reader() as session:
                record = self._gallery(session, gallery)
        elif pipeline and pipeline != record.pipeline:
            raise InvalidInputError(
                f"gallery {record.name!r} enrols with {record.pipeline!r}, not {pipeline!r}"
            )
        enroller = Enroller(
            self.database,
            self.catalog,
            self.photos,
            self.analyzers,
            self.actor,
            self.settings.workers,
        )
        return enroller.run(request, record, progress)

    # -- authorisations ----------------------------------------------------------------

    def authorise(
        self,
        *,
        purpose: str,
        case: str,
        legal_basis: str,
        necessity: str,
        proportionality: str,
        officer: str | None = None,
        rank: str | None = None,
        galleries: list[str] | tuple[str, ...],
        dpia: str | None = None,
        valid_days: int = DEFAULT_VALID_DAYS,
        max_candidates: int | None = None,
        kind: str = "retrospective_search",
        offence_category: str | None = None,
        watchlists: list[str] | tuple[str, ...] = (),
        for_user: str | None = None,
    ) -> AuthorisationInfo:
        """Record an authorisation for the galleries in scope, and audit the grant.

        With user accounts the granting officer is the signed-in authorising officer (name
        and rank from their account) and `for_user`, who will use it, must be someone else.
        """
        self.require("authorisation.grant")
        request = AuthorisationRequest(
            purpose=purpose,
            case_reference=case,
            legal_basis=legal_basis,
            necessity=necessity,
            proportionality=proportionality,
            officer_name=officer or "",
            officer_rank=rank or "",
            galleries=tuple(galleries),
            dpia_reference=dpia,
            valid_days=valid_days,
            kind=kind,
            max_candidates=max_candidates,
            offence_category=offence_category,
            watchlists=tuple(watchlists),
            requested_by=for_user,
        )
        with (
            self._audited_failure("authorisation.grant", None, None),
            self.database.transaction() as session,
        ):
            if self.identity is not None:
                name, account_rank = self._signed_in_officer(officer, rank)
                request = replace(request, officer_name=name, officer_rank=account_rank)
                if for_user:
                    self.users.check_exists(session, for_user)
            record = grant(session, request, created_by=self.actor)
            append_audit(
                session,
                actor=self.actor,
                action="authorisation.grant",
                outcome="ok",
                authorisation_id=record.id,
                target=record.case_reference,
                details={
                    "kind": record.kind,
                    "purpose": record.purpose,
                    "legal_basis": record.legal_basis,
                    "officer": record.officer_name,
                    "rank": record.officer_rank,
                    "dpia": record.dpia_reference,
                    "galleries": sorted(request.galleries),
                    "valid_until": record.valid_until.isoformat(),
                    "offence_category": record.offence_category,
                    "watchlists": record.watchlists,
                    "for_user": record.requested_by,
                },
            )
            return self._authorisation_info(record)

    def _signed_in_officer(self, officer: str | None, rank: str | None) -> tuple[str, str]:
        """The signed-in officer's name and rank; refuses a different name given."""
        assert self.identity is not None
        name = self.identity.display_name or self.identity.name
        if officer and officer.strip() not in (name, self.identity.name):
            raise InvalidInputError(
                f"signed in as {self.identity.name!r} ({name}): an authorisation is recorded"
                f" under the officer granting it, not {officer!r}"
            )
        account_rank = self.identity.rank or (rank or "")
        if rank and self.identity.rank and rank.strip() != self.identity.rank:
            raise InvalidInputError(
                f"{name}'s rank on record is {self.identity.rank!r}, not {rank!r}"
            )
        return name, account_rank

    def revoke_authorisation(self, authorisation_id: int, reason: str) -> AuthorisationInfo:
        """Revoke an authorisation now (further use is refused), and audit it."""
        self.require("authorisation.revoke")
        with self.database.transaction() as session:
            record = revoke(session, authorisation_id, reason=reason, by=self.actor)
            append_audit(
                session,
                actor=self.actor,
                action="authorisation.revoke",
                outcome="ok",
                authorisation_id=record.id,
                target=record.case_reference,
                details={"reason": record.revoked_reason},
            )
            return self._authorisation_info(record)

    def authorisations(self) -> list[AuthorisationInfo]:
        """Every authorisation, newest first."""
        self.require("authorisation.read")
        with self.database.reader() as session:
            records = session.scalars(
                select(Authorisation)
                .options(selectinload(Authorisation.galleries))
                .order_by(Authorisation.id.desc())
            )
            return [self._authorisation_info(record) for record in records]

    def authorisation(self, authorisation_id: int) -> AuthorisationInfo:
        self.require("authorisation.read")
        with self.database.reader() as session:
            record = session.get(Authorisation, authorisation_id)
            if record is None:
                raise NotFoundError(f"authorisation {authorisation_id} does not exist")
            return self._authorisation_info(record)

    @staticmethod
    def _authorisation_info(record: Authorisation) -> AuthorisationInfo:
        return AuthorisationInfo(
            id=record.id,
            kind=record.kind,
            purpose=record.purpose,
            case_reference=record.case_reference,
            legal_basis=record.legal_basis,
            necessity=record.necessity,
            proportionality=record.proportionality,
            officer_name=record.officer_name,
            officer_rank=record.officer_rank,
            dpia_reference=record.dpia_reference,
            galleries=sorted(g.name for g in record.galleries),
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            created_by=record.created_by,
            offence_category=record.offence_category,
            watchlists=record.watchlists or [],
            for_user=record.requested_by,
            revoked_at=record.revoked_at,
            revoked_by=record.revoked_by,
            revoked_reason=record.revoked_reason,
        )

    # -- search ------------------------------------------------------------------------

    def search(
        self,
        probe: Path | str | bytes,
        *,
        gallery: str,
        authorisation: int,
        top: int = DEFAULT_TOP,
        pipeline: str | None = None,
    ) -> SearchResult:
        """Every face in the probe against the gallery: top-K subjects each, authorised."""
        self.require("search")
        with self._audited_failure("search", gallery, authorisation):
            if not 1 <= top <= MAX_TOP:
                raise InvalidInputError(f"--top must be between 1 and {MAX_TOP}, got {top}")
            with self.database.reader() as session:
                gallery_record = self._gallery(session, gallery)
                record = session.get(
                    Authorisation, authorisation, options=[selectinload(Authorisation.galleries)]
                )
                check_covers(
                    record,
                    authorisation_id=authorisation,
                    kind="retrospective_search",
                    gallery=gallery,
                    actor=self.actor if self.identity is not None else None,
                )
                assert record is not None
                if record.max_candidates is not None and top > record.max_candidates:
                    raise AuthorisationError(
                        f"authorisation {authorisation} allows at most {record.max_candidates}"
                        f" candidates, {top} asked for"
                    )
                image = _probe_input(probe)
                analyzer = self.analyzers.get(pipeline or gallery_record.pipeline)
                check_models(gallery_record, analyzer)
                faces = analyzer.analyze(image.pixels)
                threshold = analyzer.calibration.threshold
                results = [
                    self._face_result(session, gallery_record, analyzer, face, top, threshold)
                    for face in faces
                ]
            with self.database.transaction() as session:
                entry = append_audit(
                    session,
                    actor=self.actor,
                    action="search",
                    outcome="ok",
                    gallery=gallery,
                    authorisation_id=authorisation,
                    details={
                        "probe_sha256": image.sha256,
                        "pipeline": str(analyzer.spec),
                        "top": top,
                        "faces": len(results),
                        "candidates_returned": [len(r.candidates) for r in results],
                        "above_threshold": [
                            sum(c.above_threshold for c in r.candidates) for r in results
                        ],
                        "threshold": round(threshold, 6),
                    },
                )
            return SearchResult(
                gallery=gallery,
                pipeline=str(analyzer.spec),
                threshold=threshold,
                calibration=_calibration_label(analyzer),
                authorisation=authorisation,
                audit_id=entry.id,
                faces=results,
            )

    def _face_result(
        self,
        session: Session,
        gallery: Gallery,
        analyzer: FaceAnalyzer,
        face: Face,
        top: int,
        threshold: float,
    ) -> FaceResult:
        matches = rank_subjects(session, self.catalog, gallery, analyzer, face, top)
        quality = face.quality
        return FaceResult(
            box=[round(float(v), 1) for v in face.box],
            quality=round(quality.score, 1) if quality else 0.0,
            quality_components={
                k: round(v, 1) for k, v in (quality.components if quality else {}).items()
            },
            candidates=[
                Candidate(
                    rank=rank,
                    subject=m.subject,
                    score=round(m.score, 6),
                    above_threshold=m.score >= threshold,
                    image_id=m.image_id,
                )
                for rank, m in enumerate(matches, 1)
            ],
        )

    # -- verification ------------------------------------------------------------------

    def verify(
        self,
        image_a: Path | str | bytes,
        image_b: Path | str | bytes,
        *,
        pipeline: str | None = None,
        authorisation: int | None = None,
    ) -> VerifyResult:
        """1:1 comparison of the largest face in each image against the calibrated threshold."""
        self.require("verify")
        with self._audited_failure("verify", None, authorisation):
            if authorisation is not None:
                with self.database.reader() as session:
                    record = session.get(Authorisation, authorisation)
                    if record is None:
                        raise AuthorisationError(f"authorisation {authorisation} does not exist")
            analyzer = self.analyzers.get(pipeline or self.settings.pipeline)
            decoded = [_probe_input(image_a), _probe_input(image_b)]
            faces: list[Face] = []
            found: list[int] = []
            for label, image in zip(("A", "B"), decoded, strict=True):
                detected = analyzer.detect(image.pixels)
                if not detected:
                    raise NoFaceError(f"image {label} ({image.source}): no face found")
                found.append(len(detected))
                faces.append(analyzer.embed(image.pixels, detected[0]))
            score = analyzer.compare(faces[0], faces[1])
            threshold = analyzer.calibration.threshold
            same = score >= threshold
            with self.database.transaction() as session:
                entry = append_audit(
                    session,
                    actor=self.actor,
                    action="verify",
                    outcome="ok",
                    authorisation_id=authorisation,
                    details={
                        "sha256": [image.sha256 for image in decoded],
                        "pipeline": str(analyzer.spec),
                        "score": round(score, 6),
                        "threshold": round(threshold, 6),
                        "same_person": same,
                    },
                )
            return VerifyResult(
                score=round(score, 6),
                threshold=threshold,
                same_person=same,
                pipeline=str(analyzer.spec),
                calibration=_calibration_label(analyzer),
                faces_found=found,
                quality=[round(f.quality.score, 1) if f.quality else 0.0 for f in faces],
                audit_id=entry.id,
            )

    # -- subjects ----------------------------------------------------------------------

    def subjects(self, gallery: str | None = None) -> list[SubjectInfo]:
        """Subjects of one gallery (or all), with their image counts."""
        self.require("subjects.read")
        with self.database.reader() as session:
            query = (
                select(Subject, Gallery.name, func.count(Image.id))
                .join(Gallery, Subject.gallery_id == Gallery.id)
                .outerjoin(Image, Image.subject_id == Subject.id)
                .group_by(Subject.id, Gallery.name)
                .order_by(Gallery.name, Subject.external_id)
            )
            if gallery is not None:
                query = query.where(Subject.gallery_id == self._gallery(session, gallery).id)
            return [
                SubjectInfo(
                    subject=subject.external_id,
                    gallery=gallery_name,
                    images=count,
                    created_at=subject.created_at,
                )
                for subject, gallery_name, count in session.execute(query)
            ]

    def _subject(self, session: Session, gallery: Gallery, subject: str) -> Subject:
        record = session.scalar(
            select(Subject).where(Subject.gallery_id == gallery.id, Subject.external_id == subject)
        )
        if record is None:
            raise NotFoundError(f"subject {subject!r} is not in gallery {gallery.name!r}")
        return record

    def subject(self, gallery: str, subject: str) -> SubjectDetail:
        """One subject with the provenance of each enrolled image."""
        self.require("subjects.read")
        with self.database.reader() as session:
            gallery_record = self._gallery(session, gallery)
            record = self._subject(session, gallery_record, subject)
            images = session.scalars(
                select(Image)
                .where(Image.subject_id == record.id)
                .options(selectinload(Image.templates))
                .order_by(Image.id)
            ).all()
            return SubjectDetail(
                subject=record.external_id,
                gallery=gallery,
                images=len(images),
                created_at=record.created_at,
                image_records=[self._image_info(image) for image in images],
            )

    @staticmethod
    def _image_info(image: Image) -> ImageInfo:
        return ImageInfo(
            id=image.id,
            sha256=image.sha256,
            file_name=image.file_name,
            format=image.format,
            width=image.width,
            height=image.height,
            source=image.source,
            legal_basis=image.legal_basis,
            collected_at=image.collected_at,
            retain_until=image.retain_until,
            photo_kept=image.photo_path is not None,
            quality=image.templates[0].quality if image.templates else None,
            models=sorted(t.model for t in image.templates),
            enrolled_at=image.created_at,
        )

    def delete_subject(self, gallery: str, subject: str, reason: str = "") -> DeleteResult:
        """Delete a subject's images, templates, index entries and kept photos."""
        self.require("subjects.delete")
        removed: dict[str, list[int]] = {}
        with self.database.transaction() as session:
            gallery_record = self._gallery(session, gallery)
            record = self._subject(session, gallery_record, subject)
            images = session.scalars(select(Image).where(Image.subject_id == record.id)).all()
            for template_id, model in session.execute(
                select(Template.id, Template.model).where(
                    Template.image_id.in_([i.id for i in images])
                )
            ):
                removed.setdefault(model, []).append(template_id)
            photo_paths = [i.photo_path for i in images if i.photo_path]
            gallery_id, pipeline = gallery_record.id, gallery_record.pipeline
            session.delete(record)
            session.flush()
            generations = {m: bump_generation(session, gallery_id, m) for m in removed}
            still_used = set(
                session.scalars(select(Image.photo_path).where(Image.photo_path.in_(photo_paths)))
            )
            entry = append_audit(
                session,
                actor=self.actor,
                action="subject.delete",
                outcome="ok",
                gallery=gallery,
                target=subject,
                details={
                    "reason": reason,
                    "images": len(images),
                    "templates": sum(len(ids) for ids in removed.values()),
                    "image_sha256": [i.sha256 for i in images],
                },
            )
        # The same finish as retention and granted deletion requests: the ids leave the
        # indexes on disk too (also those this process has not opened) and the photos go.
        photos_deleted = finish_erasure(
            self,
            Erasure(
                removed={(gallery_id, m): ids for m, ids in removed.items()},
                generations={(gallery_id, m): g for m, g in generations.items()},
                photo_paths=[p for p in dict.fromkeys(photo_paths) if p not in still_used],
                pipelines={gallery_id: pipeline},
            ),
        )
        return DeleteResult(
            gallery=gallery,
            subject=subject,
            images_deleted=len(images),
            templates_deleted=sum(len(ids) for ids in removed.values()),
            photos_deleted=photos_deleted,
            audit_id=entry.id,
        )

    # -- index and audit ---------------------------------------------------------------

    def rebuild_index(self, gallery: str | None = None) -> list[RebuildResult]:
        """Recreate the vector indexes (of one gallery, or all) from the database."""
        self.require("index.rebuild")
        with self.database.reader() as session:
            galleries = (
                [self._gallery(session, gallery)]
                if gallery
                else list(session.scalars(select(Gallery).order_by(Gallery.name)))
            )
        results = []
        for record in galleries:
            for recognizer in FaceAnalyzer.from_spec(record.pipeline).recognizers:
                count = self.catalog.rebuild(
                    record.id, recognizer.name, recognizer.dim, record.index_factory
                )
                results.append(
                    RebuildResult(gallery=record.name, model=recognizer.name, templates=count)
                )
        with self.database.transaction() as session:
            append_audit(
                session,
                actor=self.actor,
                action="index.rebuild",
                outcome="ok",
                gallery=gallery,
                details={"indexes": [r.model_dump() for r in results]},
            )
        return results

    def verify_audit(self) -> ChainCheck:
        """Check the audit trail's hash chain."""
        self.require("audit.verify")
        with self.database.reader() as session:
            return verify_chain(session)

    def audit_entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (for tests, reports and the CLI)."""
        self.require("audit.read")
        with self.database.reader() as session:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if limit:
                query = query.limit(limit)
            return [
                {
                    "id": e.id,
                    "occurred_at": e.occurred_at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "outcome": e.outcome,
                    "authorisation_id": e.authorisation_id,
                    "gallery": e.gallery,
                    "target": e.target,
                    "details": e.details,
                }
                for e in session.scalars(query)
            ]
