"""Charts of the FOI page, drawn on the server as inline SVG geometry (no script, no CDN):
bars of a report section, and grouped bars of series over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH = 720
PLOT_HEIGHT = 180
LEFT = 40  # room for the value axis
BOTTOM = 40  # room for the period labels
TOP = 16
MAX_LABELS = 16  # period labels shown at most (every n-th past that)
COLOURS = {
    "alerts": "#4a6fa5",
    "true_positives": "#2e7d32",
    "false_positives": "#c62828",
    "no_action": "#f9a825",
    "undecided": "#9e9e9e",
    "searches": "#6a1b9a",
    "images_enrolled": "#00838f",
}
NAMES = {
    "alerts": "alerts",
    "true_positives": "true positives (confirmed)",
    "false_positives": "false positives (rejected)",
    "no_action": "no action",
    "undecided": "undecided",
    "searches": "searches",
    "images_enrolled": "images enrolled",
}


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    period: str
    value: int
    colour: str


@dataclass(slots=True)
class TimeChart:
    """Grouped bars, one group per period, one bar per series; geometry in SVG units."""

    id: str
    title: str
    bucket: str
    width: int = WIDTH
    height: int = PLOT_HEIGHT + TOP + BOTTOM
    top_value: int = 0
    bars: list[Bar] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # series, name, colour
    totals: dict[str, int] = field(default_factory=dict)


def time_chart(
    chart_id: str, title: str, over_time: dict[str, Any], series: tuple[str, ...]
) -> TimeChart:
    """A grouped bar chart of `series` per period of the FOI report's `over_time` section."""
    periods = over_time.get("periods") or []
    chart = TimeChart(chart_id, title, str(over_time.get("bucket", "")))
    chart.legend = [(s, NAMES.get(s, s), COLOURS.get(s, "#607d8b")) for s in series]
    chart.totals = {s: sum(int(p.get(s, 0)) for p in periods) for s in series}
    chart.top_value = max([int(p.get(s, 0)) for p in periods for s in series] or [0])
    if not periods:
        return chart
    scale = PLOT_HEIGHT / max(chart.top_value, 1)
    group = (WIDTH - LEFT) / len(periods)
    bar_width = max(group * 0.8 / len(series), 1.0)
    every = max(1, -(-len(periods) // MAX_LABELS))  # ceiling division
    for number, period in enumerate(periods):
        left = LEFT + number * group + group * 0.1
        for offset, name in enumerate(series):
            value = int(period.get(name, 0))
            height = round(value * scale, 2)
            chart.bars.append(
                Bar(
                    x=round(left + offset * bar_width, 2),
                    y=round(TOP + PLOT_HEIGHT - height, 2),
                    width=round(bar_width, 2),
                    height=height,
                    series=name,
                    period=str(period["period"]),
                    value=value,
                    colour=COLOURS.get(name, "#607d8b"),
                )
            )
        if number % every == 0:
            chart.labels.append(
                (round(LEFT + number * group + group / 2, 2), str(period["period"]))
            )
    steps = min(chart.top_value, 4) or 1
    chart.ticks = [
        (round(TOP + PLOT_HEIGHT - chart.top_value * n / steps * scale, 2),
         round(chart.top_value * n / steps))
        for n in range(steps + 1)
    ]  # fmt: skip
    return chart
