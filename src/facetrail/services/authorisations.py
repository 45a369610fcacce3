"""Granting authorisations and checking that an operation is covered by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from facetrail.errors import AuthorisationError, InvalidInputError, NotFoundError
from facetrail.store.models import Authorisation, Gallery
from facetrail.store.oversight_models import Dpia
from facetrail.store.row_seals import RowTamperedError, check_row
from facetrail.store.types import utcnow

KINDS = ("retrospective_search", "live_deployment", "federated_query", "verification")
DEFAULT_VALID_DAYS = 30
MAX_VALID_DAYS = 366
# Police ranks, lowest first (what a per-kind minimum rank is measured against).
RANKS = (
    "constable",
    "sergeant",
    "inspector",
    "chief inspector",
    "superintendent",
    "chief superintendent",
    "commander",
    "assistant chief constable",
    "deputy assistant commissioner",
    "deputy chief constable",
    "assistant commissioner",
    "chief constable",
    "deputy commissioner",
    "commissioner",
)
RANK_ALIASES = {"pc": "constable", "ds": "sergeant", "di": "inspector", "dci": "chief inspector"}


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
    valid_days: int | None = None  # None: the kind's default (30 days, or its maximum)
    kind: str = "retrospective_search"
    max_candidates: int | None = None
    offence_category: str | None = None
    watchlists: tuple[str, ...] = ()
    requested_by: str | None = None  # the user who will use it (never the grantor)
    unrecorded_dpia: bool = False  # the officer acknowledges citing a DPIA not recorded


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
    if request.valid_days is not None and not 1 <= request.valid_days <= MAX_VALID_DAYS:
        raise InvalidInputError(
            f"--valid-days must be between 1 and {MAX_VALID_DAYS}, got {request.valid_days}"
        )
    if request.kind not in KINDS:
        raise InvalidInputError(f"unknown authorisation kind {request.kind!r}; one of {KINDS}")
    if request.max_candidates is not None and request.max_candidates < 1:
        raise InvalidInputError("max candidates must be at least 1")
    if any(not name.strip() for name in request.watchlists):
        raise InvalidInputError("watchlist names in scope must not be blank")


def rank_level(rank: str) -> int | None:
    """Where a rank stands (0: constable), None when it is not a known police rank."""
    words = rank.strip().lower().replace(".", "").split()
    cleaned = " ".join(w for w in words if w not in ("detective", "acting", "temporary"))
    cleaned = RANK_ALIASES.get(cleaned, cleaned)
    return RANKS.index(cleaned) if cleaned in RANKS else None


def check_kind_rules(request: AuthorisationRequest, rules: dict[str, dict[str, Any]]) -> int:
    """The days the authorisation is valid, after the kind's minimum rank and maximum
    validity (settings `authorisation_rules`) are checked."""
    rule = rules.get(request.kind, {})
    minimum = rule.get("min_rank")
    if minimum:
        needed, held = rank_level(str(minimum)), rank_level(request.officer_rank)
        if held is None or needed is None or held < needed:
            raise AuthorisationError(
                f"a {request.kind} authorisation needs an officer of rank {minimum} or above,"
                f" not {request.officer_rank!r}"
            )
    longest = int(rule.get("max_valid_days") or MAX_VALID_DAYS)
    days = request.valid_days if request.valid_days is not None else DEFAULT_VALID_DAYS
    if request.valid_days is None:
        days = min(days, longest)
    if days > longest:
        raise InvalidInputError(
            f"a {request.kind} authorisation may be valid for at most {longest} day(s),"
            f" not {days} (--valid-days)"
        )
    return days


def resolve_dpia(session: Session, reference: str | None, moment: datetime) -> Dpia | None:
    """The recorded DPIA cited by `reference`, refused if withdrawn or not yet approved.

    An unrecorded reference is kept as text and listed by `facetrail report dpia-check`.
    """
    if not reference or not reference.strip():
        return None
    dpia = session.scalar(select(Dpia).where(Dpia.reference == reference.strip()))
    if dpia is None:
        return None
    today = moment.date()
    if dpia.approved_on > today:
        raise InvalidInputError(f"DPIA {dpia.reference} is only approved from {dpia.approved_on}")
    if dpia.withdrawn_on is not None and dpia.withdrawn_on <= today:
        raise InvalidInputError(
            f"DPIA {dpia.reference} was withdrawn on {dpia.withdrawn_on}; cite one in force"
        )
    return dpia


def grant(
    session: Session,
    request: AuthorisationRequest,
    created_by: str,
    rules: dict[str, dict[str, Any]] | None = None,
) -> Authorisation:
    """Record a new authorisation covering the named galleries (which must exist)."""
    validate_request(request)
    days = check_kind_rules(request, rules or {})
    galleries = []
    for name in request.galleries:
        gallery = session.scalar(select(Gallery).where(Gallery.name == name))
        if gallery is None:
            raise NotFoundError(f"gallery {name!r} does not exist; enrol into it first")
        galleries.append(gallery)
    now = utcnow()
    if request.requested_by and request.requested_by.strip().lower() == created_by.lower():
        raise AuthorisationError(
            f"{created_by!r} cannot grant an authorisation to themselves; another authorising"
            " officer must grant it"
        )
    dpia = resolve_dpia(session, request.dpia_reference, now)
    cited = (request.dpia_reference or "").strip()
    if cited and dpia is None and not request.unrecorded_dpia:
        raise InvalidInputError(
            f"DPIA {cited} is not recorded: record it with `facetrail dpia add`, or"
            " acknowledge citing it unrecorded (--unrecorded-dpia)"
        )
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
        valid_until=now + timedelta(days=days),
        created_by=created_by,
        galleries=galleries,
        offence_category=(request.offence_category or "").strip() or None,
        dpia_id=dpia.id if dpia else None,
        watchlists=sorted({w.strip() for w in request.watchlists}) or None,
        requested_by=(request.requested_by or "").strip().lower() or None,
    )
    session.add(record)
    session.flush()
    return record


def check_covers(
    authorisation: Authorisation | None,
    *,
    authorisation_id: int,
    kind: str | tuple[str, ...],
    gallery: str | None,
    now: datetime | None = None,
    actor: str | None = None,
    watchlist: str | None = None,
) -> Authorisation:
    """The authorisation if it is valid now for `kind` on `gallery`; else AuthorisationError.

    `kind` may name several acceptable kinds; `gallery` None checks no gallery scope.

    With `actor` (homes with user accounts), the grantor may not use it, and one granted
    for a named user serves only them. With `watchlist`, a watchlist scope must include it.
    """
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
    kinds = (kind,) if isinstance(kind, str) else kind
    if authorisation.kind not in kinds:
        raise AuthorisationError(
            f"authorisation {authorisation_id} is for {authorisation.kind},"
            f" not {' or '.join(kinds)}"
        )
    if gallery is not None and gallery not in {g.name for g in authorisation.galleries}:
        raise AuthorisationError(
            f"authorisation {authorisation_id} does not cover gallery {gallery!r}"
            f" (covers: {', '.join(sorted(g.name for g in authorisation.galleries))})"
        )
    if (
        watchlist is not None
        and authorisation.watchlists
        and watchlist not in authorisation.watchlists
    ):
        raise AuthorisationError(
            f"authorisation {authorisation_id} does not cover watchlist {watchlist!r}"
            f" (covers: {', '.join(authorisation.watchlists)})"
        )
    if actor is not None:
        check_user(authorisation, authorisation_id, actor)
    session = object_session(authorisation)
    if session is not None and authorisation.dpia_id is not None:
        check_dpia_in_force(session, authorisation, authorisation_id, moment)
    if session is not None:
        try:
            check_row(session, Authorisation, authorisation.id)
        except RowTamperedError as error:
            raise AuthorisationError(str(error)) from None
    return authorisation


def check_dpia_in_force(
    session: Session, authorisation: Authorisation, authorisation_id: int, moment: datetime
) -> None:
    """Refuse use under a DPIA withdrawn or past its review date since the grant."""
    dpia = session.get(Dpia, authorisation.dpia_id)
    today = moment.date()
    if dpia is None:
        raise AuthorisationError(
            f"authorisation {authorisation_id} cites a DPIA that is no longer recorded"
        )
    if dpia.withdrawn_on is not None and dpia.withdrawn_on <= today:
        raise AuthorisationError(
            f"authorisation {authorisation_id}: its DPIA {dpia.reference} was withdrawn on"
            f" {dpia.withdrawn_on}"
        )
    if dpia.review_by is not None and dpia.review_by < today:
        raise AuthorisationError(
            f"authorisation {authorisation_id}: its DPIA {dpia.reference} expired (review was"
            f" due by {dpia.review_by})"
        )


def check_user(authorisation: Authorisation, authorisation_id: int, actor: str) -> None:
    """Refuse use by the officer who granted it, or by anyone but the user it names."""
    if actor == authorisation.created_by:
        raise AuthorisationError(
            f"{actor!r} granted authorisation {authorisation_id} and so may not use it"
        )
    if authorisation.requested_by and actor != authorisation.requested_by:
        raise AuthorisationError(
            f"authorisation {authorisation_id} was granted for {authorisation.requested_by!r},"
            f" not {actor!r}"
        )


def revoke(session: Session, authorisation_id: int, *, reason: str, by: str) -> Authorisation:
    """Revoke an authorisation now, recording who and why."""
    if not reason.strip():
        raise InvalidInputError("revoking an authorisation needs a reason")
    record = session.get(Authorisation, authorisation_id)
    if record is None:
        raise NotFoundError(f"authorisation {authorisation_id} does not exist")
    if record.revoked_at is not None:
        raise InvalidInputError(
            f"authorisation {authorisation_id} was already revoked on {record.revoked_at:%Y-%m-%d}"
        )
    record.revoked_at = utcnow()
    record.revoked_reason = reason.strip()
    record.revoked_by = by
    session.flush()
    return record
