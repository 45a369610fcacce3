"""Galleries, subjects with provenance, enrolment (photos, or a zip as a pollable job)."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from facetrail.errors import InvalidInputError, PayloadTooLargeError
from facetrail.interfaces.api.deps import ContextDep, PoolDep, ServicesDep, StateDep
from facetrail.interfaces.api.jobs import JobInfo
from facetrail.interfaces.api.problems import PROBLEM_RESPONSES
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.interfaces.api.uploads import read_image
from facetrail.media.images import sniff_format
from facetrail.services.enrolment import EnrolRequest
from facetrail.services.gallery_records import GalleryRequest
from facetrail.services.results import (
    DeleteResult,
    EnrolReport,
    GalleryInfo,
    RebuildResult,
    SubjectDetail,
    SubjectInfo,
)

router = APIRouter(tags=["galleries"], responses=PROBLEM_RESPONSES)

MAX_ZIP_BYTES = 2 * 1024**3
MAX_ZIP_MEMBERS = 100_000


class GalleryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    pipeline: str | None = Field(default=None, max_length=500)
    keep_photos: bool = True
    description: str = Field(default="", max_length=2000)


class Reason(BaseModel):
    reason: str = Field(default="", max_length=2000)


@router.get("/galleries", response_model=list[GalleryInfo])
def list_galleries(services: ServicesDep, context: ContextDep) -> list[GalleryInfo]:
    """Every gallery with its counts."""
    return services.galleries.list(context)


@router.post("/galleries", response_model=GalleryInfo, status_code=201)
def create_gallery(body: GalleryCreate, services: ServicesDep, context: ContextDep) -> GalleryInfo:
    """Create a gallery."""
    request = GalleryRequest(body.name, body.pipeline, body.keep_photos, body.description)
    return services.galleries.create(context, request)


@router.post("/galleries/{gallery}/rebuild", response_model=list[RebuildResult])
def rebuild(gallery: str, services: ServicesDep, context: ContextDep) -> list[RebuildResult]:
    """Recreate the gallery's vector indexes from the database."""
    return services.maintenance.rebuild(context, gallery)


@router.get("/subjects", response_model=list[SubjectInfo])
def list_subjects(
    services: ServicesDep, context: ContextDep, gallery: str | None = None
) -> list[SubjectInfo]:
    """Subjects of one gallery (or all) with their image counts."""
    return services.subjects.list(context, gallery)


@router.get("/galleries/{gallery}/subjects/{subject}", response_model=SubjectDetail)
def show_subject(
    gallery: str, subject: str, services: ServicesDep, context: ContextDep
) -> SubjectDetail:
    """One subject with the provenance of each enrolled image."""
    return services.subjects.show(context, gallery, subject)


@router.get(
    "/galleries/{gallery}/images/{image_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "the kept photo"}},
)
def image_photo(
    gallery: str, image_id: RecordId, services: ServicesDep, context: ContextDep
) -> Response:
    """The kept photo of an enrolled image (a candidate's `image_id`), audited."""
    data = services.subjects.photo(context, gallery, image_id)
    kind = sniff_format(data[:32]) or "octet-stream"
    media = f"image/{kind}" if kind != "octet-stream" else "application/octet-stream"
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})


@router.delete("/galleries/{gallery}/subjects/{subject}", response_model=DeleteResult)
def delete_subject(
    gallery: str, subject: str, services: ServicesDep, context: ContextDep, reason: str = ""
) -> DeleteResult:
    """Erase a subject: images, templates, index entries, kept photos."""
    return services.subjects.delete(context, gallery, subject, reason)


def _provenance(
    gallery: str,
    folder: Path,
    source: str,
    legal_basis: str,
    retain_until: date | None,
    collected_at: datetime | None,
) -> EnrolRequest:
    return EnrolRequest(
        path=folder,
        gallery=gallery,
        source=source,
        legal_basis=legal_basis,
        retain_until=retain_until,
        collected_at=collected_at,
    )


@router.post(
    "/galleries/{gallery}/subjects/{subject}/images", response_model=EnrolReport, status_code=201
)
async def enrol_photos(
    gallery: str,
    subject: str,
    services: ServicesDep,
    context: ContextDep,
    pool: PoolDep,
    photos: Annotated[list[UploadFile], File(description="one or more photos of the subject")],
    source: Annotated[str, Form(max_length=500)] = "",
    legal_basis: Annotated[str, Form(max_length=500)] = "",
    retain_until: Annotated[date | None, Form()] = None,
    collected_at: Annotated[datetime | None, Form()] = None,
) -> EnrolReport:
    """Enrol uploaded photos of one subject (the gallery is created on first use)."""
    if not subject.strip() or "/" in subject or subject in (".", ".."):
        raise InvalidInputError(f"subject name {subject!r} is not usable")
    folder = Path(tempfile.mkdtemp(prefix="facetrail-enrol-"))
    try:
        target = folder / subject
        target.mkdir()
        for number, upload in enumerate(photos, 1):
            data = await read_image(upload, f"photos[{number}]")
            (target / f"{number:05d}.{sniff_format(data[:32])}").write_bytes(data)
        request = _provenance(gallery, folder, source, legal_basis, retain_until, collected_at)
        return await pool.run(lambda: services.enrolment.enrol(context, request))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _extract_zip(upload: Path, folder: Path) -> None:
    """Unpack a zip of subject folders safely (no absolute paths, no `..`, bounded)."""
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise InvalidInputError("archive: not a zip file") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise PayloadTooLargeError(f"archive: more than {MAX_ZIP_MEMBERS} files")
        total = 0
        for member in members:
            if member.is_dir():
                continue
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or len(name.parts) != 2:
                raise InvalidInputError(
                    f"archive: {member.filename!r} is not SUBJECT/PHOTO (one folder per subject)"
                )
            total += member.file_size  # every member goes to the planner, which reports it
            if total > MAX_ZIP_BYTES:
                raise PayloadTooLargeError("archive: more than 2 GB uncompressed")
            target = folder / name.parts[0] / name.parts[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)


@router.post("/galleries/{gallery}/enrolments", response_model=JobInfo, status_code=202)
async def bulk_enrol(
    gallery: str,
    request: Request,
    services: ServicesDep,
    context: ContextDep,
    state: StateDep,
    archive: Annotated[UploadFile, File(description="zip of SUBJECT/PHOTO files")],
    source: Annotated[str, Form(max_length=500)] = "",
    legal_basis: Annotated[str, Form(max_length=500)] = "",
    retain_until: Annotated[date | None, Form()] = None,
    collected_at: Annotated[datetime | None, Form()] = None,
) -> JobInfo:
    """Start a bulk enrolment from a zip; poll GET /enrolments/{job_id}."""
    services.kernel.require(context, "enrol")
    folder = Path(tempfile.mkdtemp(prefix="facetrail-bulk-"))
    try:
        upload = folder / "upload.zip"
        with upload.open("wb") as sink:
            shutil.copyfileobj(archive.file, sink)
        photos = folder / "photos"
        photos.mkdir()
        _extract_zip(upload, photos)
        upload.unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    enrol_request = _provenance(gallery, photos, source, legal_basis, retain_until, collected_at)
    return state.jobs.start(services.enrolment.enrol, context, enrol_request, folder)


@router.get("/enrolments/{job_id}", response_model=JobInfo)
def enrolment_job(job_id: RecordId, state: StateDep, context: ContextDep) -> JobInfo:
    """A bulk enrolment's progress (done of total) and, once done, its report."""
    return state.jobs.info(job_id, context.actor)


@router.post("/enrolments/{job_id}/resume", response_model=JobInfo, status_code=202)
def resume_job(
    job_id: RecordId, state: StateDep, services: ServicesDep, context: ContextDep
) -> JobInfo:
    """Run a failed bulk enrolment again; photos already enrolled are skipped."""
    return state.jobs.resume(job_id, services.enrolment.enrol, context)
