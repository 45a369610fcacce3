"""Federation between real processes on loopback: three nodes (own homes and keys) and a router.

Every hop is HTTPS with the self-signed certificates pinned (nodes pin each other's and
the router's; the router pins the nodes').

A searches B and C through the router with a photo of a person B holds: B answers a hit
with references and scores only, C's policy refuses the offence category and says so.
A's examiner confirms; B releases the core record and A receives the Type-10 image and
its provenance. All three audit trails verify and carry the same request id; the
router's log holds metadata only. Then the same search direct, and partners that hang
or die answer `timeout` / `error` within the bound while the others answer.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import facetrail
from facetrail.records import read_transaction
from facetrail.security.messages import Signed, open_signed
from facetrail.security.signing import new_private_key, public_pem
from facetrail.security.tls import pinned_context
from facetrail.store.router_nodes import add_node, load_nodes, remove_node
from tests.federation_support import AUTH
from tests.milvus_server import free_port

from .helpers import link_gallery, person_images

pytestmark = pytest.mark.slow

PERSON = "Barack_Obama"
SRC = str(Path(__file__).resolve().parents[2] / "src")
FIRST_TIMEOUT = 120  # B loads its models on the first query


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `facetrail ARGS` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-m", "facetrail", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"facetrail {' '.join(args)} failed: {result.stderr}")
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


@dataclass
class Server:
    """One node or router process on a loopback port."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start(args: list[str], port: int, ready: str, log: Path, certificate: bytes) -> Server:
    """Start `facetrail ARGS` (HTTPS) and wait until GET `ready` answers, pinned."""
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "facetrail", *args, "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    url = f"https://127.0.0.1:{port}"
    trust = pinned_context(certificate)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args} exited: {log.read_text()}")
        try:
            if httpx.get(url + ready, timeout=1, verify=trust).status_code == 200:
                return Server(process, url)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{args} did not start: {log.read_text()}")


@dataclass
class Federation:
    homes: dict[str, Path]
    servers: dict[str, Server]
    router_home: Path
    router_certificate: Path
    probe: Path
    authorisation: int
    work: Path


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    people = person_images(faces_dir / "face_recognition")
    homes = {name: root / name for name in ("A", "B", "C")}
    ports = {name: free_port() for name in ("A", "B", "C", "router")}
    for name, home in homes.items():
        cli("--home", str(home), "node", "init", "--name", name)
        shown = cli_json("--home", str(home), "node", "show")
        (root / f"{name}.pem").write_text(shown["public_key"])
        (root / f"{name}.crt").write_text(shown["tls_certificate"])
    # B holds the person; C holds others; A holds a local gallery its authorisation names.
    b = facetrail.open(homes["B"])
    b.enrol(
        link_gallery(root / "b-photos", {n: p[:2] for n, p in people.items()}),
        gallery="custody",
        source="custody imaging suite 3",
        legal_basis="PACE 1984 s.64A",
    )
    b.close()
    c = facetrail.open(homes["C"])
    others = {n: p[:1] for n, p in people.items() if n != PERSON}
    c.enrol(link_gallery(root / "c-photos", others), gallery="licences")
    c.close()
    a = facetrail.open(homes["A"])
    a.create_gallery("local")
    authorisation = a.authorise(**AUTH, galleries=["local"]).id
    a.close()
    # Each registers its partners by CLI: URL, key, pinned certificate, policy file.
    (root / "a-policy.toml").write_text('galleries = ["local"]\n')
    (root / "b-policy.toml").write_text(
        'galleries = ["custody"]\nmax_candidates = 5\nstep2 = "auto"\ndeadline_hours = 24\n'
    )
    (root / "c-policy.toml").write_text(
        'galleries = ["licences"]\noffence_categories = ["murder", "terrorism"]\n'
        'refused_purposes = ["immigration enforcement"]\n'
    )
    pairs = [("A", "B", "a"), ("A", "C", "a"), ("B", "A", "b"), ("C", "A", "c")]
    for home, partner, policy in pairs:
        cli(
            "--home", str(homes[home]), "partners", "add", partner,
            "--url", f"https://127.0.0.1:{ports[partner]}",
            "--public-key", str(root / f"{partner}.pem"),
            "--tls-certificate", str(root / f"{partner}.crt"),
            "--policy", str(root / f"{policy}-policy.toml"),
        )  # fmt: skip
    router_home = root / "router"
    for name in homes:
        cli(
            "router", "nodes", "add", name, "--home", str(router_home),
            "--url", f"https://127.0.0.1:{ports[name]}",
            "--public-key", str(root / f"{name}.pem"),
            "--tls-certificate", str(root / f"{name}.crt"),
        )  # fmt: skip
    router_certificate = root / "router.crt"
    router_certificate.write_text(cli("router", "certificate", "--home", str(router_home)).stdout)
    servers = {
        name: start(
            ["--home", str(home), "federation", "serve", "--tls"],
            ports[name],
            "/federation/v1/node",
            root / f"{name}.log",
            (root / f"{name}.crt").read_bytes(),
        )
        for name, home in homes.items()
    }
    servers["router"] = start(
        ["router", "serve", "--home", str(router_home), "--retention-days", "30", "--tls"],
        ports["router"],
        "/router/v1/health",
        root / "router.log",
        router_certificate.read_bytes(),
    )
    try:
        yield Federation(
            homes, servers, router_home, router_certificate, people[PERSON][2], authorisation, root
        )
    finally:
        for server in servers.values():
            server.stop()


def _search(f: Federation, *extra: str) -> dict[str, Any]:
    return cli_json(
        "--home",
        str(f.homes["A"]),
        "federated",
        "search",
        str(f.probe),
        "--partners",
        "B,C",
        "--authorisation",
        str(f.authorisation),
        "--top",
        "3",
        *extra,
    )


def _via(f: Federation) -> tuple[str, ...]:
    """The options that send through the router, its certificate pinned."""
    router = f.servers["router"].url
    return ("--via-router", router, "--router-certificate", str(f.router_certificate))


def _by_partner(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["partner"]: p for p in result["partners"]}


def _audit(home: Path) -> tuple[bool, list[dict[str, Any]]]:
    node = facetrail.open(home, create=False)
    try:
        return node.verify_audit().ok, node.audit_entries()
    finally:
        node.close()


def test_both_steps_through_the_router(federation: Federation) -> None:
    f = federation
    result = _search(f, *_via(f), "--timeout", str(FIRST_TIMEOUT))
    rid = result["request_id"]
    answers = _by_partner(result)
    b, c = answers["B"], answers["C"]
    assert b["status"] == "hit", b
    assert all(set(candidate) == {"reference", "score"} for candidate in b["candidates"])
    assert b["candidates"][0]["reference"].startswith("B-") and b["candidates"][0]["score"] > 0.3
    assert PERSON not in json.dumps(result) and "custody imaging" not in json.dumps(result)
    assert c["status"] == "refused" and c["candidates"] == []
    assert "offence category 'burglary' is not accepted" in c["reason"]

    reference = b["candidates"][0]["reference"]
    saved = f.work / "released.an2"
    confirmed = cli_json(
        "--home",
        str(f.homes["A"]),
        "federated",
        "confirm",
        rid,
        reference,
        "--note",
        "ears, nose bridge and mole agree",
        *_via(f),
        "--out",
        str(saved),
    )
    assert confirmed["status"] == "released"
    record = confirmed["record"]
    assert record["subject"] == PERSON and record["reference"] == reference
    assert record["provenance"][0]["source"] == "custody imaging suite 3"
    assert record["legal_basis"] == ["PACE 1984 s.64A"]
    released = read_transaction(base64.b64decode(record["type10"]), "released")
    assert released.face_images and released.face_images[0].source_agency == "B"
    assert saved.read_bytes() == base64.b64decode(record["type10"])
    held = f.work / "b-photos" / PERSON
    originals = {p.resolve().read_bytes() for p in held.iterdir()}
    assert released.face_images[0].data in originals  # the very photo B holds

    for name, home in f.homes.items():
        ok, entries = _audit(home)
        assert ok, name
        mentions = [e for e in entries if e["details"].get("request_id") == rid]
        assert mentions, f"{name} has no audit entry for {rid}"
    _, a_entries = _audit(f.homes["A"])
    assert {"federation.search", "federation.confirm"} <= {
        e["action"] for e in a_entries if e["details"].get("request_id") == rid
    }
    _, b_entries = _audit(f.homes["B"])
    assert {"federation.answer.search", "federation.answer.confirm"} <= {
        e["action"] for e in b_entries if e["details"].get("request_id") == rid
    }
    _, c_entries = _audit(f.homes["C"])
    refused = [e for e in c_entries if e["details"].get("request_id") == rid]
    assert (
        refused[0]["outcome"] == "refused" and "offence category" in refused[0]["details"]["reason"]
    )

    log = json.loads(cli("router", "log", "--home", str(f.router_home), "--json").stdout)
    assert log["ok"]
    mine = [e for e in log["entries"] if e["request_id"] == rid]
    assert {(e["kind"], e["to"], e["answer_status"]) for e in mine} == {
        ("search", "B", "hit"),
        ("search", "C", "refused"),
        ("confirm", "B", "released"),
    }
    assert next(e for e in mine if e["to"] == "B" and e["kind"] == "search")["hits"] == len(
        b["candidates"]
    )
    _assert_no_image_bytes(f.router_home, [f.probe.read_bytes(), released.face_images[0].data])


def _assert_no_image_bytes(folder: Path, images: list[bytes]) -> None:
    """Nothing under the router's home holds image bytes, raw or base64, or a template."""
    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix == ".pem":  # the router's own TLS key and cert
            continue
        data = path.read_bytes()
        assert b"\xff\xd8\xff" not in data and b"\x89PNG" not in data, path
        assert b"/9j/" not in data and b"iVBOR" not in data, path  # base64 JPEG / PNG
        assert b"payload" not in data and b"type10" not in data, path
        for image in images:
            assert image[:64] not in data and base64.b64encode(image)[:64] not in data, path


def test_the_same_search_direct(federation: Federation) -> None:
    f = federation
    before = len(
        json.loads(cli("router", "log", "--home", str(f.router_home), "--json").stdout)["entries"]
    )
    result = _search(f, "--timeout", str(FIRST_TIMEOUT))
    answers = _by_partner(result)
    assert answers["B"]["status"] == "hit" and answers["C"]["status"] == "refused"
    after = json.loads(cli("router", "log", "--home", str(f.router_home), "--json").stdout)
    assert len(after["entries"]) == before  # nothing went through the router
    _, b_entries = _audit(f.homes["B"])
    assert any(e["details"].get("request_id") == result["request_id"] for e in b_entries)


def test_router_refuses_an_unregistered_sender(federation: Federation) -> None:
    f = federation
    response = httpx.post(
        f.servers["router"].url + "/router/v1/forward/B",
        content=b'{"from":"X","to":"B","kind":"search","request_id":"r"}',
        headers={"x-facetrail-sender": "X", "x-facetrail-signature": "AAAA"},
        timeout=10,
        verify=pinned_context(f.router_certificate.read_bytes()),
    )
    assert response.status_code == 403 and "not a node of this router" in response.text
    # The refusal is the router's own word, signed with its key (`router key`).
    key = cli("router", "key", "--home", str(f.router_home)).stdout
    signed = Signed(
        response.content,
        response.headers["x-facetrail-sender"],
        response.headers["x-facetrail-signature"],
    )
    refusal = open_signed(signed, lambda _name: key)
    assert refusal.sender == "router" and refusal.kind == "router.refusal"
    assert refusal.recipient == "X" and refusal.meta["status"] == "refused"


def test_router_refusal_reaches_the_node_signed_and_verified(federation: Federation) -> None:
    """A asks, through the router, a partner the router does not know: the router refuses,
    signed; with the router's key A reports that partner refused (and why), without it
    A says the answer cannot be verified. B still answers in the same search."""
    f = federation
    d_key = f.work / "D.pem"
    d_key.write_text(public_pem(new_private_key()))
    cli(
        "--home", str(f.homes["A"]), "partners", "add", "D", "--url", "http://127.0.0.1:9",
        "--public-key", str(d_key), "--policy", str(f.work / "a-policy.toml"),
    )  # fmt: skip
    router_key = f.work / "router-key.pem"
    router_key.write_text(cli("router", "key", "--home", str(f.router_home)).stdout)

    def ask(*extra: str) -> dict[str, Any]:
        return cli_json(
            "--home", str(f.homes["A"]), "federated", "search", str(f.probe),
            "--partners", "B,D", "--authorisation", str(f.authorisation), "--top", "3",
            "--timeout", str(FIRST_TIMEOUT), *_via(f), *extra,
        )  # fmt: skip

    result = ask("--router-key", str(router_key))
    verified = _by_partner(result)
    assert verified["D"]["status"] == "refused", verified["D"]
    assert verified["D"]["reason"] == "router: no node 'D' behind this router"
    assert verified["B"]["status"] == "hit"
    unverified = _by_partner(ask())
    assert unverified["D"]["status"] == "error" and "--router-key" in unverified["D"]["reason"]
    assert unverified["B"]["status"] == "hit"
    cli("--home", str(f.homes["A"]), "partners", "remove", "D", "--reason", "test over")

    # Step 2 refused by the router (B left it after step 1): a signed, verified refusal.
    nodes = load_nodes(f.router_home)
    remove_node(f.router_home, "B")
    try:
        confirmed = cli_json(
            "--home", str(f.homes["A"]), "federated", "confirm", result["request_id"],
            verified["B"]["candidates"][0]["reference"], "--note", "same person",
            *_via(f), "--router-key", str(router_key),
        )  # fmt: skip
    finally:
        b = nodes["B"]
        add_node(f.router_home, "B", b.url, b.public_key, b.tls_certificate)
    assert confirmed["status"] == "refused" and confirmed["record"] is None
    assert confirmed["reason"] == "router: no node 'B' behind this router"
    _, entries = _audit(f.homes["A"])
    (refused,) = [
        e
        for e in entries
        if e["action"] == "federation.confirm" and e["details"].get("by") == "router"
    ]
    assert (
        refused["outcome"] == "refused" and refused["details"]["request_id"] == result["request_id"]
    )


def test_hung_then_killed_partner_times_out_alone(federation: Federation) -> None:
    f = federation
    _search(f, "--timeout", str(FIRST_TIMEOUT))  # B's models are warm
    c = f.servers["C"].process
    bound = 3.0
    os.kill(c.pid, signal.SIGSTOP)  # C accepts the connection and never answers
    started = time.monotonic()
    result = _search(f, "--timeout", str(bound), *_via(f))
    elapsed = time.monotonic() - started
    answers = _by_partner(result)
    assert answers["C"]["status"] == "timeout", answers["C"]
    assert answers["C"]["ms"] <= (bound + 1.0) * 1000
    assert answers["B"]["status"] == "hit"
    assert elapsed < bound + 30  # the CLI process start-up dominates the rest
    # Killed mid-query: C holds A's request (stopped), then dies while A waits.
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_search, f, "--timeout", "8")
        time.sleep(5)  # A's CLI has started and sent by now; C never read it
        os.kill(c.pid, signal.SIGKILL)
        c.wait(10)
        killed = _by_partner(pending.result(timeout=120))
    assert killed["C"]["status"] in ("timeout", "error"), killed["C"]
    assert killed["C"]["ms"] <= 9000 and killed["B"]["status"] == "hit"
    dead = _search(f, "--timeout", str(bound))
    gone = _by_partner(dead)["C"]
    assert gone["status"] == "error" and "unreachable" in gone["reason"], gone
    assert _by_partner(dead)["B"]["status"] == "hit"
