"""Federation figures for the FOI report, from audit entries: per partner, in and out."""

from __future__ import annotations

from typing import Any

from facetrail.store.models import AuditEntry

SEARCH_IN = "federation.answer.search"
SEARCH_OUT = "federation.search"
CONFIRM_IN = "federation.answer.confirm"
CONFIRM_OUT = "federation.confirm"


def _partner() -> dict[str, Any]:
    return {
        "queries_in": 0,
        "hits_in": 0,
        "queries_out": 0,
        "hits_out": 0,
        "released_to": 0,
        "received_from": 0,
        "refusals_by_reason": {},
    }


def federation_counts(entries: list[AuditEntry]) -> dict[str, Any]:
    """Queries in and out per partner, hits, step-2 exchanges, refusals by reason."""
    partners: dict[str, dict[str, Any]] = {}

    def row(name: object) -> dict[str, Any]:
        return partners.setdefault(str(name or "?"), _partner())

    for entry in entries:
        details = entry.details or {}
        if entry.action == SEARCH_IN:
            counts = row(details.get("partner"))
            counts["queries_in"] += 1
            counts["hits_in"] += int(details.get("hits") or 0)
        elif entry.action == CONFIRM_IN and details.get("status") == "released":
            row(details.get("partner"))["released_to"] += 1
        elif entry.action == SEARCH_OUT and entry.outcome == "ok":
            for name, answer in (details.get("partners") or {}).items():
                counts = row(name)
                counts["queries_out"] += 1
                counts["hits_out"] += int(answer.get("status") == "hit")
        elif entry.action == CONFIRM_OUT and details.get("status") == "released":
            row(details.get("partner"))["received_from"] += 1
        if entry.action in (SEARCH_IN, CONFIRM_IN) and entry.outcome == "refused":
            reasons = row(details.get("partner"))["refusals_by_reason"]
            reason = str(details.get("reason") or "")
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "partners": dict(sorted(partners.items())),
        "queries_in": sum(p["queries_in"] for p in partners.values()),
        "queries_out": sum(p["queries_out"] for p in partners.values()),
        "step2_released": sum(p["released_to"] for p in partners.values()),
        "step2_received": sum(p["received_from"] for p in partners.values()),
        "refusals": sum(sum(p["refusals_by_reason"].values()) for p in partners.values()),
    }
