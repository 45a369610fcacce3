"""FOI figures over time: alerts and what came of them, searches and enrolments, per day
(windows of up to DAILY_UP_TO_DAYS days), per calendar month (up to MONTHLY_UP_TO_DAYS)
or per year (UTC)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from facetrail.store.models import AuditEntry

DAILY_UP_TO_DAYS = 62
MONTHLY_UP_TO_DAYS = 3660  # ten years: a longer window is counted per year
SERIES = (
    "alerts",
    "true_positives",
    "false_positives",
    "no_action",
    "undecided",
    "searches",
    "images_enrolled",
)
_ALERT_OUTCOME = {"confirmed": "true_positives", "rejected": "false_positives"}


def bucket_of(start: date, end: date) -> str:
    """'day' for a window of up to DAILY_UP_TO_DAYS days, 'month' up to MONTHLY_UP_TO_DAYS,
    else 'year'."""
    days = (end - start).days
    return "day" if days < DAILY_UP_TO_DAYS else "month" if days < MONTHLY_UP_TO_DAYS else "year"


def period_labels(start: date, end: date) -> list[str]:
    """Every period of the window in order, zeros included: ISO days, YYYY-MM months or
    YYYY years."""
    bucket = bucket_of(start, end)
    if bucket == "day":
        return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    if bucket == "year":
        return [f"{year:04d}" for year in range(start.year, end.year + 1)]
    labels, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels


def _label(bucket: str, moment: datetime) -> str:
    if bucket == "day":
        return moment.date().isoformat()
    return f"{moment.year:04d}-{moment.month:02d}" if bucket == "month" else f"{moment.year:04d}"


def alert_series(outcome: str | None) -> str:
    """The series an alert's decision counts in (as the FOI report's alert totals)."""
    if outcome == "no-action":
        return "no_action"
    return _ALERT_OUTCOME.get(outcome or "", "undecided")


def timeline(
    entries: Iterable[AuditEntry],
    alerts: Iterable[tuple[datetime, str | None]],
    start: date,
    end: date,
) -> dict[str, Any]:
    """Per period: alerts raised (by outcome), searches made and images enrolled."""
    bucket = bucket_of(start, end)
    rows: dict[str, dict[str, Any]] = {
        label: {"period": label, **dict.fromkeys(SERIES, 0)} for label in period_labels(start, end)
    }
    for entry in entries:
        if entry.outcome != "ok" or entry.action not in ("search", "enrol"):
            continue
        row = rows.get(_label(bucket, entry.occurred_at))
        if row is not None:
            row["searches" if entry.action == "search" else "images_enrolled"] += 1
    for created_at, outcome in alerts:
        row = rows.get(_label(bucket, created_at))
        if row is not None:
            row["alerts"] += 1
            row[alert_series(outcome)] += 1
    return {"bucket": bucket, "series": list(SERIES), "periods": list(rows.values())}
