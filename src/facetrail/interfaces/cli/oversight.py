"""Oversight commands: users, authorisations, signed audit exports, retention, deletion
requests, DPIAs, key rotation, and the FOI and DPIA-check reports."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from facetrail.errors import InvalidInputError
from facetrail.interfaces.cli.reports import report_app
from facetrail.interfaces.cli.support import (
    HomeOption,
    JsonOption,
    out,
    parse_date,
    print_json,
    removed_line,
    run_with_app,
)
from facetrail.security import keyring as crypto
from facetrail.services.audit_export import read_public_key, verify_export

users_app = typer.Typer(
    help="User accounts and API tokens. A home with no account is single-operator;"
    " `users bootstrap` turns access control on.",
    no_args_is_help=True,
)
authorisations_app = typer.Typer(help="List, show and revoke authorisations.", no_args_is_help=True)
retention_app = typer.Typer(
    help="Retention policies and deleting what is due.", no_args_is_help=True
)
policy_app = typer.Typer(help="Retention periods per gallery or legal basis.", no_args_is_help=True)
deletion_app = typer.Typer(help="Deletion requests: record, decide, list.", no_args_is_help=True)
dpia_app = typer.Typer(help="Data protection impact assessments.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption-at-rest keys.", no_args_is_help=True)
retention_app.add_typer(policy_app, name="policy")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]
DateOption = Annotated[str | None, typer.Option(help="date YYYY-MM-DD")]


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add the oversight commands to the main app and its `audit` group."""
    app.add_typer(users_app, name="users")
    app.add_typer(authorisations_app, name="authorisations")
    app.add_typer(retention_app, name="retention")
    app.add_typer(deletion_app, name="deletion")
    app.add_typer(dpia_app, name="dpia")
    app.add_typer(keys_app, name="keys")
    audit_app.command("export")(audit_export)
    audit_app.command("verify-export")(audit_verify_export)


def _password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=confirm))


def _required_date(value: str | None, option: str) -> date:
    parsed = parse_date(value, option)
    if parsed is None:
        raise InvalidInputError(f"{option} is required (YYYY-MM-DD)")
    return parsed


# -- users ------------------------------------------------------------------------------


@users_app.command("bootstrap")
def users_bootstrap(
    name: Annotated[str, typer.Option("--name", help="the first administrator's user name")],
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create the first administrator; from then on every call needs a user and token."""
    password = _password(password_stdin, confirm=True)
    issued = run_with_app(
        home, lambda a: a.users.bootstrap(name, password, display_name), create=True
    )
    if as_json:
        print_json(issued)
        return
    out.print(issued.token)
    typer.echo(
        f"administrator {issued.user} created; access control is now ON for this home."
        f" Use: export FACETRAIL_USER={issued.user} FACETRAIL_TOKEN=<the token above>",
        err=True,
    )


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="user name (a-z, 0-9, . _ -)")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="operator, investigator, authorising_officer, auditor or administrator",
        ),
    ],
    rank: Annotated[str, typer.Option("--rank", help="rank, recorded on what they do")] = "",
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user account (administrators only)."""
    password = _password(password_stdin, confirm=True)
    info = run_with_app(
        home,
        lambda a: a.users.create(
            name, role=role, password=password, display_name=display_name, rank=rank
        ),
    )
    if as_json:
        print_json(info)
        return
    out.print(f"created {info.name} ({info.role})")


@users_app.command("list")
def users_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List user accounts."""
    rows = run_with_app(home, lambda a: a.users.list())
    if as_json:
        print_json(rows)
        return
    table = Table("user", "name", "role", "rank", "active", "created by")
    for row in rows:
        table.add_row(
            row.name,
            row.display_name,
            row.role,
            row.rank,
            "yes" if row.active else "no",
            row.created_by,
        )
    out.print(table)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="user name")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the audit)")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Disable a user and revoke their tokens."""
    info = run_with_app(home, lambda a: a.users.disable(name, reason))
    if as_json:
        print_json(info)
        return
    out.print(f"disabled {info.name}")


@users_app.command("approve")
def users_approve(
    name: Annotated[str, typer.Argument(help="user name of the pending account")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a new administrator or authorising officer (a second administrator)."""
    info = run_with_app(home, lambda a: a.users.approve(name))
    if as_json:
        print_json(info)
        return
    out.print(f"approved {info.name} ({info.role})")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="your user name")],
    label: Annotated[str, typer.Option("--label", help="what the token is for")] = "",
    days: Annotated[int, typer.Option("--days", help="days it stays valid")] = 90,
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign in with your password and print a new API token (for $FACETRAIL_TOKEN)."""
    password = _password(password_stdin, confirm=False)
    issued = run_with_app(home, lambda a: a.users.token(name, password, label=label, days=days))
    if as_json:
        print_json(issued)
        return
    out.print(issued.token)
    typer.echo(f"token {issued.token_id} valid until {issued.expires_at:%Y-%m-%d}", err=True)


@users_app.command("revoke-token")
def users_revoke_token(
    token_id: Annotated[int, typer.Argument(help="token id (the number in ft_<id>_...)")],
    reason: Annotated[str, typer.Option("--reason")],
    home: HomeOption = None,
) -> None:
    """Revoke one API token."""
    run_with_app(home, lambda a: a.users.revoke_token(token_id, reason))
    out.print(f"revoked token {token_id}")


@users_app.command("whoami")
def users_whoami(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Show who commands run as (and whether access control is on)."""
    who = run_with_app(home, lambda a: a.users.whoami())
    if as_json:
        print_json(who)
        return
    out.print(f"{who['user']} ({who['role'] or 'single operator: no accounts'})")


# -- authorisations ---------------------------------------------------------------------


@authorisations_app.command("list")
def authorisations_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List authorisations, newest first."""
    rows = run_with_app(home, lambda a: a.authorisations())
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "case", "officer", "valid until", "galleries", "revoked")
    for row in rows:
        table.add_row(
            str(row.id),
            row.kind,
            row.case_reference,
            f"{row.officer_rank} {row.officer_name}",
            f"{row.valid_until:%Y-%m-%d}",
            ",".join(row.galleries),
            f"{row.revoked_at:%Y-%m-%d}" if row.revoked_at else "",
        )
    out.print(table)


@authorisations_app.command("show")
def authorisations_show(
    authorisation_id: Annotated[int, typer.Argument(help="authorisation id")],
    home: HomeOption = None,
) -> None:
    """Show one authorisation as JSON."""
    print_json(run_with_app(home, lambda a: a.authorisation(authorisation_id)))


@authorisations_app.command("revoke")
def authorisations_revoke(
    authorisation_id: Annotated[int, typer.Argument(help="authorisation id")],
    reason: Annotated[str, typer.Option("--reason", help="why it is revoked")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an authorisation: any further use is refused and audited."""
    info = run_with_app(home, lambda a: a.revoke_authorisation(authorisation_id, reason))
    if as_json:
        print_json(info)
        return
    out.print(f"authorisation {info.id} revoked")


# -- audit export -----------------------------------------------------------------------


def audit_export(
    path: Annotated[Path, typer.Argument(help="where to write the signed export (JSON)")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Ed25519 signing key (PEM; default <home>/keys/, created)"),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the whole audit trail, signed (Ed25519), for an external auditor."""
    info = run_with_app(home, lambda a: a.audit_export.export(path, key))
    if as_json:
        print_json(info)
        return
    out.print(
        f"exported {info.entries} entries to {info.path}; chain intact: {info.chain_ok}\n"
        f"public key {info.public_key} (fingerprint {info.key_fingerprint},"
        f" file {info.public_key_file}): give it to the auditor separately"
    )


def audit_verify_export(
    path: Annotated[Path, typer.Argument(help="a file written by `audit export`")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="the signer's public key file (.pub or PEM)"),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", help="or the pinned fingerprint of the signer's key"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a signed export without the database: signer, signature, hashes, chain, head.

    Needs the signer's public key or its pinned fingerprint: without, nothing is accepted.
    """
    check = verify_export(path, read_public_key(public_key) if public_key else None, fingerprint)
    if as_json:
        print_json(check)
    elif check.ok:
        out.print(
            f"export intact: {check.entries} entries, signed by key {check.key_fingerprint}"
            f" ({check.key_source})"
        )
    else:
        bad = f" at entry {check.first_bad_id}" if check.first_bad_id else ""
        out.print(f"export FAILED{bad}: {check.problem}")
    if not check.ok:
        raise typer.Exit(1)


# -- retention --------------------------------------------------------------------------


@policy_app.command("set")
def retention_policy_set(
    days: Annotated[int, typer.Option("--days", help="days kept after collection")],
    gallery: Annotated[str | None, typer.Option("--gallery")] = None,
    legal_basis: Annotated[str | None, typer.Option("--legal-basis")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the retention period of a gallery or of a legal basis (the shorter one applies)."""
    if (gallery is None) == (legal_basis is None):
        raise InvalidInputError("give exactly one of --gallery or --legal-basis")
    scope, key = ("gallery", gallery) if gallery is not None else ("legal_basis", legal_basis)
    info = run_with_app(home, lambda a: a.retention.set_policy(scope, key or "", days), create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"{info.scope} {info.key!r}: {info.days} days")


@policy_app.command("list")
def retention_policy_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List retention policies in force."""
    rows = run_with_app(home, lambda a: a.retention.policies())
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row.scope} {row.key!r}: {row.days} days")


@retention_app.command("due")
def retention_due(
    today: DateOption = None, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """List images due for deletion (nothing is deleted)."""
    day = parse_date(today, "--today")
    rows = run_with_app(home, lambda a: a.retention.due(day))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"image {row.image_id} ({row.gallery}/{row.subject}, {row.source}): {row.reason}")


@retention_app.command("run")
def retention_run(
    today: Annotated[
        str | None, typer.Option("--today", help="run as of this date (default: today)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what is due")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete every image past its retention date: photo, templates, index entries (audited)."""
    day = parse_date(today, "--today")
    if day is not None and not dry_run:
        # Deleting for real as of another day would erase what is still lawfully held.
        raise InvalidInputError(
            "--today only goes with --dry-run: a retention run deletes as of today"
        )
    report = run_with_app(home, lambda a: a.retention.run(day, dry_run=dry_run))
    if as_json:
        print_json(report)
        return
    verb = "due" if dry_run else "deleted"
    out.print(
        f"{len(report.due)} image(s) {verb} as of {report.today}: {report.images_deleted} images,"
        f" {report.templates_deleted} templates, {report.photos_deleted} photo files,"
        f" {report.subjects_deleted} emptied subjects deleted;"
        f" {report.alert_crops_deleted} live alert crop(s) past their retention deleted"
    )
    if removed_line(report.removed):
        out.print(removed_line(report.removed), highlight=False)


# -- deletion requests ------------------------------------------------------------------


@deletion_app.command("request")
def deletion_request(
    gallery: Annotated[str, typer.Option("--gallery")],
    subject: Annotated[str, typer.Option("--subject", help="the subject id in the gallery")],
    requester: Annotated[str, typer.Option("--requester", help="who asks (reference)")],
    grounds: Annotated[str, typer.Option("--grounds", help="why deletion is asked for")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a deletion request; prints its id."""
    info = run_with_app(
        home,
        lambda a: a.deletions.request(
            gallery=gallery, subject=subject, requester=requester, grounds=grounds
        ),
    )
    if as_json:
        print_json(info)
        return
    out.print(info.id)


@deletion_app.command("decide")
def deletion_decide(
    request_id: Annotated[int, typer.Argument(help="deletion request id")],
    grant: Annotated[
        bool, typer.Option("--grant/--refuse", help="grant (deletes at once) or refuse")
    ],
    reason: Annotated[str, typer.Option("--reason", help="the reason for the decision")],
    officer: Annotated[
        str | None, typer.Option("--officer", help="deciding officer (single-operator homes)")
    ] = None,
    rank: Annotated[str | None, typer.Option("--rank")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Grant or refuse a deletion request; a granted one deletes the subject's images now."""
    info = run_with_app(
        home,
        lambda a: a.deletions.decide(
            request_id, grant=grant, reason=reason, officer=officer, rank=rank
        ),
    )
    if as_json:
        print_json(info)
        return
    out.print(
        f"request {info.id} {info.status} by {info.decided_by}; {info.images_deleted} image(s),"
        f" {info.photos_deleted} photo file(s) deleted"
    )
    if removed_line(info.removed):
        out.print(removed_line(info.removed), highlight=False)


@deletion_app.command("list")
def deletion_list(
    status: Annotated[str | None, typer.Option("--status", help="pending|granted|refused")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deletion requests and their decisions."""
    rows = run_with_app(home, lambda a: a.deletions.list(status))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "received", "gallery", "subject", "status", "decided by", "images deleted")
    for row in rows:
        table.add_row(
            str(row.id),
            f"{row.received_at:%Y-%m-%d}",
            row.gallery,
            row.subject,
            row.status,
            row.decided_by or "",
            str(row.images_deleted),
        )
    out.print(table)


# -- DPIAs ------------------------------------------------------------------------------


@dpia_app.command("add")
def dpia_add(
    reference: Annotated[str, typer.Argument(help="the reference authorisations cite")],
    title: Annotated[str, typer.Option("--title")],
    version: Annotated[str, typer.Option("--version")],
    approved_on: Annotated[str, typer.Option("--approved-on", help="YYYY-MM-DD")],
    approver: Annotated[str, typer.Option("--approver")],
    review_by: Annotated[str | None, typer.Option("--review-by", help="YYYY-MM-DD")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an approved DPIA."""
    approved = _required_date(approved_on, "--approved-on")
    review = parse_date(review_by, "--review-by")
    info = run_with_app(
        home,
        lambda a: a.dpias.add(
            reference,
            title=title,
            version=version,
            approved_on=approved,
            approver=approver,
            review_by=review,
        ),
        create=True,
    )
    if as_json:
        print_json(info)
        return
    out.print(f"DPIA {info.reference} v{info.version} recorded")


@dpia_app.command("list")
def dpia_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List recorded DPIAs."""
    rows = run_with_app(home, lambda a: a.dpias.list())
    if as_json:
        print_json(rows)
        return
    table = Table("reference", "title", "version", "approved", "approver", "withdrawn")
    for row in rows:
        table.add_row(
            row.reference,
            row.title,
            row.version,
            str(row.approved_on),
            row.approver,
            str(row.withdrawn_on or ""),
        )
    out.print(table)


@dpia_app.command("withdraw")
def dpia_withdraw(
    reference: Annotated[str, typer.Argument()],
    on: Annotated[str, typer.Option("--on", help="withdrawn from this date, YYYY-MM-DD")],
    reason: Annotated[str, typer.Option("--reason")],
    home: HomeOption = None,
) -> None:
    """Withdraw a DPIA: authorisations can no longer cite it."""
    day = _required_date(on, "--on")
    run_with_app(home, lambda a: a.dpias.withdraw(reference, on=day, reason=reason))
    out.print(f"DPIA {reference} withdrawn from {day}")


# -- keys -------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random key for $FACETRAIL_KEY or a key file (keep it secret)."""
    out.print(crypto.generate_key())


@keys_app.command("rotate")
def keys_rotate(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Re-seal every template, photo, index file and crop under the first configured key."""
    report = run_with_app(home, lambda a: a.keys.rotate())
    if as_json:
        print_json(report)
        return
    out.print(
        f"re-sealed {report.templates_resealed}/{report.templates_total} templates and"
        f" {report.files_resealed}/{report.files_total} files under key {report.current_key};"
        " older keys can now be removed from the keyring"
    )


# -- reports ----------------------------------------------------------------------------


@report_app.command("foi")
def report_foi(
    start: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Transparency report answering an FOI request, counted from the records."""
    first, last = _required_date(start, "--from"), _required_date(end, "--to")
    report = run_with_app(home, lambda a: a.reports.foi(first, last))
    if as_json:
        print_json(report)
        return
    searches, alerts, images = report["searches"], report["alerts"], report["images"]
    lines = [
        f"facetrail transparency report {report['period']['from']} to {report['period']['to']}",
        f"searches: {searches['total']} ({searches['refused']} refused)",
        *(
            f"  {row['count']} for {row['purpose']!r} under {row['legal_basis']!r}"
            for row in searches["by_purpose"]
        ),
        f"verifications: {report['verifications']}",
        f"live deployments: {report['deployments']['count']}",
        f"faces processed: {report['faces_processed']}",
        f"match alerts: {alerts['total']} ({alerts['true_positives']} true positives,"
        f" {alerts['false_positives']} false positives, {alerts['engagements']} engagements)",
        f"images held: {images['held_total']} {images['held_by_source']}",
        f"  past their retention date: {images['retained_past_retention_date_by_source']}",
        f"  deleted: {images['deleted_by_retention']} by retention,"
        f" {images['deleted_by_request']} on request",
        f"deletion requests: {report['deletion_requests']['received']} received,"
        f" {report['deletion_requests']['granted']} granted",
        f"federated queries: {report['collaborations']['federated_queries_in']} in,"
        f" {report['collaborations']['federated_queries_out']} out",
        f"DPIAs in force: {', '.join(d['reference'] for d in report['dpias_in_force']) or 'none'}",
        f"authorisations granted: {report['authorisations']['granted']}",
        *(
            f"  {row['count']} {row['kind']} by {row['rank']}"
            for row in report["authorisations"]["by_rank"]
        ),
    ]
    out.print("\n".join(lines), highlight=False)


@report_app.command("dpia-check")
def report_dpia_check(
    start: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List operations that ran without a DPIA in force (exit 1 if any)."""
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    findings = run_with_app(home, lambda a: a.reports.dpia_check(first, last))
    if as_json:
        print_json({"operations_without_dpia": [f.model_dump(mode="json") for f in findings]})
    else:
        for f in findings:
            out.print(f"audit {f.audit_id} {f.occurred_at:%Y-%m-%d %H:%M} {f.action}: {f.problem}")
        out.print(f"{len(findings)} operation(s) without a DPIA in force")
    if findings:
        raise typer.Exit(1)
