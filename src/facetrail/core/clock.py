"""The kernel's clock: one place that says what time it is (replaceable in tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime


class Clock:
    """Aware UTC time now, and today's date."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()
