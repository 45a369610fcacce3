"""What the services return: plain Pydantic models, ready for the CLI's --json and an API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class QualityOut(BaseModel):
    score: float
    components: dict[str, float]


class Candidate(BaseModel):
    rank: int
    subject: str
    score: float
    above_threshold: bool
    image_id: int = Field(description="the enrolled image that scored best")


class FaceResult(BaseModel):
    box: list[float] = Field(description="x, y, w, h in probe pixels")
    quality: float
    quality_components: dict[str, float]
    candidates: list[Candidate]


class SearchResult(BaseModel):
    gallery: str
    pipeline: str
    threshold: float
    calibration: str
    authorisation: int
    audit_id: int
    faces: list[FaceResult]


class VerifyResult(BaseModel):
    score: float
    threshold: float
    same_person: bool
    pipeline: str
    calibration: str
    faces_found: list[int] = Field(description="faces detected in image A and image B")
    quality: list[float]
    audit_id: int


class EnrolItem(BaseModel):
    path: str
    subject: str | None
    status: str  # enrolled | skipped | failed
    reason: str = ""
    image_id: int | None = None
    quality: float | None = None
    warnings: list[str] = Field(default_factory=list)


class EnrolReport(BaseModel):
    gallery: str
    pipeline: str
    enrolled: int
    skipped: int
    failed: int
    subjects_created: int
    duplicate_warnings: int
    seconds: float
    items: list[EnrolItem]


class GalleryInfo(BaseModel):
    name: str
    pipeline: str
    keep_photos: bool
    subjects: int
    images: int
    templates: int
    created_at: datetime
    index: str = "exact"  # auto, exact, compressed or milvus


class ImageInfo(BaseModel):
    id: int
    sha256: str
    file_name: str
    format: str
    width: int
    height: int
    source: str
    legal_basis: str
    collected_at: datetime | None
    retain_until: date | None
    photo_kept: bool
    quality: float | None
    models: list[str]
    enrolled_at: datetime


class SubjectInfo(BaseModel):
    subject: str
    gallery: str
    images: int
    created_at: datetime


class SubjectDetail(SubjectInfo):
    image_records: list[ImageInfo]


class AuthorisationInfo(BaseModel):
    id: int
    kind: str
    purpose: str
    case_reference: str
    legal_basis: str
    necessity: str
    proportionality: str
    officer_name: str
    officer_rank: str
    dpia_reference: str | None
    galleries: list[str]
    valid_from: datetime
    valid_until: datetime
    created_by: str
    offence_category: str | None = None
    watchlists: list[str] = Field(default_factory=list)
    for_user: str | None = Field(default=None, description="the only user who may use it")
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class DeleteResult(BaseModel):
    gallery: str
    subject: str
    images_deleted: int
    templates_deleted: int
    photos_deleted: int
    audit_id: int


class RebuildResult(BaseModel):
    gallery: str
    model: str
    templates: int
