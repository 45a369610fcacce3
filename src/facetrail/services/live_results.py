"""What the live-recognition services return: Pydantic models for the CLI's JSON and an API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class WatchlistExclusion(BaseModel):
    subject: str
    reason: str = Field(description="why the entry is not searched, e.g. 'expired 2026-01-01'")


class WatchlistEntryInfo(BaseModel):
    subject: str
    reason: str
    expires_on: date | None
    eligible: bool
    images: int = Field(description="enrolled images still within their retain-until")


class WatchlistInfo(BaseModel):
    name: str
    gallery: str
    version: int = Field(description="latest frozen version (0: never deployed)")
    created_at: datetime
    created_by: str
    expires_on: date | None
    entries: list[WatchlistEntryInfo]
    eligible: int
    excluded: list[WatchlistExclusion]


class FrozenWatchlist(BaseModel):
    """A watchlist version as a deployment searches it."""

    name: str
    gallery: str
    version: int
    version_id: int
    pipeline: str
    entries: int = Field(description="subjects searched")
    templates: int
    excluded: list[WatchlistExclusion]
    reused: bool = Field(description="an identical earlier version was reused")


class FalseAlertEstimate(BaseModel):
    threshold: float
    fmr_per_comparison: float
    watchlist_size: int
    per_face: float = Field(description="expected false alerts per face scanned")
    per_1000_faces: float
    method: str


class DeploymentStart(BaseModel):
    deployment_id: int
    source: str
    place: str
    watchlist: FrozenWatchlist
    threshold: float
    threshold_source: str
    estimate: FalseAlertEstimate | None
    frame_stride: int
    authorisation: int


class AlertEvent(BaseModel):
    """One alert as the deployment prints it (the public --json-alerts line)."""

    alert_id: int
    subject: str
    score: float
    frame: int
    time_s: float
    track: int
    threshold: float
    quality: float
    latency_ms: float


class DeploymentSummary(BaseModel):
    faces_processed: int
    tracks: int
    alerts: int
    frames: int
    duration_s: float
    processing_fps: float
    realtime_factor: float = Field(description="seconds of video per second of processing")
    reconnects: int
    frames_dropped: int
    status: str
    status_detail: str
    deployment_id: int
    corrupt_packets_skipped: int = Field(0, description="damaged video packets skipped")


class AlertInfo(BaseModel):
    alert_id: int
    deployment_id: int
    subject: str
    reason: str | None = Field(
        default=None, description="why the subject is on the watchlist (as frozen for the run)"
    )
    score: float
    threshold: float
    frame: int
    time_s: float
    track: int
    quality: float
    created_at: datetime
    outcome: str | None
    engagement: bool | None
    result: str | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    crop_path: str | None
    reference_path: str | None
    crop_retain_until: datetime
    crop_deleted: bool


class PurgeResult(BaseModel):
    crops_deleted: int
    alerts: list[int]


class DeploymentReport(BaseModel):
    deployment_id: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    place: str
    source: str
    authorisation_id: int
    authorising_officer: str
    authorising_rank: str
    case_reference: str
    legal_basis: str
    watchlist: str
    watchlist_version: int
    watchlist_size: int
    pipeline: str
    threshold: float
    threshold_source: str
    expected_false_alerts_per_face: float | None
    frames: int
    faces_processed: int
    tracks: int
    alerts: int
    confirmed: int
    false_alerts: int = Field(description="alerts an operator rejected as a false match")
    no_action: int
    unadjudicated: int
    engagements: int
    outcomes: dict[str, int] = Field(description="result (e.g. arrest) -> alerts")
    processing_fps: float
    realtime_factor: float
    reconnects: int
