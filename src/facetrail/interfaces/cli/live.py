"""Live facial recognition commands: watchlists, `watch`, alerts and deployment reports."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from facetrail.errors import InvalidInputError
from facetrail.interfaces.cli.reports import report_app
from facetrail.interfaces.cli.support import (
    HomeOption,
    JsonOption,
    err,
    json_line,
    notice,
    open_app,
    out,
    parse_date,
    print_json,
    run_with_app,
    shown,
)
from facetrail.services.live import (
    DEFAULT_CROP_RETENTION_DAYS,
    DEFAULT_STRIDE,
    WatchRequest,
)
from facetrail.services.live_results import AlertEvent, AlertInfo, DeploymentStart, WatchlistInfo

watchlist_app = typer.Typer(help="Create, list and show watchlists.", no_args_is_help=True)
alerts_app = typer.Typer(
    help="List alerts, show one, and record the operator's decision.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the live-recognition commands to the main app."""
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(alerts_app, name="alerts")
    app.command("watch")(watch)


# -- watchlists ------------------------------------------------------------------------


def _print_watchlist(info: WatchlistInfo) -> None:
    out.print(
        f"watchlist {info.name} (gallery {info.gallery}, version {info.version}):"
        f" {info.eligible} of {len(info.entries)} entries searchable; expires {info.expires_on}"
    )
    table = Table("subject", "reason", "expires", "images", "searched")
    for entry in info.entries:
        table.add_row(
            entry.subject,
            entry.reason,
            str(entry.expires_on or ""),
            str(entry.images),
            "yes" if entry.eligible else "no",
        )
    out.print(table)
    for exclusion in info.excluded:
        err.print(notice("excluded:", "yellow", f"{shown(exclusion.subject)}: {exclusion.reason}"))


@watchlist_app.command("create")
def watchlist_create(
    name: Annotated[str, typer.Argument(help="watchlist name")],
    gallery: Annotated[str, typer.Option("--gallery", help="gallery the subjects are in")],
    subject: Annotated[
        list[str] | None,
        typer.Option("--subject", help="subject id (repeat; default: every subject)"),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="why these subjects are on the watchlist")
    ] = "",
    expires: Annotated[
        str | None, typer.Option("--expires", help="entries lapse after YYYY-MM-DD")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a watchlist from enrolled subjects, each with a reason and an expiry."""
    expires_on = parse_date(expires, "--expires")
    info = run_with_app(
        home,
        lambda a: a.watchlists.create(
            name, gallery=gallery, subjects=subject, reason=reason, expires_on=expires_on
        ),
    )
    if as_json:
        print_json(info)
        return
    _print_watchlist(info)


@watchlist_app.command("list")
def watchlist_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List watchlists with their sizes."""
    rows = run_with_app(home, lambda a: a.watchlists.list())
    if as_json:
        print_json(rows)
        return
    table = Table("watchlist", "gallery", "version", "entries", "searchable", "expires")
    for row in rows:
        table.add_row(
            row.name,
            row.gallery,
            str(row.version),
            str(len(row.entries)),
            str(row.eligible),
            str(row.expires_on or ""),
        )
    out.print(table)


@watchlist_app.command("show")
def watchlist_show(
    name: Annotated[str, typer.Argument(help="watchlist name")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a watchlist's entries, and which are excluded and why."""
    info = run_with_app(home, lambda a: a.watchlists.show(name))
    if as_json:
        print_json(info)
        return
    _print_watchlist(info)


# -- watch -----------------------------------------------------------------------------


def _parse_threshold(value: str) -> float | None:
    if value.strip().lower() == "auto":
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise InvalidInputError(f"--threshold must be 'auto' or a number, got {value!r}") from None
    if not -1.0 <= threshold <= 1.0e6:
        raise InvalidInputError(f"--threshold {threshold} is out of range")
    return threshold


# Above this many expected false alerts per 1,000 faces `watch` warns before it starts
# (the NPL measured about 1 in 6,000 for the Met's live deployments).
WARN_FALSE_ALERTS_PER_1000 = 1.0


def _print_start(start: DeploymentStart) -> None:
    frozen = start.watchlist
    reuse = " (unchanged, reused)" if frozen.reused else ""
    err.print(
        f"deployment {start.deployment_id}: {start.source}"
        f"{' at ' + start.place if start.place else ''}, authorisation {start.authorisation}"
    )
    err.print(
        f"watchlist {frozen.name} version {frozen.version}{reuse}: {frozen.entries} subjects,"
        f" {frozen.templates} templates; {len(frozen.excluded)} excluded"
    )
    for exclusion in frozen.excluded:
        err.print(f"  excluded {exclusion.subject}: {exclusion.reason}")
    err.print(f"threshold {start.threshold:.4f} ({start.threshold_source})")
    if start.estimate is not None:
        estimate = start.estimate
        err.print(
            f"expected false-alert rate: {estimate.per_face:.2e} per face scanned"
            f" ({estimate.per_1000_faces:.2f} per 1,000 faces;"
            f" FMR {estimate.fmr_per_comparison:.2e}"
            f" x {estimate.watchlist_size} subjects) - {estimate.method}"
        )
        if estimate.per_1000_faces > WARN_FALSE_ALERTS_PER_1000:
            err.print(
                notice(
                    "WARNING:",
                    "bold yellow",
                    f"at this threshold a {estimate.watchlist_size}-subject"
                    f" watchlist is expected to raise more than {WARN_FALSE_ALERTS_PER_1000:g}"
                    " false alert per 1,000 faces; measure the threshold for your watchlist size"
                    f" with `facetrail eval watchlist --watchlist-size {estimate.watchlist_size}`"
                    " and pass it with --threshold",
                )
            )
    err.print(f"frame stride {start.frame_stride}; processing (Ctrl-C stops and records the end)")


def _print_alert(event: AlertEvent, as_json: bool) -> None:
    if as_json:
        keys = ("alert_id", "subject", "score", "frame", "time_s", "track")
        typer.echo(json_line({k: getattr(event, k) for k in keys}))
        return
    out.print(
        notice(
            f"ALERT {event.alert_id}:",
            "bold red",
            f"possible match {shown(event.subject)}, score"
            f" {event.score:.3f} (threshold {event.threshold:.3f}), frame {event.frame}"
            f" at {event.time_s:.2f} s, track {event.track} - an officer must compare the faces"
            f" (`facetrail alerts show {event.alert_id}`)",
        )
    )


def watch(
    source: Annotated[
        str, typer.Argument(help="video file, rtsp:// or http(s):// URL, or camera 0")
    ],
    watchlist: Annotated[str, typer.Option("--watchlist", help="watchlist to search")],
    authorisation: Annotated[
        int, typer.Option("--authorisation", help="a live_deployment authorisation id")
    ],
    threshold: Annotated[
        str, typer.Option("--threshold", help="'auto' (calibrated) or a score")
    ] = "auto",
    json_alerts: Annotated[
        bool, typer.Option("--json-alerts", help="one JSON line per alert, then a summary line")
    ] = False,
    place: Annotated[str, typer.Option("--place", help="where the camera is")] = "",
    stride: Annotated[
        int, typer.Option("--stride", help="analyse every n-th frame")
    ] = DEFAULT_STRIDE,
    crop_retention_days: Annotated[
        int, typer.Option("--crop-retention-days", help="days alert crops are kept")
    ] = DEFAULT_CROP_RETENTION_DAYS,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", help="stop after this many analysed frames")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="stop after this many seconds")
    ] = None,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="play a video file at its own speed, as a camera")
    ] = False,
    below_calibrated: Annotated[
        bool,
        typer.Option(
            "--below-calibrated-threshold",
            help="allow --threshold below the calibrated 1:1 threshold (needs --reason; audited)",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="why the threshold is below the calibrated one (audited)"),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Run a live deployment: alert when a face matches the watchlist (a human decides)."""
    if below_calibrated and not (reason and reason.strip()):
        raise InvalidInputError("--below-calibrated-threshold needs --reason TEXT saying why")
    if reason is not None and not below_calibrated:
        raise InvalidInputError("--reason goes with --below-calibrated-threshold")
    request = WatchRequest(
        source=source,
        watchlist=watchlist,
        authorisation=authorisation,
        threshold=_parse_threshold(threshold),
        place=place,
        stride=stride,
        crop_retention_days=crop_retention_days,
        max_frames=max_frames,
        max_seconds=max_seconds,
        pace=realtime,
        below_calibrated_reason=reason if below_calibrated else None,
    )
    application = open_app(home)
    try:
        runner = application.deployments.runner(request)
        start = runner.start()
        _print_start(start)
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        try:
            summary = runner.run(on_alert=lambda event: _print_alert(event, json_alerts))
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        application.close()
    if json_alerts:
        keys = ("faces_processed", "tracks", "alerts", "frames", "duration_s", "processing_fps")
        payload: dict[str, Any] = {k: getattr(summary, k) for k in keys}
        payload.update(
            deployment_id=summary.deployment_id,
            realtime_factor=summary.realtime_factor,
            reconnects=summary.reconnects,
            frames_dropped=summary.frames_dropped,
            corrupt_packets_skipped=summary.corrupt_packets_skipped,
            status=summary.status,
            status_detail=summary.status_detail,
        )
        typer.echo(json_line({"summary": payload}))
        return
    out.print(
        f"deployment {summary.deployment_id} {summary.status} ({summary.status_detail}):"
        f" {summary.frames} frames, {summary.faces_processed} faces, {summary.tracks} tracks,"
        f" {summary.alerts} alerts; {summary.processing_fps:.1f} frames/s,"
        f" {summary.realtime_factor:.2f}x real time, {summary.reconnects} reconnects,"
        f" {summary.corrupt_packets_skipped} damaged packets skipped"
    )


# -- alerts ----------------------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(
    deployment: Annotated[
        int | None, typer.Option("--deployment", help="only this deployment")
    ] = None,
    undecided: Annotated[
        bool, typer.Option("--undecided", help="only alerts awaiting a decision")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first."""
    rows = run_with_app(home, lambda a: a.alerts.list(deployment, undecided))
    if as_json:
        print_json(rows)
        return
    table = Table("alert", "deployment", "subject", "score", "threshold", "time s", "outcome")
    for row in rows:
        table.add_row(
            str(row.alert_id),
            str(row.deployment_id),
            row.subject,
            f"{row.score:.3f}",
            f"{row.threshold:.3f}",
            f"{row.time_s:.2f}",
            row.outcome or Text("awaiting decision", style="yellow"),
        )
    out.print(table)


def _print_alert_detail(info: AlertInfo) -> None:
    out.print(
        f"alert {info.alert_id} (deployment {info.deployment_id}): possible match"
        f" {shown(info.subject)}, similarity {info.score:.3f} against calibrated threshold"
        f" {info.threshold:.3f}; frame {info.frame} at {info.time_s:.2f} s, track {info.track},"
        f" face quality {info.quality:.0f}/100"
    )
    out.print(f"  live face crop:  {info.crop_path or '(deleted: retention ended)'}")
    out.print(f"  watchlist image: {info.reference_path or '(gallery keeps no photos)'}")
    out.print(f"  crop kept until: {info.crop_retain_until:%Y-%m-%d %H:%M} UTC")
    out.print(
        "Compare the two faces yourself before acting: the system suggests a possible"
        " match, a trained officer decides.",
        style="bold",
    )
    if info.outcome:
        out.print(
            f"  decided: {info.outcome} by {info.decided_by} at {info.decided_at:%Y-%m-%d %H:%M};"
            f" engagement {info.engagement}; result {info.result or '-'}; note: {info.note}"
        )
    else:
        out.print(
            f"  awaiting decision: facetrail alerts decide {info.alert_id} --outcome"
            " confirmed|rejected|no-action --note TEXT"
        )


@alerts_app.command("show")
def alerts_show(
    alert: Annotated[int, typer.Argument(help="alert id")],
    export: Annotated[
        Path | None,
        typer.Option("--export", help="write the two faces side by side to this JPEG file"),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an alert: similarity, threshold, and the two faces to compare."""
    info = run_with_app(home, lambda a: a.alerts.show(alert))
    if export is not None:
        export.write_bytes(run_with_app(home, lambda a: a.alerts.side_by_side(alert)))
        err.print(f"live face (left) and watchlist image (right) written to {export}")
    if as_json:
        print_json(info)
        return
    _print_alert_detail(info)


@alerts_app.command("decide")
def alerts_decide(
    alert: Annotated[int, typer.Argument(help="alert id")],
    outcome: Annotated[
        str, typer.Option("--outcome", help="confirmed (match), rejected (false match), no-action")
    ],
    note: Annotated[str, typer.Option("--note", help="what the operator compared and saw")],
    engagement: Annotated[
        bool | None,
        typer.Option("--engagement/--no-engagement", help="whether officers engaged the person"),
    ] = None,
    result: Annotated[
        str | None, typer.Option("--result", help="what came of it, e.g. arrest, no further action")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the operator's decision on an alert."""
    info = run_with_app(
        home,
        lambda a: a.alerts.decide(
            alert, outcome=outcome, note=note, engagement=engagement, result=result
        ),
    )
    if as_json:
        print_json(info)
        return
    out.print(f"alert {info.alert_id}: {info.outcome} by {info.decided_by}")


# -- report deployment -----------------------------------------------------------------


@report_app.command("deployment")
def report_deployment(
    deployment: Annotated[int, typer.Argument(help="deployment id")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The figures a post-deployment review asks for."""
    report = run_with_app(home, lambda a: a.alerts.report(deployment))
    if as_json:
        print_json(report)
        return
    table = Table("figure", "value", title=f"deployment {report.deployment_id}")
    rows: list[tuple[str, Any]] = [
        ("status", report.status),
        ("started", f"{report.started_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("ended", f"{report.ended_at:%Y-%m-%d %H:%M:%S} UTC" if report.ended_at else "-"),
        ("place", report.place or "-"),
        ("source", report.source),
        (
            "authorisation",
            f"{report.authorisation_id}: {report.authorising_rank} {report.authorising_officer},"
            f" case {report.case_reference}",
        ),
        (
            "watchlist",
            f"{report.watchlist} v{report.watchlist_version}, {report.watchlist_size} subjects",
        ),
        ("threshold", f"{report.threshold:.4f} ({report.threshold_source})"),
        ("video analysed", f"{report.duration_s:.1f} s, {report.frames} frames"),
        ("faces processed", report.faces_processed),
        ("tracks", report.tracks),
        ("alerts", report.alerts),
        (
            "confirmed / false / no action / unadjudicated",
            f"{report.confirmed} / {report.false_alerts} / {report.no_action}"
            f" / {report.unadjudicated}",
        ),
        ("engagements", report.engagements),
        ("outcomes", ", ".join(f"{k}: {v}" for k, v in report.outcomes.items()) or "-"),
        (
            "processing",
            f"{report.processing_fps:.1f} frames/s, {report.realtime_factor:.2f}x real time",
        ),
        ("reconnects", report.reconnects),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    out.print(table)
