"""Standard records out: a subject's photos, or a search's candidates, as ANSI/NIST-ITL."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from facetrail.core.access import ADMINISTRATOR, INVESTIGATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.records import (
    Candidate,
    Envelope,
    ExportImage,
    Transaction,
    candidate_list,
    subject_transaction,
    write_transaction,
)
from facetrail.records.export import MAX_IMAGES
from facetrail.records.standard import MAX_SOURCE_LENGTH, RESPONSE_TOT
from facetrail.services.lookup import find_gallery, find_subject
from facetrail.services.probes import Probe, probe_transaction
from facetrail.services.results import SearchResult, TransactionExport
from facetrail.store.files import write_atomic
from facetrail.store.models import AuditEntry, Image

SUBJECTS_EXPORT = declare(
    "subjects.export",
    "export a subject's photos as an ANSI/NIST-ITL transaction",
    (INVESTIGATOR, ADMINISTRATOR),
)
SEARCH_EXPORT = declare(
    "search.export",
    "write a search's candidate list as an ANSI/NIST-ITL response transaction",
    (INVESTIGATOR,),
)

ANSI_NIST = "ansi-nist"
FORMATS = (ANSI_NIST,)
EXPORT_TOT = "FEXP"  # facetrail subject export (DOM FACETRAIL 1); --tot for a partner's own
DEFAULT_AGENCY = "FACETRAIL"  # 1.008 ORI / 10.004 SRC when the home is not told its own
UNKNOWN_AGENCY = "UNKNOWN"  # 1.007 DAI when no destination is given
TCN_PREFIX = "FT"


@dataclass(frozen=True, slots=True)
class SubjectExportRequest:
    """Which subject to export, to which file, and the envelope's agencies."""

    gallery: str
    subject: str
    path: Path
    format: str = ANSI_NIST
    originating_agency: str = DEFAULT_AGENCY  # 1.008 ORI: this agency
    destination_agency: str = UNKNOWN_AGENCY  # 1.007 DAI: who it is for
    type_of_transaction: str = EXPORT_TOT  # 1.004 TOT
    reason: str = ""  # why it is exported (audited)


@dataclass(frozen=True, slots=True)
class CandidateExportRequest:
    """A search's candidate list to write as a response to its probe."""

    search: SearchResult
    path: Path
    probe: Probe | None = None  # a probe transaction: answered by 1.010 TCR, sent to its ORI
    originating_agency: str = DEFAULT_AGENCY
    destination_agency: str | None = None  # default: the probe's ORI, else UNKNOWN


def new_control_number(now: datetime) -> str:
    """A fresh 1.009 TCN: 'FT' + UTC time + 12 random hex digits (26 characters)."""
    return f"{TCN_PREFIX}{now:%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


def _provenance(image: Image, gallery: str) -> dict[str, str]:
    """What facetrail holds about a stored image, for Type-2 field 2.901 (empty values out)."""
    values = dict(image.provenance or {})
    values.update(
        {
            "gallery": gallery,
            "image_id": str(image.id),
            "sha256": image.sha256,
            "file_name": image.file_name,
            "source": image.source,
            "legal_basis": image.legal_basis,
            "collected_at": image.collected_at.isoformat() if image.collected_at else "",
            "retain_until": image.retain_until.isoformat() if image.retain_until else "",
            "enrolled_at": image.created_at.isoformat(),
        }
    )
    return {key: value for key, value in values.items() if value}


class RecordExchange:
    """Write standard records: subject exports and candidate-list responses, audited."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(SUBJECTS_EXPORT)
    def export_subject(self, context: Context, request: SubjectExportRequest) -> TransactionExport:
        """The subject's kept photos as Type-10 records (SAP from quality) in one file."""
        if request.format not in FORMATS:
            raise InvalidInputError(
                f"--format {request.format!r} is not supported; use {', '.join(FORMATS)}"
            )
        with self.kernel.reader() as session:
            gallery = find_gallery(session, request.gallery)
            if not gallery.keep_photos:
                raise InvalidInputError(
                    f"gallery {gallery.name!r} keeps templates only (created with"
                    " --no-keep-photos): it holds no photos to export"
                )
            subject = find_subject(session, gallery, request.subject)
            images = session.scalars(
                select(Image)
                .where(Image.subject_id == subject.id, Image.lawfully_held.is_(True))
                .options(selectinload(Image.templates))
                .order_by(Image.id)
            ).all()
            kept = [image for image in images if image.photo_path]
            if not kept:
                raise InvalidInputError(
                    f"subject {request.subject!r} in {gallery.name!r} has no kept photo to export"
                )
            if len(kept) > MAX_IMAGES:
                raise InvalidInputError(
                    f"subject {request.subject!r} has {len(kept)} photos; a transaction holds"
                    f" at most {MAX_IMAGES}"
                )
            exported = [self._export_image(image, gallery.name, request) for image in kept]
            hashes = [image.sha256 for image in kept]
        now = self.kernel.clock.now()
        envelope = Envelope(
            type_of_transaction=request.type_of_transaction,
            control_number=new_control_number(now),
            originating_agency=request.originating_agency,
            destination_agency=request.destination_agency,
            date=now.date(),
            timestamp=now.replace(microsecond=0),
        )
        transaction = subject_transaction(envelope, request.subject, exported)
        details = {
            "format": request.format,
            "images": len(exported),
            "image_sha256": hashes,
            "destination": request.destination_agency,
            "reason": request.reason,
        }
        return self._write(
            context,
            "subject.export",
            transaction,
            request.path,
            request.gallery,
            details,
            subject=request.subject,
        )

    def _export_image(
        self, image: Image, gallery: str, request: SubjectExportRequest
    ) -> ExportImage:
        """One stored image with its photo bytes, quality and provenance."""
        assert image.photo_path is not None
        template = image.templates[0] if image.templates else None
        held = image.provenance or {}
        agency = held.get("source_agency") or request.originating_agency
        moment = image.collected_at or image.created_at
        return ExportImage(
            data=self.kernel.photos.read(image.photo_path),
            source_agency=agency[:MAX_SOURCE_LENGTH],
            capture_date=moment.date(),
            quality=template.quality if template else None,
            components=dict(template.quality_components) if template else {},
            provenance=_provenance(image, gallery),
        )

    @requires(SEARCH_EXPORT)
    def export_candidates(
        self, context: Context, request: CandidateExportRequest
    ) -> TransactionExport:
        """The search's candidate list (its probe's first face) as a response transaction."""
        result = request.search
        with self.kernel.reader() as session:
            entry = session.get(AuditEntry, result.audit_id)
            if entry is None or entry.action != "search" or entry.gallery != result.gallery:
                raise InvalidInputError(
                    f"audit entry {result.audit_id} is not a search of {result.gallery!r}:"
                    " export the candidates of a search this home made"
                )
            if context.signed_in and entry.actor != context.actor:
                raise InvalidInputError(
                    f"search {result.audit_id} was made by {entry.actor!r}: only they may"
                    " export its candidates"
                )
        probe = probe_transaction(request.probe) if request.probe is not None else None
        now = self.kernel.clock.now()
        destination = request.destination_agency or (
            probe.envelope.originating_agency if probe else UNKNOWN_AGENCY
        )
        envelope = Envelope(
            type_of_transaction=RESPONSE_TOT,
            control_number=new_control_number(now),
            originating_agency=request.originating_agency,
            destination_agency=destination,
            date=now.date(),
            control_reference=probe.envelope.control_number if probe else None,
            timestamp=now.replace(microsecond=0),
        )
        faces = result.faces
        candidates = [
            Candidate(rank=c.rank, reference=c.subject, score=c.score)
            for c in (faces[0].candidates if faces else [])
        ]
        transaction = candidate_list(envelope, candidates)
        details = {
            "search_audit_id": result.audit_id,
            "candidates": len(candidates),
            "faces_in_probe": len(faces),
            "destination": destination,
            "control_reference": envelope.control_reference,
        }
        return self._write(
            context,
            "search.export",
            transaction,
            request.path,
            result.gallery,
            details,
            authorisation_id=result.authorisation,
            candidates=len(candidates),
        )

    def _write(
        self,
        context: Context,
        action: str,
        transaction: Transaction,
        path: Path,
        gallery: str,
        details: dict[str, object],
        *,
        subject: str | None = None,
        authorisation_id: int | None = None,
        candidates: int | None = None,
    ) -> TransactionExport:
        """Encode, write (temp file + rename) and audit in one step: both or neither."""
        data = write_transaction(transaction)
        digest = hashlib.sha256(data).hexdigest()
        envelope = transaction.envelope
        if path.is_dir():
            raise InvalidInputError(f"-o {path} is a folder: give the file to write")
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        write_atomic(temp, data)  # in place (renamed) only once its audit entry has committed
        try:
            with self.kernel.unit_of_work(context) as work:
                entry = work.audit(
                    action,
                    gallery=gallery,
                    target=subject or envelope.control_number,
                    authorisation_id=authorisation_id,
                    details={
                        **details,
                        "control_number": envelope.control_number,
                        "type_of_transaction": envelope.type_of_transaction,
                        "file": path.name,
                        "sha256": digest,
                        "bytes": len(data),
                    },
                )
                work.after_commit(lambda: os.replace(temp, path))
        finally:
            temp.unlink(missing_ok=True)
        return TransactionExport(
            path=str(path),
            format=ANSI_NIST,
            type_of_transaction=envelope.type_of_transaction,
            control_number=envelope.control_number,
            control_reference=envelope.control_reference,
            gallery=gallery,
            subject=subject,
            images=len(transaction.faces),
            candidates=candidates,
            sap=[face.sap or 0 for face in transaction.faces],
            bytes=len(data),
            sha256=digest,
            audit_id=entry.id,
        )
