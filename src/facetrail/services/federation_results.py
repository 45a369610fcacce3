"""What the federation use cases return (Pydantic, ready for --json and the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class NodeInfo(BaseModel):
    name: str
    public_key: str = Field(description="Ed25519 public key, PEM")
    fingerprint: str = Field(description="SHA-256 of the raw public key")
    tls_certificate: str
    tls_fingerprint: str = Field(description="SHA-256 of the certificate (DER), for pinning")


class PartnerInfo(BaseModel):
    name: str
    url: str
    fingerprint: str
    active: bool
    policy_version: int
    policy: dict[str, Any]
    created_at: datetime
    removed_at: datetime | None = None


class RemoteCandidate(BaseModel):
    reference: str
    score: float


class PartnerAnswer(BaseModel):
    partner: str
    status: str = Field(description="hit | no_hit | refused | timeout | error")
    reason: str = ""
    candidates: list[RemoteCandidate] = []
    ms: float = 0.0


class FederatedSearchResult(BaseModel):
    request_id: str
    partners: list[PartnerAnswer]
    audit_id: int


class ExchangeResult(BaseModel):
    status: str = Field(description="released | pending_approval | refused")
    reason: str = ""
    request_id: str
    partner: str
    reference: str
    record: dict[str, Any] | None = None
    due_at: datetime | None = None


class ReleaseInfo(BaseModel):
    id: int
    direction: str
    request_id: str
    partner: str
    reference: str
    status: str
    reason: str
    examiner: str
    note: str
    due_at: datetime | None
    decided_by: str | None
    created_at: datetime
    overdue: bool = False
    retain_until: datetime | None = None
    erased_at: datetime | None = None
