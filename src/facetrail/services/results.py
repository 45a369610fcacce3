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
    images_scored: int = Field(
        1, description="the subject's enrolled images its score is the mean of (1: its best)"
    )


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
    top_capped_to: int | None = Field(
        None, description="--top was above the authorisation's max_candidates: this cap was used"
    )
    subject_score: str = Field(
        "max",
        description="how a subject with several photos was scored: max (its best photo)"
        " or mean-top-k (the mean of its k best)",
    )


class VerifyResult(BaseModel):
    score: float
    threshold: float
    same_person: bool
    pipeline: str
    calibration: str
    faces_found: list[int] = Field(description="faces detected in image A and image B")
    faces_used: list[int] = Field(
        default_factory=list, description="the face compared in A and B (1 = largest)"
    )
    quality: list[float]
    audit_id: int


class EnrolItem(BaseModel):
    path: str
    subject: str | None
    status: str  # enrolled | skipped | failed
    reason: str = ""
    image_id: int | None = None
    quality: float | None = None
    quality_components: dict[str, float] | None = Field(
        default=None, description="size, sharpness, pose, exposure (0-100) of the enrolled face"
    )
    low_quality: bool = Field(
        default=False, description="under the gallery's minimum, enrolled with --allow-low-quality"
    )
    warnings: list[str] = Field(default_factory=list)
    record: str | None = Field(
        default=None, description="the Type-10 record of a transaction file, e.g. 'Type-10 IDC 2'"
    )


class EnrolReport(BaseModel):
    gallery: str
    pipeline: str
    enrolled: int
    skipped: int
    failed: int
    subjects_created: int
    duplicate_warnings: int
    seconds: float
    temp_files_removed: int = Field(
        default=0, description="stale temp files of killed runs removed"
    )
    items: list[EnrolItem]


class GalleryInfo(BaseModel):
    name: str
    pipeline: str
    keep_photos: bool
    min_quality: float | None = Field(default=None, description="photos under it are refused")
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
    provenance: dict[str, str] | None = Field(
        default=None, description="what a standard record said about the image (if from one)"
    )
    quality_components: dict[str, float] | None = None
    low_quality: bool = False


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
    removed: dict[str, int] = {}  # what went, by kind (photos, index entries, copies...)


class RebuildResult(BaseModel):
    gallery: str
    model: str
    templates: int


class TransactionExport(BaseModel):
    """An ANSI/NIST-ITL transaction written to a file (a subject's images or a candidate list)."""

    path: str
    format: str
    type_of_transaction: str
    control_number: str
    control_reference: str | None = None
    gallery: str
    subject: str | None = None
    images: int = Field(default=0, description="Type-10 records written")
    candidates: int | None = Field(default=None, description="entries of a candidate list")
    sap: list[int] = Field(default_factory=list, description="10.013 SAP of each Type-10")
    bytes: int
    sha256: str
    audit_id: int
