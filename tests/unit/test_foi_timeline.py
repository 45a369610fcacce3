"""The FOI report's figures over time: periods (days or months, zeros kept), alerts by
outcome, searches and enrolments counted in the period they happened (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from facetrail.services.foi_timeline import bucket_of, period_labels, timeline
from facetrail.store.models import AuditEntry


def _entry(action: str, at: datetime, outcome: str = "ok") -> AuditEntry:
    return AuditEntry(action=action, outcome=outcome, occurred_at=at, actor="x", details={})


def test_days_up_to_two_months_then_months() -> None:
    assert bucket_of(date(2026, 1, 1), date(2026, 3, 3)) == "day"  # 62 days
    assert bucket_of(date(2026, 1, 1), date(2026, 3, 4)) == "month"
    assert bucket_of(date(2000, 1, 1), date(2026, 3, 4)) == "year"
    assert period_labels(date(1, 1, 1), date(9999, 12, 31))[-1] == "9999"  # bounded: 9999
    assert period_labels(date(2026, 2, 27), date(2026, 3, 2)) == [
        "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02",
    ]  # fmt: skip
    assert period_labels(date(2025, 11, 15), date(2026, 2, 1)) == [
        "2025-11", "2025-12", "2026-01", "2026-02",
    ]  # fmt: skip


def test_each_count_lands_in_its_period_and_empty_periods_stay() -> None:
    day = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)
    entries = [
        _entry("search", day),
        _entry("search", day, outcome="refused"),  # refused: not a search made
        _entry("enrol", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
        _entry("verify", day),
        _entry("search", datetime(2026, 3, 9, tzinfo=UTC)),  # outside the window
    ]
    alerts = [(day, "confirmed"), (day, "rejected"), (day, None), (day, "no-action")]
    report = timeline(entries, alerts, date(2026, 2, 28), date(2026, 3, 2))
    assert report["bucket"] == "day"
    by_period = {p["period"]: p for p in report["periods"]}
    assert list(by_period) == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert by_period["2026-02-28"] == {"period": "2026-02-28", **dict.fromkeys(report["series"], 0)}
    assert by_period["2026-03-01"]["images_enrolled"] == 1
    last = by_period["2026-03-02"]
    assert (last["alerts"], last["true_positives"], last["false_positives"]) == (4, 1, 1)
    assert (last["no_action"], last["undecided"], last["searches"]) == (1, 1, 1)
    yearly = timeline(entries, alerts, date(2025, 4, 1), date(2026, 3, 31))
    assert yearly["bucket"] == "month" and len(yearly["periods"]) == 12
    march = yearly["periods"][-1]
    assert march["period"] == "2026-03" and march["searches"] == 2 and march["alerts"] == 4
    decade = timeline(entries, alerts, date(2000, 1, 1), date(2026, 12, 31))
    assert decade["bucket"] == "year" and decade["periods"][-1]["period"] == "2026"
    assert decade["periods"][-1]["searches"] == 2 and decade["periods"][0]["period"] == "2000"
