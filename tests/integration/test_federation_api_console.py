"""Federation for officers over the REST API and in the console, between two real node
processes (`facetrail serve` each: own home, own keys, accounts, loopback ports).

A's investigator asks B hit/no-hit with a photo of a person B holds (real faces from
`../shared/data`), confirms the candidate with a note; B's policy says step 2 needs a
local officer's approval, so B's authorising officer approves it (API, then console);
A collects the record with the Type-10 image and its provenance. Roles without the
permission are refused (403), and every step is audited under the officer who acted.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import facetrail
from facetrail.core import access
from facetrail.facade import Facetrail
from facetrail.records import read_transaction
from facetrail.services.federation_policy import policy_from
from facetrail.services.partners import PartnerRequest
from tests.federation_support import AUTH
from tests.integration.api_support import PASSWORD, free_port
from tests.integration.console_support import home_with_roles

from .helpers import link_gallery, person_images

pytestmark = pytest.mark.slow

PERSON = "Barack_Obama"
SRC = str(Path(__file__).resolve().parents[2] / "src")
FIRST_TIMEOUT = 180  # B loads its models on the first query
NOTE = "ears, nose bridge and mole agree"


@dataclass
class Node:
    name: str
    home: Path
    url: str
    process: subprocess.Popen[bytes]
    names: dict[str, str]  # role -> user
    tokens: dict[str, str]  # role -> bearer token

    def client(self, role: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=FIRST_TIMEOUT + 30)

    def audit(self) -> tuple[bool, list[dict[str, Any]]]:
        auditor = access.AUDITOR
        app = facetrail.open(
            self.home, create=False, user=self.names[auditor], token=self.tokens[auditor]
        )
        try:
            return app.verify_audit().ok, app.audit_entries()
        finally:
            app.close()


@dataclass
class Pair:
    a: Node
    b: Node
    probe: Path
    authorisation: int
    held: set[bytes]  # the photo bytes B holds of the person


def _admin(home: Path) -> Facetrail:
    with facetrail.open(home) as app:
        token = app.users.token("admin", PASSWORD).token
    return facetrail.open(home, user="admin", token=token)


def _tokens(home: Path, names: dict[str, str]) -> dict[str, str]:
    with facetrail.open(home) as app:
        return {role: app.users.token(name, PASSWORD).token for role, name in names.items()}


def _start(name: str, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "facetrail", "--home", str(home), "serve", "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited: {log.read_text()}")
        try:
            if httpx.get(url + "/federation/v1/node", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{name} did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("federation-api")
    people = person_images(faces_dir / "face_recognition")
    homes = {"A": root / "A", "B": root / "B"}
    names = {node: home_with_roles(home) for node, home in homes.items()}
    for node, home in homes.items():
        admin = _admin(home)
        admin.node.init(node)
        admin.close()
    b = _admin(homes["B"])
    b.enrol(
        link_gallery(root / "b-photos", {n: p[:2] for n, p in people.items()}),
        gallery="custody",
        source="custody imaging suite 3",
        legal_basis="PACE 1984 s.64A",
    )
    b.close()
    servers = {n: _start(n, h, root / f"{n}.log") for n, h in homes.items()}
    infos = {}
    for node, home in homes.items():
        with _admin(home) as app:
            infos[node] = app.node.show()
    policies = {
        "A": {"galleries": ["custody"]},
        "B": {"galleries": ["custody"], "step2": "approve"},
    }
    for node, partner in (("A", "B"), ("B", "A")):
        with _admin(homes[node]) as app:
            app.partners.add(
                PartnerRequest(
                    partner,
                    servers[partner][1],
                    infos[partner].public_key,
                    policy_from(policies[node]),
                )
            )
    officer = names["A"][access.AUTHORISING_OFFICER]
    with facetrail.open(
        homes["A"], user=officer, token=_tokens(homes["A"], {"o": officer})["o"]
    ) as app:
        grant = {k: v for k, v in AUTH.items() if k not in ("officer", "rank")}
        authorisation = app.authorise(
            **grant, galleries=["custody"], for_user=names["A"][access.INVESTIGATOR]
        ).id
    nodes = {
        n: Node(n, homes[n], servers[n][1], servers[n][0], names[n], _tokens(homes[n], names[n]))
        for n in homes
    }
    held = {p.read_bytes() for p in people[PERSON][:2]}
    try:
        yield Pair(nodes["A"], nodes["B"], people[PERSON][2], authorisation, held)
    finally:
        for node in nodes.values():
            node.process.terminate()
            try:
                node.process.wait(15)
            except subprocess.TimeoutExpired:
                node.process.kill()


def _search(pair: Pair, role: str = access.INVESTIGATOR) -> httpx.Response:
    with pair.a.client(role) as client:
        return client.post(
            "/api/v1/federation/searches",
            files={"probe": ("probe.jpg", pair.probe.read_bytes(), "image/jpeg")},
            data={
                "partners": "B",
                "authorisation": str(pair.authorisation),
                "top": "3",
                "timeout": str(FIRST_TIMEOUT),
            },
        )


def _check_released(pair: Pair, record: dict[str, Any], reference: str) -> None:
    assert record["subject"] == PERSON and record["reference"] == reference
    assert record["provenance"][0]["source"] == "custody imaging suite 3"
    assert record["legal_basis"] == ["PACE 1984 s.64A"]
    released = read_transaction(base64.b64decode(record["type10"]), "released")
    assert released.face_images and released.face_images[0].source_agency == "B"
    assert released.face_images[0].data in pair.held  # the very photo B holds


def test_api_step1_step2_with_approval_at_the_partner(pair: Pair) -> None:
    refused = _search(pair, access.OPERATOR)
    assert refused.status_code == 403 and refused.json()["title"] == "PermissionDeniedError"

    response = _search(pair)
    assert response.status_code == 200, response.text
    result = response.json()
    rid = result["request_id"]
    (answer,) = result["partners"]
    assert answer["partner"] == "B" and answer["status"] == "hit", answer
    assert all(set(c) == {"reference", "score"} for c in answer["candidates"])
    assert PERSON not in response.text and "custody imaging" not in response.text
    reference = answer["candidates"][0]["reference"]

    with pair.a.client(access.INVESTIGATOR) as client:
        body = {"reference": reference, "note": NOTE}
        first = client.post(f"/api/v1/federation/searches/{rid}/confirm", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "pending_approval" and first.json()["record"] is None
        wrong = client.post(
            f"/api/v1/federation/searches/{rid}/confirm", json={**body, "reference": "B-nope"}
        )
        assert wrong.status_code == 403 and "step-1 hit" in wrong.json()["detail"]

    with pair.b.client(access.INVESTIGATOR) as client:  # only an approver decides
        assert client.get("/api/v1/federation/releases/pending").status_code == 403
    with pair.b.client(access.AUTHORISING_OFFICER) as client:
        pending = client.get("/api/v1/federation/releases/pending").json()
        (queued,) = [p for p in pending if p["request_id"] == rid]
        assert queued["reference"] == reference and queued["note"] == NOTE
        decided = client.post(
            f"/api/v1/federation/releases/{queued['id']}/decision", json={"release": True}
        )
        assert decided.status_code == 200 and decided.json()["status"] == "released"

    with pair.a.client(access.INVESTIGATOR) as client:
        collected = client.post(f"/api/v1/federation/searches/{rid}/confirm", json=body).json()
    assert collected["status"] == "released", collected
    _check_released(pair, collected["record"], reference)
    assert collected["record"]["retain_until"]  # from A's policy for B

    with pair.a.client(access.AUDITOR) as client:
        exchanges = client.get("/api/v1/federation/exchanges").json()
        report = client.get("/api/v1/federation/report", params={"partner": "B"}).json()
        node = client.get("/api/v1/federation/node").json()
    assert {(x["request_id"], x["status"]) for x in exchanges} >= {(rid, "released")}
    assert report["asked_by_us"]["hits"] >= 1 and report["received_from_partner"] >= 1
    assert node["name"] == "A" and "PUBLIC KEY" in node["public_key"]

    investigator = pair.a.names[access.INVESTIGATOR]
    ok, entries = pair.a.audit()
    assert ok
    mine = [e for e in entries if e["details"].get("request_id") == rid]
    assert {e["action"] for e in mine} >= {"federation.search", "federation.confirm"}
    assert all(e["actor"] == investigator for e in mine)
    ok, entries = pair.b.audit()
    assert ok
    theirs = [e for e in entries if e["details"].get("request_id") == rid]
    assert {"federation.answer.search", "federation.answer.confirm"} <= {
        e["action"] for e in theirs
    }
    (approval,) = [e for e in theirs if e["action"] == "federation.release.approve"]
    assert approval["actor"] == pair.b.names[access.AUTHORISING_OFFICER]

    # A keeps the record until its policy for B says; then `retention run` erases it.
    kept = datetime.fromisoformat(collected["record"]["retain_until"])
    assert timedelta(days=29) < kept - datetime.now(UTC) <= timedelta(days=30)
    with pair.a.client(access.ADMINISTRATOR) as client:
        early = client.post("/api/v1/retention/run", json={"dry_run": True}).json()
        assert early["received_records_due"] == 0
        after = (kept + timedelta(days=1)).date().isoformat()
        run = client.post("/api/v1/retention/run", json={"today": after}).json()
        assert run["received_records_deleted"] >= 1, run
    with pair.a.client(access.AUDITOR) as client:
        listed = client.get("/api/v1/federation/exchanges").json()
    rows = [x for x in listed if x["request_id"] == rid]
    released = [x for x in rows if x["status"] == "released"]
    assert released and all(x["erased_at"] and x["note"] == "" for x in released)


def _signed_in(browser: Any, node: Node, role: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(node.url + "/")
    page.fill("input[name=username]", node.names[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin button")
    page.wait_for_url("**/home")
    return page


def test_console_federated_search_confirm_approve_collect(
    browser: Any, pair: Pair, tmp_path: Path
) -> None:
    investigator = _signed_in(browser, pair.a, access.INVESTIGATOR)
    assert "Federated search" in investigator.locator("#pages a").all_inner_texts()
    investigator.goto(pair.a.url + "/federated")
    assert "hit/no-hit only" in investigator.inner_text("main")
    investigator.set_input_files("input[name=probe]", str(pair.probe))
    investigator.fill("input[name=partners]", "B")
    investigator.select_option("select[name=authorisation]", str(pair.authorisation))
    investigator.click("#federated-form button")
    investigator.wait_for_selector("#federated-results", timeout=FIRST_TIMEOUT * 1000)
    row = investigator.locator("#partner-answers tr.answer[data-partner=B]").first
    assert row.locator(".status").inner_text() == "hit"
    reference = row.locator(".reference").inner_text()
    assert reference.startswith("B-") and PERSON not in investigator.inner_text("main")
    investigator.screenshot(path=str(tmp_path / "federated-hit.png"), full_page=True)
    row.locator("textarea[name=note]").fill(NOTE)
    row.locator("button").click()
    investigator.wait_for_selector("#exchange")
    assert investigator.inner_text("#exchange-status") == "pending_approval"

    officer = _signed_in(browser, pair.b, access.AUTHORISING_OFFICER)
    assert "Partner releases" in officer.locator("#pages a").all_inner_texts()
    officer.goto(pair.b.url + "/federated/releases")
    queued = officer.locator(
        f"#pending-releases tr.release:has(td.reference:text-is('{reference}'))"
    )
    assert "A" in queued.inner_text() and NOTE in queued.inner_text()
    queued.locator("button[value=release]").click()
    officer.wait_for_selector("#message")
    assert "released" in officer.inner_text("#message")
    officer.screenshot(path=str(tmp_path / "federated-approved.png"), full_page=True)
    officer.close()

    investigator.click("#collect-form button")
    investigator.wait_for_selector("#released-record")
    assert investigator.inner_text("#exchange-status") == "released"
    assert investigator.inner_text("#released-subject") == PERSON
    assert "custody imaging suite 3" in investigator.inner_text("#provenance")
    assert investigator.inner_text("#retain-until")
    investigator.wait_for_function(
        "[...document.querySelectorAll('img.released-image')].some(i => i.naturalWidth > 0)"
    )
    investigator.screenshot(path=str(tmp_path / "federated-released.png"), full_page=True)
    investigator.close()
    ok, entries = pair.b.audit()
    assert ok and any(
        e["action"] == "federation.release.approve"
        and e["actor"] == pair.b.names[access.AUTHORISING_OFFICER]
        and e["details"].get("reference") == reference
        for e in entries
    )
    assert json.dumps(entries).count(reference) >= 3  # issued, confirmed, approved


def test_console_federation_pages_are_refused_to_other_roles(pair: Pair) -> None:
    from tests.integration.console_support import sign_in

    checks = [
        (pair.a, access.OPERATOR, "/federated"),
        (pair.a, access.AUDITOR, "/federated"),
        (pair.b, access.INVESTIGATOR, "/federated/releases"),
        (pair.b, access.OPERATOR, "/federated/releases"),
    ]
    for node, role, path in checks:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            sign_in(client, node.names[role])
            home = client.get("/home").text
            assert f'href="{path}"' not in home, (role, path)
            assert client.get(path).status_code == 403, (role, path)
            forged = client.post("/federated/releases/1", data={"decision": "release"})
            assert forged.status_code == 403 and "CSRF" in forged.text  # no token: refused
