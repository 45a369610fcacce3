"""1:N search and 1:1 verification: multipart uploads, the JSON of `--json`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from facetrail.errors import FacetrailError
from facetrail.interfaces.api.deps import ContextDep, MetricsDep, PoolDep, ServicesDep
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.interfaces.api.uploads import read_image, read_probe
from facetrail.services.examination import OutcomeInfo, OutcomeRequest
from facetrail.services.results import SearchResult, VerifyResult
from facetrail.services.search import DEFAULT_TOP, SearchRequest
from facetrail.services.verification import VerifyRequest

router = APIRouter(tags=["identification"], responses=PROBLEM_RESPONSES)


@router.post("/search", response_model=SearchResult)
async def search(
    services: ServicesDep,
    context: ContextDep,
    pool: PoolDep,
    metrics: MetricsDep,
    probe: Annotated[UploadFile, File(description="probe photo or ANSI/NIST-ITL transaction")],
    gallery: Annotated[str, Form(min_length=1, max_length=200)],
    authorisation: Annotated[int, Form(ge=1, le=2**62)],
    top: Annotated[int, Form(ge=1, le=200)] = DEFAULT_TOP,
    pipeline: Annotated[str | None, Form(max_length=500)] = None,
    subject_score: Annotated[
        Literal["max", "mean-top-2", "mean-top-3"],
        Form(description="a subject with several photos: its best, or the mean of its k best"),
    ] = "max",
) -> SearchResult:
    """Every face in the probe against the gallery, under an authorisation (= `search --json`)."""
    data = await read_probe(probe, "probe")
    request = SearchRequest(data, gallery, authorisation, top, pipeline or None, subject_score)
    try:
        result = await pool.run(lambda: services.search.search(context, request))
    except FacetrailError:
        metrics.searches.labels("refused_or_failed").inc()
        raise
    metrics.searches.labels("ok").inc()
    return result


@router.post("/verify", response_model=VerifyResult)
async def verify(
    services: ServicesDep,
    context: ContextDep,
    pool: PoolDep,
    metrics: MetricsDep,
    a: Annotated[UploadFile, File(description="first photo")],
    b: Annotated[UploadFile, File(description="second photo")],
    authorisation: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    pipeline: Annotated[str | None, Form(max_length=500)] = None,
) -> VerifyResult:
    """The largest face in each photo compared 1:1 (= `verify --json`)."""
    image_a = await read_image(a, "a")
    image_b = await read_image(b, "b")
    request = VerifyRequest(image_a, image_b, pipeline or None, authorisation)
    try:
        result = await pool.run(lambda: services.verification.verify(context, request))
    except FacetrailError:
        metrics.verifications.labels("refused_or_failed").inc()
        raise
    metrics.verifications.labels("ok").inc()
    return result


class Outcome(BaseModel):
    outcome: Literal["potential_candidate", "no_candidate", "inconclusive"]
    note: str = Field(min_length=1, max_length=4000)
    subject: str | None = Field(default=None, max_length=200)


@router.post("/searches/{audit_id}/outcome", response_model=OutcomeInfo, status_code=201)
def record_outcome(
    audit_id: RecordId, body: Outcome, services: ServicesDep, context: ContextDep
) -> OutcomeInfo:
    """The examiner's outcome of one of their searches (the search's audit_id), audited."""
    request = OutcomeRequest(audit_id, body.outcome, body.note, body.subject)
    return services.examinations.record(context, request)
