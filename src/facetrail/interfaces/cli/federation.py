"""Federation commands: `node`, `partners`, `federated`, `router`, `federation serve`.

`facetrail federation serve` runs a node's federation endpoint alone; it is temporary
until `facetrail serve` (the whole API) includes the same router.
"""

from __future__ import annotations

import base64
import json
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
    print_json,
    resolved_home,
    run_with_app,
)
from facetrail.services.federated_exchange import ConfirmRequest
from facetrail.services.federated_search import DEFAULT_TOP, FederatedSearchRequest
from facetrail.services.federation_policy import parse_policy
from facetrail.services.federation_results import ReleaseInfo
from facetrail.services.partners import PartnerRequest

node_app = typer.Typer(help="This node's federation identity.", no_args_is_help=True)
partners_app = typer.Typer(help="Federation partners and their policies.", no_args_is_help=True)
federated_app = typer.Typer(
    help="Search partner agencies (step 1) and confirm hits (step 2).", no_args_is_help=True
)
router_app = typer.Typer(
    help="The federation router (forwards, logs metadata).", no_args_is_help=True
)
router_nodes_app = typer.Typer(help="Nodes the router forwards between.", no_args_is_help=True)
federation_app = typer.Typer(help="Serve this node's federation endpoint.", no_args_is_help=True)

ViaRouter = Annotated[
    str | None, typer.Option("--via-router", help="router URL (default: talk to partners directly)")
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout", help="seconds per partner (default $FACETRAIL_FEDERATION_TIMEOUT, 10)"
    ),
]
RouterCertificate = Annotated[
    Path | None,
    typer.Option("--router-certificate", help="the https router's certificate PEM, pinned"),
]
RouterKey = Annotated[
    Path | None,
    typer.Option(
        "--router-key", help="the router's public key PEM (`router key`): its refusals are signed"
    ),
]
RouterHome = Annotated[Path, typer.Option("--home", help="the router's own folder (nodes, log)")]


def register(app: typer.Typer) -> None:
    """Add the federation commands to the main app (and `report federation`)."""
    app.add_typer(node_app, name="node")
    app.add_typer(partners_app, name="partners")
    app.add_typer(federated_app, name="federated")
    app.add_typer(router_app, name="router")
    app.add_typer(federation_app, name="federation")
    router_app.add_typer(router_nodes_app, name="nodes")
    report_app.command("federation")(report_federation)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.expanduser().read_bytes()
    except OSError as error:
        raise InvalidInputError(f"cannot read {what} {path}: {error.strerror}") from None


def _pem(path: Path | None) -> bytes | None:
    return _read(path, "certificate file") if path else None


def _text(path: Path | None) -> str | None:
    return _read(path, "router key file").decode("ascii", "replace") if path else None


# -- node ------------------------------------------------------------------------------


@node_app.command("init")
def node_init(
    name: Annotated[str, typer.Option("--name", help="this agency's node name, e.g. UK-MPS")],
    replace: Annotated[
        bool, typer.Option("--replace", help="make a new identity (partners must re-register it)")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make this home a federation node: an Ed25519 key pair and a self-signed TLS certificate."""
    info = run_with_app(home, lambda a: a.node.init(name, replace), create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"node {info.name}: key fingerprint {info.fingerprint}", highlight=False)
    out.print("give partners `facetrail node show` output (public key and fingerprint)")


@node_app.command("show")
def node_show(
    pem: Annotated[bool, typer.Option("--pem", help="print only the public key PEM")] = False,
    certificate: Annotated[
        bool, typer.Option("--certificate", help="print only the TLS certificate PEM")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The node's name, public key and fingerprints (what partners register)."""
    info = run_with_app(home, lambda a: a.node.show())
    if as_json:
        print_json(info)
    elif pem:
        typer.echo(info.public_key, nl=False)
    elif certificate:
        typer.echo(info.tls_certificate, nl=False)
    else:
        out.print(f"name: {info.name}\nfingerprint: {info.fingerprint}", highlight=False)
        out.print(f"TLS certificate fingerprint: {info.tls_fingerprint}", highlight=False)
        typer.echo(info.public_key, nl=False)


# -- partners --------------------------------------------------------------------------


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="the partner's node name")],
    url: Annotated[str, typer.Option("--url", help="the partner node's base URL")],
    public_key: Annotated[Path, typer.Option("--public-key", help="its public key PEM file")],
    policy: Annotated[Path, typer.Option("--policy", help="policy file (TOML or JSON)")],
    tls_certificate: Annotated[
        Path | None,
        typer.Option("--tls-certificate", help="its TLS certificate PEM, pinned (https URLs)"),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a partner with what it may search here (policy version 1)."""
    rules = parse_policy(_read(policy, "policy file"), str(policy))
    key = _read(public_key, "public key file").decode("ascii", errors="replace")
    certificate = (
        _read(tls_certificate, "certificate file").decode("ascii", errors="replace")
        if tls_certificate
        else None
    )
    request = PartnerRequest(name, url, key, rules, certificate)
    info = run_with_app(home, lambda a: a.partners.add(request), create=True)
    if as_json:
        print_json(info)
        return
    out.print(
        f"partner {info.name} at {info.url} (fingerprint {info.fingerprint})", highlight=False
    )


@partners_app.command("policy")
def partners_policy(
    name: Annotated[str, typer.Argument(help="the partner's node name")],
    policy: Annotated[Path, typer.Option("--policy", help="policy file (TOML or JSON)")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a new version of a partner's policy in force (old versions are kept)."""
    rules = parse_policy(_read(policy, "policy file"), str(policy))
    info = run_with_app(home, lambda a: a.partners.set_policy(name, rules), create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"partner {info.name}: policy version {info.policy_version} in force")


@partners_app.command("list")
def partners_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Every partner with its policy version."""
    partners = run_with_app(home, lambda a: a.partners.list())
    if as_json:
        print_json(partners)
        return
    table = Table("name", "url", "active", "policy", "galleries", "fingerprint")
    for p in partners:
        table.add_row(
            p.name,
            p.url,
            "yes" if p.active else "removed",
            f"v{p.policy_version}",
            ", ".join(p.policy["galleries"]),
            p.fingerprint[:16],
        )
    out.print(table)


@partners_app.command("show")
def partners_show(
    name: Annotated[str, typer.Argument(help="the partner's node name")],
    history: Annotated[bool, typer.Option("--history", help="every policy version")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """One partner and its policy in force (or its policy history)."""
    if history:
        versions = run_with_app(home, lambda a: a.partners.policy_history(name))
        typer.echo(json.dumps(versions, ensure_ascii=False, indent=None if as_json else 1))
        return
    info = run_with_app(home, lambda a: a.partners.show(name))
    if as_json:
        print_json(info)
        return
    out.print(json.dumps(info.model_dump(mode="json"), indent=1, ensure_ascii=False))


@partners_app.command("remove")
def partners_remove(
    name: Annotated[str, typer.Argument(help="the partner's node name")],
    reason: Annotated[str, typer.Option("--reason", help="why")] = "",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop asking and answering a partner (its records stay)."""
    info = run_with_app(home, lambda a: a.partners.remove(name, reason), create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"partner {info.name} removed")


# -- federated search and exchange -----------------------------------------------------


@federated_app.command("search")
def federated_search(
    probe: Annotated[Path, typer.Argument(help="probe photo (JPEG or PNG)")],
    partners: Annotated[str, typer.Option("--partners", help="comma-separated partner names")],
    authorisation: Annotated[
        int, typer.Option("--authorisation", help="a federated_query authorisation id")
    ],
    via_router: ViaRouter = None,
    gallery: Annotated[
        list[str] | None,
        typer.Option("--gallery", help="a partner gallery to search (default: all allowed)"),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="candidates per partner (1-100)")] = DEFAULT_TOP,
    timeout: Timeout = None,
    router_certificate: RouterCertificate = None,
    router_key: RouterKey = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Step 1: ask partners hit/no-hit; each answers references and scores only."""
    request = FederatedSearchRequest(
        probe=probe,
        partners=tuple(p.strip() for p in partners.split(",") if p.strip()),
        authorisation=authorisation,
        via_router=via_router,
        galleries=tuple(gallery or ()),
        top=top,
        timeout=timeout,
        router_certificate=_pem(router_certificate),
        router_key=_text(router_key),
    )
    result = run_with_app(home, lambda a: a.federated.search(request), create=True)
    if as_json:
        print_json(
            result.model_dump(mode="json", exclude={"audit_id"}) | {"audit_id": result.audit_id}
        )
        return
    out.print(f"request {result.request_id}", highlight=False)
    table = Table("partner", "status", "reason", "reference", "score")
    for answer in result.partners:
        rows = answer.candidates or [None]
        for candidate in rows:
            table.add_row(
                answer.partner,
                answer.status,
                answer.reason,
                candidate.reference if candidate else "",
                f"{candidate.score:.3f}" if candidate else "",
            )
    out.print(table)


@federated_app.command("confirm")
def federated_confirm(
    request_id: Annotated[str, typer.Argument(help="the step-1 request id")],
    reference: Annotated[str, typer.Argument(help="the partner's candidate reference")],
    note: Annotated[str, typer.Option("--note", help="the examiner's comparison note")],
    via_router: ViaRouter = None,
    save: Annotated[
        Path | None, typer.Option("--out", help="write the released Type-10 transaction here")
    ] = None,
    timeout: Timeout = None,
    router_certificate: RouterCertificate = None,
    router_key: RouterKey = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Step 2: confirm a candidate; the partner releases the core record or queues it."""
    request = ConfirmRequest(
        request_id,
        reference,
        note,
        via_router,
        timeout,
        _pem(router_certificate),
        _text(router_key),
    )
    result = run_with_app(home, lambda a: a.exchanges.confirm(request), create=True)
    if save is not None and result.record is not None:
        save.write_bytes(base64.b64decode(result.record["type10"]))
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result.partner} {result.reference}: {result.status} {result.reason}", highlight=False
    )
    if result.record:
        out.print(f"subject {result.record['subject']}; {len(result.record['images'])} image(s)")


def _print_releases(releases: list[ReleaseInfo]) -> None:
    table = Table("id", "way", "partner", "request", "reference", "status", "due", "overdue")
    for r in releases:
        table.add_row(
            str(r.id),
            r.direction,
            r.partner,
            r.request_id[:12],
            r.reference,
            r.status,
            f"{r.due_at:%Y-%m-%d %H:%M}" if r.due_at else "",
            "OVERDUE" if r.overdue else "",
        )
    out.print(table)


@federated_app.command("releases")
def federated_releases(
    pending: Annotated[
        bool, typer.Option("--pending", help="only those awaiting approval")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Step-2 exchanges both ways (in: partners asked us; out: we asked)."""
    releases = run_with_app(home, lambda a: a.exchanges.releases(pending))
    if as_json:
        print_json(releases)
        return
    _print_releases(releases)


@federated_app.command("approve")
def federated_approve(
    exchange_id: Annotated[int, typer.Argument(help="release request id (`federated releases`)")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a partner's queued step-2 request; it collects the record on its next confirm."""
    info = run_with_app(home, lambda a: a.exchanges.decide(exchange_id, release=True), create=True)
    if as_json:
        print_json(info)
        return
    out.print(f"release {info.id} to {info.partner}: {info.status}")


@federated_app.command("erase")
def federated_erase(
    exchange_id: Annotated[
        int, typer.Argument(help="a record received from a partner (`federated releases`)")
    ],
    reason: Annotated[str, typer.Option("--reason", help="why it is erased (audited)")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a record a partner released to us (every copy of that release), audited."""
    info = run_with_app(
        home, lambda a: a.exchanges.erase_received(exchange_id, reason), create=True
    )
    if as_json:
        print_json(info)
        return
    out.print(f"record {info.id} from {info.partner} ({info.reference}) erased")


@federated_app.command("refuse")
def federated_refuse(
    exchange_id: Annotated[int, typer.Argument(help="release request id (`federated releases`)")],
    reason: Annotated[str, typer.Option("--reason", help="why the record is not released")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refuse a partner's queued step-2 request, with a reason it will be told."""
    info = run_with_app(
        home, lambda a: a.exchanges.decide(exchange_id, release=False, reason=reason), create=True
    )
    if as_json:
        print_json(info)
        return
    out.print(f"release {info.id} to {info.partner}: {info.status}")


@federated_app.command("overdue")
def federated_overdue(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Step-2 requests still awaiting a decision past their deadline."""
    releases = run_with_app(home, lambda a: a.exchanges.overdue())
    if as_json:
        print_json(releases)
        return
    _print_releases(releases)


def report_federation(
    partner: Annotated[str, typer.Option("--partner", help="the partner's node name")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """What was asked of and released to one partner, and what we asked of it."""
    report = run_with_app(home, lambda a: a.exchanges.report(partner))
    typer.echo(json.dumps(report, ensure_ascii=False, indent=None if as_json else 1))


# -- serving ---------------------------------------------------------------------------


@federation_app.command("serve")
def federation_serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8443,
    tls: Annotated[
        bool, typer.Option("--tls", help="serve HTTPS with the node certificate")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Serve only this node's federation endpoint (until `facetrail serve` includes it)."""
    from facetrail.interfaces.api.federation import serve

    target = resolved_home(home)
    if target is None:
        raise InvalidInputError("federation serve needs --home (or $FACETRAIL_HOME)")
    serve(target, host, port, tls)


@router_app.command("serve")
def router_serve(
    home: RouterHome,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8440,
    retention_days: Annotated[
        int, typer.Option("--retention-days", help="how long log entries are kept")
    ] = 90,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds a node may take")] = 30.0,
    tls: Annotated[
        bool, typer.Option("--tls", help="serve HTTPS with the router's own certificate")
    ] = False,
) -> None:
    """Forward step-1 and step-2 messages between registered nodes, logging metadata only."""
    from facetrail.interfaces.api.message_router import serve

    serve(home, host, port, retention_days, timeout, tls)


@router_app.command("certificate")
def router_certificate_show(home: RouterHome) -> None:
    """Print the router's TLS certificate (made on first use) for nodes to pin."""
    from facetrail.store.router_nodes import router_certificate

    _, certificate = router_certificate(home)
    typer.echo(certificate.read_text(), nl=False)


@router_app.command("key")
def router_key_show(home: RouterHome, as_json: JsonOption = False) -> None:
    """Print the router's Ed25519 public key (made on first use): nodes verify its refusals."""
    from facetrail.security.signing import fingerprint
    from facetrail.store.router_nodes import router_signing_key

    _, public = router_signing_key(home)
    if as_json:
        print_json({"public_key": public, "fingerprint": fingerprint(public)})
        return
    typer.echo(public, nl=False)


@router_nodes_app.command("add")
def router_nodes_add(
    name: Annotated[str, typer.Argument(help="the node's name")],
    url: Annotated[str, typer.Option("--url", help="the node's base URL")],
    public_key: Annotated[Path, typer.Option("--public-key", help="its public key PEM file")],
    home: RouterHome,
    tls_certificate: Annotated[
        Path | None,
        typer.Option("--tls-certificate", help="its TLS certificate PEM, pinned (https URLs)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a node the router may forward from and to."""
    from facetrail.store.router_nodes import add_node

    key = _read(public_key, "public key file").decode("ascii", "replace")
    pem = _pem(tls_certificate)
    node = add_node(home, name, url, key, pem.decode("ascii", "replace") if pem else None)
    result = {"name": node.name, "url": node.url, "fingerprint": node.fingerprint}
    if as_json:
        print_json(result)
        return
    out.print(f"router node {node.name} at {node.url}")


@router_nodes_app.command("list")
def router_nodes_list(home: RouterHome, as_json: JsonOption = False) -> None:
    """The nodes the router knows."""
    from facetrail.store.router_nodes import load_nodes

    nodes = [
        {"name": n.name, "url": n.url, "fingerprint": n.fingerprint}
        for n in load_nodes(home).values()
    ]
    typer.echo(json.dumps(nodes, indent=None if as_json else 1))


@router_app.command("log")
def router_log(home: RouterHome, as_json: JsonOption = False) -> None:
    """The router's metadata log, oldest first, and whether its hash chain holds."""
    from facetrail.store.router_log import RouterLog

    log = RouterLog(home)
    check = log.verify()
    result = {"ok": check.ok, "entries": log.entries(), "problem": check.problem}
    typer.echo(json.dumps(result, indent=None if as_json else 1))
    if not check.ok:
        raise typer.Exit(1)
