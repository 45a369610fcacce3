"""A partner's policy: what it may search here, for which offences and purposes, how much."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from facetrail.errors import AuthorisationError, InvalidInputError

MAX_CANDIDATES = 100  # Prüm: 1-100
DEFAULT_MAX_CANDIDATES = 10
DEFAULT_DEADLINE_HOURS = 48
DEFAULT_RECEIVED_RETENTION_DAYS = 30  # records this partner releases to us are kept so long
MAX_RECEIVED_RETENTION_DAYS = 3660
STEP2 = ("auto", "approve")
KEYS = (
    "galleries",
    "offence_categories",
    "refused_purposes",
    "max_candidates",
    "min_score",
    "step2",
    "deadline_hours",
    "received_retention_days",
    "dpia",
)


class PolicyRefusal(AuthorisationError):
    """A partner's request that its policy does not allow (the reason says which rule)."""

    http_status = 403


@dataclass(frozen=True, slots=True)
class Policy:
    """One partner's rules (offence_categories empty = all accepted)."""

    galleries: tuple[str, ...]
    offence_categories: tuple[str, ...] = ()
    refused_purposes: tuple[str, ...] = ()
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    min_score: float | None = None  # None: each gallery's calibrated threshold
    step2: str = "auto"
    deadline_hours: int = DEFAULT_DEADLINE_HOURS
    received_retention_days: int = DEFAULT_RECEIVED_RETENTION_DAYS
    dpia: str | None = None  # the DPIA covering answering this partner (the DPIA check)

    def as_json(self) -> dict[str, Any]:
        """The policy as stored and shown."""
        document = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in document.items()}


def parse_policy(data: bytes, source: str) -> Policy:
    """A policy from TOML (or JSON) bytes, or InvalidInputError naming the bad key."""
    text = data.decode("utf-8", errors="replace")
    try:
        document: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as toml_error:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInputError(f"{source} is neither TOML nor JSON: {toml_error}") from None
    if not isinstance(document, dict):
        raise InvalidInputError(f"{source} must hold a table of policy keys")
    return policy_from(document, source)


def policy_from(document: dict[str, Any], source: str = "policy") -> Policy:
    """A policy from its keys, checked; unknown keys are refused (a typo would widen it)."""
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise InvalidInputError(f"{source}: unknown key(s) {unknown}; the keys are {list(KEYS)}")
    galleries = _names(document.get("galleries"), "galleries", source)
    if not galleries:
        raise InvalidInputError(f"{source}: galleries must name at least one local gallery")
    top = document.get("max_candidates", DEFAULT_MAX_CANDIDATES)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_CANDIDATES:
        raise InvalidInputError(
            f"{source}: max_candidates must be an integer 1-{MAX_CANDIDATES}, got {top!r}"
        )
    min_score = document.get("min_score")
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, int | float)
    ):
        raise InvalidInputError(f"{source}: min_score must be a number, got {min_score!r}")
    step2 = document.get("step2", "auto")
    if step2 not in STEP2:
        raise InvalidInputError(f'{source}: step2 must be "auto" or "approve", got {step2!r}')
    hours = document.get("deadline_hours", DEFAULT_DEADLINE_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 366:
        raise InvalidInputError(f"{source}: deadline_hours must be a whole number of hours")
    keep = document.get("received_retention_days", DEFAULT_RECEIVED_RETENTION_DAYS)
    if (
        isinstance(keep, bool)
        or not isinstance(keep, int)
        or not 1 <= keep <= MAX_RECEIVED_RETENTION_DAYS
    ):
        raise InvalidInputError(
            f"{source}: received_retention_days must be a whole number of days"
            f" 1-{MAX_RECEIVED_RETENTION_DAYS}"
        )
    dpia = document.get("dpia")
    if dpia is not None and (not isinstance(dpia, str) or not dpia.strip()):
        raise InvalidInputError(f"{source}: dpia must name a recorded DPIA, got {dpia!r}")
    return Policy(
        galleries=galleries,
        offence_categories=_names(document.get("offence_categories"), "offence_categories", source),
        refused_purposes=_names(document.get("refused_purposes"), "refused_purposes", source),
        max_candidates=top,
        min_score=float(min_score) if min_score is not None else None,
        step2=step2,
        deadline_hours=hours,
        received_retention_days=keep,
        dpia=dpia.strip() if dpia else None,
    )


def check_request(
    policy: Policy,
    *,
    partner: str,
    galleries: Iterable[str],
    offence_category: str,
    purpose: str,
    max_candidates: int,
) -> tuple[str, ...]:
    """The galleries to search for this request, or PolicyRefusal with the rule broken."""
    asked = tuple(galleries) or policy.galleries
    outside = [g for g in asked if g not in policy.galleries]
    if outside:
        raise PolicyRefusal(
            f"gallery {', '.join(outside)} is outside {partner}'s policy"
            f" (may search: {', '.join(policy.galleries)})"
        )
    accepted = {c.casefold() for c in policy.offence_categories}
    if accepted and offence_category.strip().casefold() not in accepted:
        raise PolicyRefusal(
            f"offence category {offence_category or '(none)'!r} is not accepted from {partner}"
            f" (accepted: {', '.join(policy.offence_categories)})"
        )
    refused = {p.casefold() for p in policy.refused_purposes}
    if purpose.strip().casefold() in refused:
        raise PolicyRefusal(f"purpose {purpose!r} is refused for {partner} by policy")
    if not 1 <= max_candidates <= policy.max_candidates:
        raise PolicyRefusal(
            f"{max_candidates} candidates asked for; {partner}'s policy allows at most"
            f" {policy.max_candidates}"
        )
    return asked


def _names(value: Any, key: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInputError(f"{source}: {key} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)
