"""The Python API of the README: `facetrail.open(home)` and one object with every use case.

A thin facade: it builds a fresh `Context` for each call (the configured user and token,
re-checked every time) and hands it, with a request object, to the service that owns the
use case. It holds no logic of its own.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from facetrail.config import Settings
from facetrail.core.access import PermissionDeniedError
from facetrail.core.audit import ChainCheck
from facetrail.core.context import Context, new_request_id
from facetrail.core.kernel import Kernel
from facetrail.services.alerts import Alerts
from facetrail.services.audit_export import AuditExportService
from facetrail.services.audit_trail import AuditTrail
from facetrail.services.authorisations import AuthorisationRequest
from facetrail.services.authorising import Authorisations
from facetrail.services.calibrations import Calibrations
from facetrail.services.deletion import DeletionService
from facetrail.services.enrolment import Enrolment, EnrolRequest, Progress
from facetrail.services.erasure import resume_erasures
from facetrail.services.examination import Examinations
from facetrail.services.federated_exchange import FederatedExchange
from facetrail.services.federated_search import FederatedSearch
from facetrail.services.federation_answer import FederationAnswer
from facetrail.services.federation_node import NodeService
from facetrail.services.galleries import Galleries
from facetrail.services.gallery_records import GalleryRequest
from facetrail.services.keys import KeyService
from facetrail.services.live import Deployments
from facetrail.services.maintenance import IndexMaintenance
from facetrail.services.partners import Partners
from facetrail.services.probes import Probe
from facetrail.services.record_exchange import (
    ANSI_NIST,
    DEFAULT_AGENCY,
    EXPORT_TOT,
    UNKNOWN_AGENCY,
    CandidateExportRequest,
    RecordExchange,
    SubjectExportRequest,
)
from facetrail.services.repair import Repair
from facetrail.services.results import (
    AuthorisationInfo,
    DeleteResult,
    EnrolReport,
    GalleryInfo,
    RebuildResult,
    SearchResult,
    SubjectDetail,
    SubjectInfo,
    TransactionExport,
    VerifyResult,
)
from facetrail.services.retention import RetentionService
from facetrail.services.search import DEFAULT_SUBJECT_SCORE, DEFAULT_TOP, Search, SearchRequest
from facetrail.services.subjects import Subjects
from facetrail.services.transparency import DpiaService, TransparencyService
from facetrail.services.users import UserService
from facetrail.services.verification import Verification, VerifyRequest
from facetrail.services.watchlists import Watchlists

S = TypeVar("S")


class Bound(Generic[S]):
    """A service whose public methods get the caller's fresh Context as first argument."""

    def __init__(self, service: S, context: Callable[[], Context]) -> None:
        self.service = service
        self._context = context

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.service, name)
        if name.startswith("_") or not callable(attribute) or isinstance(attribute, type):
            return attribute
        if isinstance(inspect.getattr_static(self.service, name), staticmethod):
            return attribute

        @functools.wraps(attribute)
        def with_context(*args: Any, **kwargs: Any) -> Any:
            return attribute(self._context(), *args, **kwargs)

        return with_context


class Facetrail:
    """Galleries, enrolment, 1:N search and 1:1 verification over one facetrail home.

    A home without user accounts is a SINGLE-OPERATOR home: every call is allowed and
    audited under `settings.user` (or the OS user). Once `users.bootstrap` has created the
    first administrator, every call needs `settings.user` + `settings.token` and is checked
    against the permissions the use cases declare (core/access.py), deny by default.
    """

    def __init__(self, settings: Settings, *, create: bool = True, kernel: Kernel | None = None):
        self.kernel = kernel or Kernel(settings, create=create)
        self.settings = self.kernel.settings
        self._user = settings.user
        self._token = settings.token.get_secret_value() if settings.token else None
        self._signed_in: Context | None = None
        self._lock = threading.Lock()
        kernel_ = self.kernel
        self._galleries = Galleries(kernel_)
        self._enrolment = Enrolment(kernel_)
        self._authorisations = Authorisations(kernel_)
        self._search = Search(kernel_)
        self._verification = Verification(kernel_)
        self._subjects = Subjects(kernel_)
        self._maintenance = IndexMaintenance(kernel_)
        self._audit = AuditTrail(kernel_)
        self._records = RecordExchange(kernel_)
        self.users = Bound(UserService(kernel_), self.context)
        self.dpias = Bound(DpiaService(kernel_), self.context)
        self.reports = Bound(TransparencyService(kernel_), self.context)
        self.retention = Bound(RetentionService(kernel_), self.context)
        self.deletions = Bound(DeletionService(kernel_), self.context)
        self.audit_export = Bound(AuditExportService(kernel_), self.context)
        self.keys = Bound(KeyService(kernel_), self.context)
        self.watchlists = Bound(Watchlists(kernel_), self.context)
        self.alerts = Bound(Alerts(kernel_), self.context)
        self.deployments = Bound(Deployments(kernel_), self.context)
        self.calibrations = Bound(Calibrations(kernel_), self.context)
        self.examinations = Bound(Examinations(kernel_), self.context)
        # Federation: node identity, partners, step 1 and 2 out, answers to partners in.
        self.node = Bound(NodeService(kernel_), self.context)
        self.partners = Bound(Partners(kernel_), self.context)
        self.federated = Bound(FederatedSearch(kernel_), self.context)
        self.exchanges = Bound(FederatedExchange(kernel_), self.context)
        self.answering = Bound(FederationAnswer(kernel_), self.context)
        self.repair = Bound(Repair(kernel_), self.context)
        # Erasures committed by a process that died before removing every copy finish now.
        resume_erasures(kernel_)

    # -- lifecycle and caller ---------------------------------------------------------

    @property
    def database(self) -> Any:
        return self.kernel.database

    @property
    def catalog(self) -> Any:
        return self.kernel.catalog

    @property
    def analyzers(self) -> Any:
        return self.kernel.analyzers

    @property
    def actor(self) -> str:
        """The name this object's calls are audited under."""
        return self.context().actor

    def context(self) -> Context:
        """A fresh Context for one call: the configured user, checked now.

        The token's secret is verified once; later calls re-check that the token is still
        current and re-read the user's role and rank.
        """
        with self._lock:
            if self._signed_in is None:
                caller = self.kernel.authenticate(self._user, self._token)
                self._signed_in = caller if caller.signed_in else None
            else:
                try:
                    caller = self._signed_in = self.kernel.refresh(self._signed_in)
                except PermissionDeniedError as error:  # refused (and audited) at the call
                    self._signed_in = None
                    caller = replace(self.kernel.single_operator(self._user), refusal=str(error))
            return replace(caller, request_id=new_request_id())

    def close(self) -> None:
        """Save open indexes and release the database."""
        self.kernel.close()

    def __enter__(self) -> Facetrail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def require(self, permission: str) -> None:
        """Refuse (audited) unless the configured user may `permission`."""
        self.kernel.require(self.context(), permission)

    # -- use cases ---------------------------------------------------------------------

    def create_gallery(
        self,
        name: str,
        *,
        pipeline: str | None = None,
        keep_photos: bool = True,
        description: str = "",
        min_quality: float | None = None,
        index: str | None = None,
    ) -> GalleryInfo:
        """Create a gallery that enrols with `pipeline` and is indexed by `index` kind.

        `index`: auto, exact, compressed or milvus (default: the configured index_kind);
        `min_quality`: photos under it are refused (default DEFAULT_MIN_QUALITY).
        """
        request = GalleryRequest(
            name,
            pipeline,
            keep_photos,
            description,
            min_quality=min_quality,
            index=index,
        )
        return self._galleries.create(self.context(), request)

    def galleries(self) -> list[GalleryInfo]:
        """Every gallery with its counts."""
        return self._galleries.list(self.context())

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
        subject_field: str | None = None,
        face: int | None = None,
        box: tuple[float, float, float, float] | None = None,
        allow_low_quality: bool = False,
        min_quality: float | None = None,
    ) -> EnrolReport:
        """Enrol a photo (needs `subject`), a folder of subject folders, or ANSI/NIST-ITL
        transactions (a file or a folder of them; the subject from `subject_field`)."""
        request = EnrolRequest(
            path=Path(path).expanduser(),
            gallery=gallery,
            subject=subject,
            source=source,
            legal_basis=legal_basis,
            retain_until=retain_until,
            collected_at=collected_at,
            pipeline=pipeline,
            keep_photos=keep_photos,
            subject_field=subject_field,
            face=face,
            box=box,
            allow_low_quality=allow_low_quality,
            min_quality=min_quality,
        )
        return self._enrolment.enrol(self.context(), request, progress)

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
        valid_days: int | None = None,
        max_candidates: int | None = None,
        kind: str = "retrospective_search",
        offence_category: str | None = None,
        watchlists: list[str] | tuple[str, ...] = (),
        for_user: str | None = None,
        unrecorded_dpia: bool = False,
    ) -> AuthorisationInfo:
        """Record an authorisation for the galleries in scope (see AuthorisationRequest)."""
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
            unrecorded_dpia=unrecorded_dpia,
        )
        return self._authorisations.grant(self.context(), request)

    def revoke_authorisation(self, authorisation_id: int, reason: str) -> AuthorisationInfo:
        """Revoke an authorisation now (further use is refused)."""
        return self._authorisations.revoke(self.context(), authorisation_id, reason)

    def authorisations(self) -> list[AuthorisationInfo]:
        """Every authorisation, newest first."""
        return self._authorisations.list(self.context())

    def authorisation(self, authorisation_id: int) -> AuthorisationInfo:
        """One authorisation."""
        return self._authorisations.show(self.context(), authorisation_id)

    def search(
        self,
        probe: Path | str | bytes,
        *,
        gallery: str,
        authorisation: int,
        top: int = DEFAULT_TOP,
        pipeline: str | None = None,
        subject_score: str = DEFAULT_SUBJECT_SCORE,
    ) -> SearchResult:
        """Every face in the probe against the gallery: top-K subjects each, authorised.

        `subject_score`: "max" (a subject's best photo) or "mean-top-2"/"mean-top-3".
        """
        request = SearchRequest(probe, gallery, authorisation, top, pipeline, subject_score)
        return self._search.search(self.context(), request)

    def verify(
        self,
        image_a: Path | str | bytes,
        image_b: Path | str | bytes,
        *,
        pipeline: str | None = None,
        authorisation: int | None = None,
        face_a: int | None = None,
        face_b: int | None = None,
    ) -> VerifyResult:
        """1:1 comparison of one face in each image (`face_a`/`face_b` pick among several)."""
        request = VerifyRequest(image_a, image_b, pipeline, authorisation, face_a, face_b)
        return self._verification.verify(self.context(), request)

    def subjects(self, gallery: str | None = None) -> list[SubjectInfo]:
        """Subjects of one gallery (or all), with their image counts."""
        return self._subjects.list(self.context(), gallery)

    def subject(self, gallery: str, subject: str) -> SubjectDetail:
        """One subject with the provenance of each enrolled image."""
        return self._subjects.show(self.context(), gallery, subject)

    def subject_photo(self, gallery: str, image_id: int) -> bytes:
        """The kept photo of one enrolled image (audited)."""
        return self._subjects.photo(self.context(), gallery, image_id)

    def delete_subject(self, gallery: str, subject: str, reason: str = "") -> DeleteResult:
        """Delete a subject's images, templates, index entries and kept photos."""
        return self._subjects.delete(self.context(), gallery, subject, reason)

    def export_subject(
        self,
        gallery: str,
        subject: str,
        path: Path | str,
        *,
        format: str = ANSI_NIST,
        originating_agency: str = DEFAULT_AGENCY,
        destination_agency: str = UNKNOWN_AGENCY,
        type_of_transaction: str = EXPORT_TOT,
        reason: str = "",
    ) -> TransactionExport:
        """Write a subject's kept photos as an ANSI/NIST-ITL transaction (Type-10 records)."""
        request = SubjectExportRequest(
            gallery=gallery,
            subject=subject,
            path=Path(path).expanduser(),
            format=format,
            originating_agency=originating_agency,
            destination_agency=destination_agency,
            type_of_transaction=type_of_transaction,
            reason=reason,
        )
        return self._records.export_subject(self.context(), request)

    def export_candidates(
        self,
        search: SearchResult,
        path: Path | str,
        *,
        probe: Probe | None = None,
        originating_agency: str = DEFAULT_AGENCY,
        destination_agency: str | None = None,
    ) -> TransactionExport:
        """Write a search's candidate list as an ANSI/NIST-ITL response transaction."""
        request = CandidateExportRequest(
            search=search,
            path=Path(path).expanduser(),
            probe=probe,
            originating_agency=originating_agency,
            destination_agency=destination_agency,
        )
        return self._records.export_candidates(self.context(), request)

    def rebuild_index(self, gallery: str | None = None) -> list[RebuildResult]:
        """Recreate the vector indexes (of one gallery, or all) from the database."""
        return self._maintenance.rebuild(self.context(), gallery)

    def verify_audit(self, checkpoint: dict[str, Any] | None = None) -> ChainCheck:
        """Check the audit trail's hash chain (and that it still holds a checkpoint)."""
        return self._audit.verify(self.context(), checkpoint)

    def audit_entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first."""
        return self._audit.entries(self.context(), limit)
