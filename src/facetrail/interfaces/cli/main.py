"""The `facetrail` command line: each command is one service call, printed as text or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facetrail.errors import FacetrailError
from facetrail.interfaces.cli.logs import configure_logging
from facetrail.interfaces.cli.support import (
    HomeOption,
    JsonOption,
    PipelineOption,
    err,
    global_options,
    out,
    parse_date,
    parse_moment,
    print_json,
    resolved_home,
    run_with_app,
    set_global_options,
    upgrade_home,
)
from facetrail.services.results import EnrolItem
from facetrail.services.search import DEFAULT_TOP

app = typer.Typer(
    name="facetrail",
    help="Accountable face identification: galleries, search and verification, audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
subjects_app = typer.Typer(help="List, show and delete enrolled subjects.", no_args_is_help=True)
index_app = typer.Typer(help="Maintain the vector indexes.", no_args_is_help=True)
galleries_app = typer.Typer(help="List and create galleries.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and check the audit trail.", no_args_is_help=True)
app.add_typer(subjects_app, name="subjects")
app.add_typer(index_app, name="index")
app.add_typer(galleries_app, name="galleries")
app.add_typer(audit_app, name="audit")


db_app = typer.Typer(help="Create and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _options(
    home: HomeOption = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="who is acting ($FACETRAIL_USER; token: $FACETRAIL_TOKEN)"),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option("--log-level", help="DEBUG, INFO, WARNING (default; $FACETRAIL_LOG_LEVEL)"),
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="log one JSON object per line on stderr")
    ] = False,
    index_url: Annotated[
        str | None,
        typer.Option(
            "--index-url",
            help="Milvus server for milvus galleries, milvus://host:port ($FACETRAIL_INDEX_URL)",
        ),
    ] = None,
) -> None:
    set_global_options({"home": home, "user": user, "index_url": index_url})
    configure_logging(log_level, log_json)


# -- home and schema --------------------------------------------------------------------


@app.command()
def init(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Create a new facetrail home (database schema and folders), or check an existing one."""
    info = run_with_app(home, lambda a: {"home": str(a.kernel.home)}, create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"facetrail home ready at {info['home']}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Migrate the database to this facetrail's schema (back the home up first)."""
    revisions = upgrade_home(resolved_home(home), global_options().get("user"))
    if as_json:
        print_json({"revisions": revisions})
        return
    out.print(f"database schema at {', '.join(revisions)}", highlight=False)


# -- enrol ------------------------------------------------------------------------------


@app.command()
def enrol(
    path: Annotated[Path, typer.Argument(help="a photo, or a folder of subject folders")],
    gallery: Annotated[str, typer.Option("--gallery", help="gallery to enrol into")],
    subject: Annotated[
        str | None, typer.Option("--subject", help="subject id (needed for a single photo)")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="where the photos come from")] = "",
    legal_basis: Annotated[
        str, typer.Option("--legal-basis", help="the law under which they are held")
    ] = "",
    retain_until: Annotated[
        str | None, typer.Option("--retain-until", help="delete after this date (YYYY-MM-DD)")
    ] = None,
    collected_at: Annotated[
        str | None, typer.Option("--collected-at", help="when the photos were taken")
    ] = None,
    pipeline: PipelineOption = None,
    keep_photos: Annotated[
        bool, typer.Option("--keep-photos/--no-keep-photos", help="new gallery: keep photo bytes")
    ] = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enrol photos into a gallery (resumable: re-running skips what is enrolled)."""
    retain = parse_date(retain_until, "--retain-until")
    collected = parse_moment(collected_at, "--collected-at")
    if not legal_basis:
        err.print("[yellow]warning:[/] no --legal-basis given; provenance will be incomplete")
    with Progress(
        TextColumn("enrolling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("enrol", total=None)

        def progress(item: EnrolItem, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if not as_json:
                for warning in item.warnings:
                    err.print(f"[yellow]warning:[/] {item.path}: {warning}")
                if item.status == "failed":
                    err.print(f"[red]failed:[/] {item.path}: {item.reason}")

        report = run_with_app(
            home,
            lambda a: a.enrol(
                path,
                gallery=gallery,
                subject=subject,
                source=source,
                legal_basis=legal_basis,
                retain_until=retain,
                collected_at=collected,
                pipeline=pipeline,
                keep_photos=keep_photos,
                progress=progress,
            ),
            create=True,
        )
    if as_json:
        print_json(report)
        return
    rate = report.enrolled / report.seconds if report.seconds else 0.0
    out.print(
        f"gallery {report.gallery}: {report.enrolled} enrolled, {report.skipped} skipped,"
        f" {report.failed} failed, {report.subjects_created} new subjects,"
        f" {report.duplicate_warnings} possible duplicates ({report.seconds:.1f} s,"
        f" {rate:.1f} photos/s)"
    )
    if report.failed:
        raise typer.Exit(1)


# -- authorise --------------------------------------------------------------------------


@app.command()
def authorise(
    purpose: Annotated[str, typer.Option("--purpose", help="why the search is needed")],
    case: Annotated[str, typer.Option("--case", help="case or incident reference")],
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="the law relied on")],
    necessity: Annotated[str, typer.Option("--necessity", help="why it is necessary")],
    proportionality: Annotated[
        str, typer.Option("--proportionality", help="why it is proportionate")
    ],
    gallery: Annotated[
        list[str], typer.Option("--gallery", help="gallery in scope (repeat for several)")
    ],
    officer: Annotated[
        str | None,
        typer.Option("--officer", help="authorising officer's name (default: signed-in user)"),
    ] = None,
    rank: Annotated[
        str | None, typer.Option("--rank", help="authorising officer's rank (default: on record)")
    ] = None,
    offence_category: Annotated[
        str | None, typer.Option("--offence-category", help="e.g. robbery, homicide")
    ] = None,
    watchlist: Annotated[
        list[str] | None, typer.Option("--watchlist", help="watchlist in scope (live; repeat)")
    ] = None,
    for_user: Annotated[
        str | None, typer.Option("--for-user", help="the only user who may use it (not you)")
    ] = None,
    dpia: Annotated[
        str | None, typer.Option("--dpia", help="data protection impact assessment ref")
    ] = None,
    valid_days: Annotated[int, typer.Option("--valid-days", help="days it stays valid")] = 30,
    max_candidates: Annotated[
        int | None, typer.Option("--max-candidates", help="cap on candidates per face")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="retrospective_search, live_deployment, federated_query or verification",
        ),
    ] = "retrospective_search",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an authorisation for searches or deployments; prints its id."""
    info = run_with_app(
        home,
        lambda a: a.authorise(
            purpose=purpose,
            case=case,
            legal_basis=legal_basis,
            necessity=necessity,
            proportionality=proportionality,
            officer=officer,
            rank=rank,
            galleries=gallery,
            dpia=dpia,
            valid_days=valid_days,
            max_candidates=max_candidates,
            kind=kind,
            offence_category=offence_category,
            watchlists=watchlist or [],
            for_user=for_user,
        ),
        create=True,
    )
    if as_json:
        print_json(info)
        return
    out.print(info.id)
    err.print(
        f"authorisation {info.id} for case {info.case_reference} by {info.officer_rank}"
        f" {info.officer_name}, valid until {info.valid_until:%Y-%m-%d %H:%M} UTC"
    )


# -- search and verify ------------------------------------------------------------------


@app.command()
def search(
    probe: Annotated[Path, typer.Argument(help="probe photo")],
    gallery: Annotated[str, typer.Option("--gallery", help="gallery to search")],
    authorisation: Annotated[
        int, typer.Option("--authorisation", help="id from `facetrail authorise`")
    ],
    top: Annotated[int, typer.Option("--top", help="candidates per face (1-200)")] = DEFAULT_TOP,
    pipeline: PipelineOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search every face in a probe photo against a gallery (needs an authorisation)."""
    result = run_with_app(
        home,
        lambda a: a.search(
            probe, gallery=gallery, authorisation=authorisation, top=top, pipeline=pipeline
        ),
    )
    if as_json:
        print_json(result)
        return
    out.print(
        f"{len(result.faces)} face(s) in {probe.name}; threshold {result.threshold:.3f}"
        f" ({result.calibration}); audit entry {result.audit_id}"
    )
    out.print(
        "[bold]Candidates are investigative leads, not identifications: a trained person"
        " must compare the faces.[/]"
    )
    for number, face in enumerate(result.faces, 1):
        table = Table(title=f"face {number} at {face.box}, quality {face.quality:.0f}/100")
        table.add_column("rank", justify="right")
        table.add_column("subject")
        table.add_column("score", justify="right")
        table.add_column("above threshold")
        for candidate in face.candidates:
            table.add_row(
                str(candidate.rank),
                candidate.subject,
                f"{candidate.score:.3f}",
                "yes" if candidate.above_threshold else "",
            )
        out.print(table)


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="first photo")],
    image_b: Annotated[Path, typer.Argument(help="second photo")],
    pipeline: PipelineOption = None,
    authorisation: Annotated[
        int | None, typer.Option("--authorisation", help="authorisation to record")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the largest face in two photos (1:1) against the calibrated threshold."""
    result = run_with_app(
        home,
        lambda a: a.verify(image_a, image_b, pipeline=pipeline, authorisation=authorisation),
    )
    if as_json:
        print_json(result)
        return
    verdict = "same person" if result.same_person else "different people"
    out.print(
        f"score {result.score:.3f}, threshold {result.threshold:.3f}: {verdict}"
        f" ({result.pipeline}; calibration {result.calibration})"
    )


# -- subjects ---------------------------------------------------------------------------

GalleryFilter = Annotated[str | None, typer.Option("--gallery", help="only this gallery")]
GalleryRequired = Annotated[str, typer.Option("--gallery", help="the subject's gallery")]


@subjects_app.command("list")
def subjects_list(
    gallery: GalleryFilter = None, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """List subjects with their image counts."""
    rows = run_with_app(home, lambda a: a.subjects(gallery))
    if as_json:
        print_json(rows)
        return
    table = Table("gallery", "subject", "images", "enrolled")
    for row in rows:
        table.add_row(row.gallery, row.subject, str(row.images), f"{row.created_at:%Y-%m-%d}")
    out.print(table)


@subjects_app.command("show")
def subjects_show(
    subject: Annotated[str, typer.Argument(help="subject id")],
    gallery: GalleryRequired,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a subject's images and their provenance."""
    detail = run_with_app(home, lambda a: a.subject(gallery, subject))
    if as_json:
        print_json(detail)
        return
    out.print(f"subject {detail.subject} in {detail.gallery}: {detail.images} image(s)")
    table = Table("image", "file", "source", "legal basis", "retain until", "quality", "models")
    for image in detail.image_records:
        table.add_row(
            str(image.id),
            image.file_name,
            image.source,
            image.legal_basis,
            str(image.retain_until or ""),
            f"{image.quality:.0f}" if image.quality is not None else "",
            ",".join(image.models),
        )
    out.print(table)


@subjects_app.command("delete")
def subjects_delete(
    subject: Annotated[str, typer.Argument(help="subject id")],
    gallery: GalleryRequired,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the audit)")] = "",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a subject: images, templates, index entries and kept photos."""
    result = run_with_app(home, lambda a: a.delete_subject(gallery, subject, reason))
    if as_json:
        print_json(result)
        return
    out.print(
        f"deleted {result.subject} from {result.gallery}: {result.images_deleted} image(s),"
        f" {result.templates_deleted} template(s), {result.photos_deleted} photo file(s)"
    )


# -- galleries, index, audit ------------------------------------------------------------


@galleries_app.command("list")
def galleries_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List galleries with their counts."""
    rows = run_with_app(home, lambda a: a.galleries())
    if as_json:
        print_json(rows)
        return
    table = Table("gallery", "pipeline", "index", "subjects", "images", "templates", "photos kept")
    for row in rows:
        table.add_row(
            row.name,
            row.pipeline,
            row.index,
            str(row.subjects),
            str(row.images),
            str(row.templates),
            "yes" if row.keep_photos else "no",
        )
    out.print(table)


@galleries_app.command("create")
def galleries_create(
    name: Annotated[str, typer.Argument(help="gallery name")],
    pipeline: PipelineOption = None,
    keep_photos: Annotated[
        bool, typer.Option("--keep-photos/--no-keep-photos", help="keep photo bytes")
    ] = True,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            help="vector index: exact, compressed (PQ + exact re-ranking), milvus (needs"
            " --index-url) or auto (exact, compressed past $FACETRAIL_COMPRESS_ABOVE);"
            " default $FACETRAIL_INDEX_KIND or auto",
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an empty gallery with its pipeline, photo policy and index kind."""
    info = run_with_app(
        home,
        lambda a: a.create_gallery(name, pipeline=pipeline, keep_photos=keep_photos, index=index),
        create=True,
    )
    if as_json:
        print_json(info)
        return
    out.print(f"created gallery {info.name} ({info.pipeline}, {info.index} index)")


@index_app.command("rebuild")
def index_rebuild(
    gallery: GalleryFilter = None, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Recreate the vector indexes from the database."""
    rows = run_with_app(home, lambda a: a.rebuild_index(gallery))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row.gallery} / {row.model}: {row.templates} templates")


@audit_app.command("verify")
def audit_verify(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Check the audit trail's hash chain."""
    check = run_with_app(home, lambda a: a.verify_audit())
    if as_json:
        print_json(
            {
                "ok": check.ok,
                "entries": check.entries,
                "first_bad_id": check.first_bad_id,
                "problem": check.problem,
            }
        )
    elif check.ok:
        out.print(f"audit trail intact: {check.entries} entries")
    else:
        out.print(f"audit trail broken at entry {check.first_bad_id}: {check.problem}")
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int | None, typer.Option("--limit", help="at most this many")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the audit trail, oldest first."""
    entries = run_with_app(home, lambda a: a.audit_entries(limit))
    if as_json:
        print_json({"entries": entries})
        return
    table = Table("id", "when", "actor", "action", "outcome", "auth", "gallery", "target")
    for e in entries:
        table.add_row(
            str(e["id"]),
            e["occurred_at"][:19],
            e["actor"],
            e["action"],
            e["outcome"],
            str(e["authorisation_id"] or ""),
            e["gallery"] or "",
            e["target"],
        )
    out.print(table)


# Feature command groups (evaluation, live recognition, oversight) register here.

# Live recognition: watchlist, watch, alerts; and the shared `report` group (report deployment).
from facetrail.interfaces.cli.live import register as register_live  # noqa: E402
from facetrail.interfaces.cli.reports import report_app  # noqa: E402

register_live(app)
app.add_typer(report_app, name="report")

from facetrail.interfaces.cli.evaluation import calibrate, eval_app  # noqa: E402  (evaluation)

app.add_typer(eval_app, name="eval")
app.command("calibrate")(calibrate)

from facetrail.interfaces.cli.oversight import register as register_oversight  # noqa: E402  (oversight)

register_oversight(app, audit_app)


def main() -> None:
    """Console entry point: facetrail errors become one clear line and a non-zero exit."""
    try:
        app()
    except FacetrailError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
