"""The `facetrail` command line: each command is one service call, printed as text or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facetrail.core.audit import canonical_json
from facetrail.errors import FacetrailError
from facetrail.facade import Facetrail
from facetrail.interfaces.cli.logs import configure_logging
from facetrail.interfaces.cli.support import (
    HomeOption,
    JsonOption,
    PipelineOption,
    err,
    global_options,
    notice,
    out,
    parse_date,
    parse_moment,
    print_json,
    removed_line,
    resolved_home,
    run_with_app,
    set_global_options,
    shown,
    upgrade_home,
)
from facetrail.services.audit_export import read_checkpoint, read_public_key
from facetrail.services.face_choice import parse_box
from facetrail.services.results import EnrolItem, SearchResult, TransactionExport
from facetrail.services.search import DEFAULT_SUBJECT_SCORE, DEFAULT_TOP
from facetrail.store.files import write_atomic

app = typer.Typer(
    name="facetrail",
    help="Accountable face identification: galleries, search and verification, audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
subjects_app = typer.Typer(
    help="List, show, export and delete enrolled subjects.", no_args_is_help=True
)
index_app = typer.Typer(help="Maintain the vector indexes.", no_args_is_help=True)
galleries_app = typer.Typer(help="List and create galleries.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and check the audit trail.", no_args_is_help=True)
app.add_typer(subjects_app, name="subjects")
app.add_typer(index_app, name="index")
app.add_typer(galleries_app, name="galleries")
app.add_typer(audit_app, name="audit")


MinQualityOption = Annotated[
    float | None,
    typer.Option(
        "--min-quality",
        help="new gallery: refuse photos of quality under this (0-100; default 40)",
    ),
]

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


@app.command()
def repair(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Finish erasures a crash interrupted (photo files, index entries, copies, caches)."""
    report = run_with_app(home, lambda a: a.repair.run())
    if as_json:
        print_json(report)
    else:
        out.print(
            f"{len(report.finished)} interrupted erasure(s) finished,"
            f" {len(report.pending)} still pending",
            highlight=False,
        )
        for job, reason in report.pending.items():
            out.print(f"  erasure {job}: {reason}", highlight=False)
    if report.pending:
        raise typer.Exit(1)


# -- enrol ------------------------------------------------------------------------------


@app.command()
def enrol(
    path: Annotated[
        Path,
        typer.Argument(
            help="a photo, a folder of subject folders, or ANSI/NIST-ITL transactions"
            " (.an2/.eft/.nist file or a folder of them)"
        ),
    ],
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
    subject_field: Annotated[
        str | None,
        typer.Option(
            "--subject-field",
            help="transactions: the field naming the subject, 1.009 (default), 1.010 or 2.NNN",
        ),
    ] = None,
    face: Annotated[
        int | None,
        typer.Option("--face", help="a photo with several faces: enrol face N (1 = largest)"),
    ] = None,
    box: Annotated[
        str | None,
        typer.Option("--box", help="a photo with several faces: the face inside x,y,w,h"),
    ] = None,
    allow_low_quality: Annotated[
        bool,
        typer.Option(
            "--allow-low-quality", help="enrol photos under the gallery's minimum, flagged"
        ),
    ] = False,
    min_quality: MinQualityOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enrol photos or ANSI/NIST-ITL transactions into a gallery (resumable)."""
    chosen_box = parse_box(box) if box is not None else None
    retain = parse_date(retain_until, "--retain-until")
    collected = parse_moment(collected_at, "--collected-at")
    if not legal_basis:
        err.print(
            notice("warning:", "yellow", "no --legal-basis given; provenance will be incomplete")
        )
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
                    err.print(notice("warning:", "yellow", shown(f"{item.path}: {warning}")))
                if item.status == "failed":
                    err.print(notice("failed:", "red", shown(f"{item.path}: {item.reason}")))
                elif item.status == "skipped" and not item.reason.startswith("already enrolled"):
                    err.print(notice("skipped:", "yellow", shown(f"{item.path}: {item.reason}")))

        report = run_with_app(
            home,
            lambda a: a.enrol(
                path,
                gallery=gallery,
                subject=subject,
                face=face,
                box=chosen_box,
                allow_low_quality=allow_low_quality,
                min_quality=min_quality,
                source=source,
                legal_basis=legal_basis,
                retain_until=retain,
                collected_at=collected,
                pipeline=pipeline,
                keep_photos=keep_photos,
                progress=progress,
                subject_field=subject_field,
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
    unrecorded_dpia: Annotated[
        bool,
        typer.Option(
            "--unrecorded-dpia", help="cite a DPIA not recorded with `dpia add` (acknowledged)"
        ),
    ] = False,
    valid_days: Annotated[
        int | None,
        typer.Option("--valid-days", help="days it stays valid (default 30, or the kind's most)"),
    ] = None,
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
            unrecorded_dpia=unrecorded_dpia,
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
    top: Annotated[
        int,
        typer.Option("--top", help="candidates per face (1-200; at most the authorisation's cap)"),
    ] = DEFAULT_TOP,
    pipeline: PipelineOption = None,
    subject_score: Annotated[
        str,
        typer.Option(
            "--subject-score",
            help="score of a subject with several photos: max (its best) or"
            " mean-top-2 / mean-top-3 (the mean of its 2 or 3 best)",
        ),
    ] = DEFAULT_SUBJECT_SCORE,
    export_candidates: Annotated[
        Path | None,
        typer.Option(
            "--export-candidates",
            help="also write the (first face's) candidate list as an ANSI/NIST-ITL response",
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search every face in a probe photo (or .an2 transaction) against a gallery (authorised)."""

    def searched(a: Facetrail) -> tuple[SearchResult, TransactionExport | None]:
        found = a.search(
            probe,
            gallery=gallery,
            authorisation=authorisation,
            top=top,
            pipeline=pipeline,
            subject_score=subject_score,
        )
        if export_candidates is None:
            return found, None
        return found, a.export_candidates(found, export_candidates, probe=probe)

    result, exported = run_with_app(home, searched)
    if exported is not None:
        err.print(
            f"candidate list written to {exported.path} (TCN {exported.control_number},"
            f" {exported.candidates} candidates)",
            highlight=False,
        )
    if as_json:
        print_json(result)
        return
    out.print(
        f"{len(result.faces)} face(s) in {probe.name}; threshold {result.threshold:.3f}"
        f" ({result.calibration}); audit entry {result.audit_id}"
    )
    if result.top_capped_to is not None:
        err.print(
            notice(
                "note:",
                "yellow",
                f"--top {top} is above authorisation {authorisation}'s cap;"
                f" {result.top_capped_to} candidates per face returned",
            )
        )
    out.print(
        "Candidates are investigative leads, not identifications: a trained person"
        " must compare the faces.",
        style="bold",
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
    face: Annotated[
        int | None,
        typer.Option("--face", help="face to compare in both photos (1 = largest)", min=1),
    ] = None,
    face_a: Annotated[
        int | None,
        typer.Option("--face-a", help="face to compare in the first photo (1 = largest)", min=1),
    ] = None,
    face_b: Annotated[
        int | None,
        typer.Option("--face-b", help="face to compare in the second photo (1 = largest)", min=1),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a face in each of two photos (1:1) against the calibrated threshold.

    A photo with several faces needs --face-a / --face-b (or --face for both) to say which.
    """
    picked_a = face_a if face_a is not None else face
    picked_b = face_b if face_b is not None else face
    result = run_with_app(
        home,
        lambda a: a.verify(
            image_a,
            image_b,
            pipeline=pipeline,
            authorisation=authorisation,
            face_a=picked_a,
            face_b=picked_b,
        ),
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


@subjects_app.command("export")
def subjects_export(
    subject: Annotated[str, typer.Argument(help="subject id")],
    gallery: GalleryRequired,
    output: Annotated[Path, typer.Option("-o", "--output", help="the file to write (.an2)")],
    format: Annotated[str, typer.Option("--format", help="ansi-nist (ANSI/NIST-ITL 1-2011)")] = (
        "ansi-nist"
    ),
    originating_agency: Annotated[
        str, typer.Option("--ori", help="1.008 ORI: this agency's identifier")
    ] = "FACETRAIL",
    destination_agency: Annotated[
        str, typer.Option("--dai", help="1.007 DAI: the receiving agency's identifier")
    ] = "UNKNOWN",
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the audit)")] = "",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a subject's kept photos as an ANSI/NIST-ITL transaction (Type-10 records)."""
    result = run_with_app(
        home,
        lambda a: a.export_subject(
            gallery,
            subject,
            output,
            format=format,
            originating_agency=originating_agency,
            destination_agency=destination_agency,
            reason=reason,
        ),
    )
    if as_json:
        print_json(result)
        return
    out.print(
        f"exported {result.subject} from {result.gallery}: {result.images} Type-10 record(s)"
        f" to {result.path} (TCN {result.control_number}, {result.bytes} bytes);"
        f" audit entry {result.audit_id}",
        highlight=False,
    )


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
    if removed_line(result.removed):
        out.print(removed_line(result.removed), highlight=False)


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
    min_quality: MinQualityOption = None,
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
    """Create an empty gallery with its pipeline, photo policy, quality gate and index kind."""
    info = run_with_app(
        home,
        lambda a: a.create_gallery(
            name,
            pipeline=pipeline,
            keep_photos=keep_photos,
            min_quality=min_quality,
            index=index,
        ),
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
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="a file from `audit checkpoint`: the trail must hold it"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="the checkpoint signer's public key (.pub or PEM)"),
    ] = None,
    fingerprint: Annotated[
        str | None, typer.Option("--fingerprint", help="the checkpoint signer's pinned fingerprint")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the audit trail's hash chain (and that it still holds a checkpointed head)."""
    statement = (
        read_checkpoint(
            checkpoint, read_public_key(public_key) if public_key else None, fingerprint
        )
        if checkpoint
        else None
    )
    check = run_with_app(home, lambda a: a.verify_audit(statement))
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
        held = f"; holds checkpoint entry {statement['last_id']}" if statement else ""
        out.print(f"audit trail intact: {check.entries} entries{held}")
    else:
        out.print(f"audit trail broken at entry {check.first_bad_id}: {check.problem}")
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    output: Annotated[
        Path | None, typer.Option("--out", help="also write the statement to this file")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="Ed25519 signing key (default $FACETRAIL_AUDIT_KEY_FILE or <home>/keys/)"
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print a signed statement of the audit head (id, hash, time) to hand to an overseer."""
    document = run_with_app(home, lambda a: a.audit_export.checkpoint(key))
    if output is not None:
        write_atomic(output, canonical_json(document))
    print_json(document)


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

from facetrail.interfaces.cli.serve import serve  # noqa: E402  (server)

app.command("serve")(serve)
from facetrail.interfaces.cli.federation import register as register_federation  # noqa: E402  (federation)

register_federation(app)


def main() -> None:
    """Console entry point: facetrail errors become one clear line and a non-zero exit."""
    try:
        app()
    except FacetrailError as error:
        err.print(notice("error:", "red", str(error)), highlight=False)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
