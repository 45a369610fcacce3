"""Granting authorisations and checking that an operation is covered by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import AuthorisationError, InvalidInputError, NotFoundError
from facetrail.store.models import Authorisation, Gallery
from facetrail.store.types import utcnow

KINDS = ("retrospective_search", "live_deployment", "federated_query", "verification")
DEFAULT_VALID_DAYS = 30
MAX_VALID_DAYS = 366


@dataclass(frozen=True, slots=True)
class AuthorisationRequest:
    """What an authorising officer records when granting an authorisation."""

    purpose: str
    case_reference: str
    legal_basis: str
    necessity: str
    proportionality: str
    officer_name: str
    officer_rank: str
    galleries: tuple[str, ...]
    dpia_reference: str | None = None
    valid_days: int = DEFAULT_VALID_DAYS
    kind: str = "retrospective_search"
    max_candidates: int | None = None


def validate_request(request: AuthorisationRequest) -> None:
    """Refuse blank statements and impossible windows, naming the field."""
    required = {
        "purpose": request.purpose,
        "case": request.case_reference,
        "legal basis": request.legal_basis,
        "necessity": request.necessity,
        "proportionality": request.proportionality,
        "officer": request.officer_name,
        "rank": request.officer_rank,
    }
    for field_name, value in required.items():
        if not value or not value.strip():
            raise InvalidInputError(f"authorisation needs a non-empty {field_name}")
    if not request.galleries:
        raise InvalidInputError("authorisation needs at least one gallery in scope (--gallery)")
    if not 1 <= request.valid_days <= MAX_VALID_DAYS:
        raise InvalidInputError(
            f"--valid-days must be between 1 and {MAX_VALID_DAYS}, got {request.valid_days}"
        )
    if request.kind not in KINDS:
        raise InvalidInputError(f"unknown authorisation kind {request.kind!r}; one of {KINDS}")
    if request.max_candidates is not None and request.max_candidates < 1:
        raise InvalidInputError("max candidates must be at least 1")


def grant(session: Session, request: AuthorisationRequest, created_by: str) -> Authorisation:
    """Record a new authorisation covering the named galleries (which must exist)."""
    validate_request(request)
    galleries = []
    for name in request.galleries:
        gallery = session.scalar(select(Gallery).where(Gallery.name == name))
        if gallery is None:
            raise NotFoundError(f"gallery {name!r} does not exist; enrol into it first")
        galleries.append(gallery)
    now = utcnow()
    record = Authorisation(
        kind=request.kind,
        purpose=request.purpose.strip(),
        case_reference=request.case_reference.strip(),
        legal_basis=request.legal_basis.strip(),
        necessity=request.necessity.strip(),
        proportionality=request.proportionality.strip(),
        officer_name=request.officer_name.strip(),
        officer_rank=request.officer_rank.strip(),
        dpia_reference=(request.dpia_reference or "").strip() or None,
        max_candidates=request.max_candidates,
        valid_from=now,
        valid_until=now + timedelta(days=request.valid_days),
        created_by=created_by,
        galleries=galleries,
    )
    session.add(record)
    session.flush()
    return record


def check_covers(
    authorisation: Authorisation | None,
    *,
    authorisation_id: int,
    kind: str,
    gallery: str,
    now: datetime | None = None,
) -> Authorisation:
    """The authorisation if it is valid now for `kind` on `gallery`; else AuthorisationError."""
    moment = now or utcnow()
    if authorisation is None:
        raise AuthorisationError(f"authorisation {authorisation_id} does not exist")
    if authorisation.revoked_at is not None:
        raise AuthorisationError(
            f"authorisation {authorisation_id} was revoked on {authorisation.revoked_at:%Y-%m-%d}"
        )
    if moment < authorisation.valid_from:
        raise AuthorisationError(f"authorisation {authorisation_id} is not valid yet")
    if moment >= authorisation.valid_until:
        raise AuthorisationError(
            f"authorisation {authorisation_id} expired on {authorisation.valid_until:%Y-%m-%d};"
            " ask an authorising officer for a new one"
        )
    if authorisation.kind != kind:
        raise AuthorisationError(
            f"authorisation {authorisation_id} is for {authorisation.kind}, not {kind}"
        )
    if gallery not in {g.name for g in authorisation.galleries}:
        raise AuthorisationError(
            f"authorisation {authorisation_id} does not cover gallery {gallery!r}"
            f" (covers: {', '.join(sorted(g.name for g in authorisation.galleries))})"
        )
    return authorisation
