"""Auditor pages: the audit trail with live verification and filters, FOI charts, export."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facetrail.interfaces.web.caller import CallerDep, PostCallerDep
from facetrail.interfaces.web.charts import time_chart
from facetrail.interfaces.web.render import TEMPLATES, keep_session, page

router = APIRouter(include_in_schema=False)
PAGE = 50


def _chain(caller: CallerDep) -> Any:
    if not caller.may("audit.verify"):
        return None
    return caller.state.services.audit.verify(caller.context)


@router.get("/audit")
def audit_page(
    request: Request,
    caller: CallerDep,
    offset: int = 0,
    action: str = "",
    actor: str = "",
    outcome: str = "",
) -> Response:
    """Newest entries first, filtered; the chain's verification status."""
    entries = caller.state.services.audit.entries(caller.context)
    picked = [
        e
        for e in reversed(entries)
        if (not action or e["action"].startswith(action))
        and (not actor or e["actor"] == actor)
        and (not outcome or e["outcome"] == outcome)
    ]
    offset = max(0, offset)
    return page(
        request,
        "audit.html",
        caller,
        entries=picked[offset : offset + PAGE],
        total=len(picked),
        offset=offset,
        limit=PAGE,
        filters={"action": action, "actor": actor, "outcome": outcome},
        chain=_chain(caller),
    )


@router.get("/audit/status")
def audit_status(request: Request, caller: CallerDep) -> Response:
    """The verification status fragment (htmx refreshes it)."""
    fragment = TEMPLATES.TemplateResponse(request, "audit_status.html", {"chain": _chain(caller)})
    return keep_session(request, fragment)


@router.post("/audit/export")
def export(caller: PostCallerDep) -> Response:
    """Download the signed export."""
    folder = Path(tempfile.mkdtemp(prefix="facetrail-export-"))
    try:
        target = folder / "audit-export.json"
        caller.state.services.audit_export.export(caller.context, target)
        return Response(
            target.read_bytes(),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="audit-export.json"'},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _bars(section: Any) -> list[tuple[str, float]]:
    """Numeric values of a report section, flattened to (label, value) bars."""
    bars: list[tuple[str, float]] = []
    if isinstance(section, dict):
        for key, value in section.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                bars.append((str(key), float(value)))
            elif isinstance(value, dict):
                bars.extend((f"{key}: {k}", float(v)) for k, v in value.items()
                            if isinstance(v, int | float) and not isinstance(v, bool))  # fmt: skip
    return bars


@router.get("/foi")
def foi_page(
    request: Request, caller: CallerDep, start: date | None = None, end: date | None = None
) -> Response:
    """The FOI figures with charts (alerts and outcomes, images held by source...)."""
    end = end or date.today()
    start = start or end - timedelta(days=365)
    report = caller.state.services.reports.foi(caller.context, start, end)
    charts = [
        (title, bars)
        for title, bars in (
            ("Alerts and outcomes", _bars(report.get("alerts"))),
            ("Images held", _bars(report.get("images"))),
            ("Searches", _bars(report.get("searches"))),
            ("Deployments", _bars(report.get("deployments"))),
            ("Deletion requests", _bars(report.get("deletion_requests"))),
        )
        if bars
    ]
    over_time = report.get("over_time") or {}
    time_charts = [
        time_chart("alerts-over-time", "Alerts and true/false positives over time", over_time,
                   ("alerts", "true_positives", "false_positives", "no_action")),
        time_chart("work-over-time", "Searches and images enrolled over time", over_time,
                   ("searches", "images_enrolled")),
    ]  # fmt: skip
    return page(
        request,
        "foi.html",
        caller,
        start=start,
        end=end,
        time_charts=time_charts,
        charts=charts,
        report_json=json.dumps(report, indent=2, default=str),
    )
