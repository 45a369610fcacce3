"""Standard records out: a subject's photos, or a search's candidate list, as ANSI/NIST-ITL
transactions (the files of `subjects export` and `search --export-candidates`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel, Field

from facetrail.errors import FacetrailError
from facetrail.interfaces.api.deps import ContextDep, MetricsDep, PoolDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.interfaces.api.uploads import read_probe
from facetrail.services.record_exchange import (
    ANSI_NIST,
    DEFAULT_AGENCY,
    EXPORT_TOT,
    SEARCH_EXPORT,
    UNKNOWN_AGENCY,
    CandidateExportRequest,
    SubjectExportRequest,
)
from facetrail.services.results import TransactionExport
from facetrail.services.search import DEFAULT_TOP, SearchRequest

router = APIRouter(tags=["records"], responses=PROBLEM_RESPONSES)

MEDIA_TYPE = "application/octet-stream"  # ANSI/NIST-ITL 1-2011 traditional encoding
TRANSACTION: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {MEDIA_TYPE: {}},
        "description": "the transaction file (.an2); X-Facetrail-* headers say what it holds",
    }
}


class SubjectExport(BaseModel):
    format: str = Field(default=ANSI_NIST, max_length=40, description="ansi-nist")
    originating_agency: str = Field(
        default=DEFAULT_AGENCY, max_length=40, description="1.008 ORI: this agency"
    )
    destination_agency: str = Field(
        default=UNKNOWN_AGENCY, max_length=40, description="1.007 DAI: who it is for"
    )
    type_of_transaction: str = Field(default=EXPORT_TOT, max_length=16, description="1.004 TOT")
    reason: str = Field(default="", max_length=2000, description="why (recorded in the audit)")


def _written(write: Callable[[Path], TransactionExport]) -> tuple[TransactionExport, bytes]:
    """Run `write` on a file in a private temporary folder; its result and the file's bytes."""
    folder = Path(tempfile.mkdtemp(prefix="facetrail-records-"))
    try:
        exported = write(folder / "transaction.an2")
        return exported, (folder / "transaction.an2").read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _file(exported: TransactionExport, data: bytes, extra: dict[str, str]) -> Response:
    """The transaction as a download, what it holds in headers (no names: ASCII only)."""
    headers = {
        "Content-Disposition": f'attachment; filename="{exported.control_number}.an2"',
        "Cache-Control": "no-store",
        "X-Facetrail-Audit-Id": str(exported.audit_id),
        "X-Facetrail-Control-Number": exported.control_number,
        "X-Facetrail-Type-Of-Transaction": exported.type_of_transaction,
        "X-Facetrail-Sha256": exported.sha256,
        **extra,
    }
    return Response(data, media_type=MEDIA_TYPE, headers=headers)


@router.post(
    "/galleries/{gallery}/subjects/{subject}/export",
    response_class=Response,
    responses=TRANSACTION,
)
def export_subject(
    gallery: str,
    subject: str,
    services: ServicesDep,
    context: ContextDep,
    body: SubjectExport | None = None,
) -> Response:
    """A subject's kept photos as Type-10 records in one transaction (= `subjects export`)."""
    options = body or SubjectExport()

    def write(path: Path) -> TransactionExport:
        request = SubjectExportRequest(
            gallery=gallery,
            subject=subject,
            path=path,
            format=options.format,
            originating_agency=options.originating_agency,
            destination_agency=options.destination_agency,
            type_of_transaction=options.type_of_transaction,
            reason=options.reason,
        )
        return services.records.export_subject(context, request)

    exported, data = _written(write)
    return _file(exported, data, {"X-Facetrail-Images": str(exported.images)})


@router.post("/search/export", response_class=Response, responses=TRANSACTION)
async def export_search(
    services: ServicesDep,
    context: ContextDep,
    pool: PoolDep,
    metrics: MetricsDep,
    probe: Annotated[UploadFile, File(description="probe photo or ANSI/NIST-ITL transaction")],
    gallery: Annotated[str, Form(min_length=1, max_length=200)],
    authorisation: Annotated[int, Form(ge=1, le=2**62)],
    top: Annotated[int, Form(ge=1, le=200)] = DEFAULT_TOP,
    pipeline: Annotated[str | None, Form(max_length=500)] = None,
    originating_agency: Annotated[str, Form(max_length=40)] = DEFAULT_AGENCY,
    destination_agency: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Search, and answer with the (first face's) candidate list as an ANSI/NIST-ITL response
    transaction (= `search --export-candidates`); a transaction probe is answered by TCR."""
    # Refused before the search runs: no search is made (and audited) that cannot be exported.
    services.kernel.require(context, SEARCH_EXPORT.name)
    data = await read_probe(probe, "probe")
    search_request = SearchRequest(data, gallery, authorisation, top, pipeline or None)

    def searched() -> tuple[int, TransactionExport, bytes]:
        result = services.search.search(context, search_request)

        def write(path: Path) -> TransactionExport:
            request = CandidateExportRequest(
                search=result,
                path=path,
                probe=data,
                originating_agency=originating_agency,
                destination_agency=destination_agency or None,
            )
            return services.records.export_candidates(context, request)

        exported, transaction = _written(write)
        return result.audit_id, exported, transaction

    try:
        search_audit_id, exported, transaction = await pool.run(searched)
    except FacetrailError:
        metrics.searches.labels("refused_or_failed").inc()
        raise
    metrics.searches.labels("ok").inc()
    extra = {
        "X-Facetrail-Search-Audit-Id": str(search_audit_id),
        "X-Facetrail-Candidates": str(exported.candidates or 0),
    }
    if exported.control_reference:
        extra["X-Facetrail-Control-Reference"] = exported.control_reference
    return _file(exported, transaction, extra)
