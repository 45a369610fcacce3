"""The use cases that were CLI-only, over real HTTP on SQLite and PostgreSQL: a subject's
ANSI/NIST-ITL export, a search's candidate list as a response transaction (a photo or a
transaction as the probe), a signed audit checkpoint that the CLI's `audit verify
--checkpoint` accepts, and repair. Transactions are read back with `nistitl` directly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nistitl
import pytest

import facetrail
from facetrail.core import access
from facetrail.media.images import load_image
from facetrail.services.audit_export import read_checkpoint
from tests.integration.api_support import PASSWORD, LiveServer, live_server, photo, settings_for

PROBLEM = "application/problem+json"
LEGAL = "PACE s.64A"
AUTH = {
    "purpose": "identify a suspect",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe, custody gallery only",
}
Served = tuple[LiveServer, dict[str, str], int, Path]


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    detail: str = response.json()["detail"]
    return detail


@pytest.fixture
def served(database_url: str, tmp_path: Path, faces_dir: Path) -> Iterator[Served]:
    """A home with photos of two people in 'custody', a templates-only gallery, one user per
    role and a search authorisation for the investigator; served on a loopback port."""
    home = tmp_path / "home"
    single = facetrail.open(home, database_url=database_url)
    single.create_gallery("custody")
    single.create_gallery("templates", keep_photos=False)
    for number in (1, 2):
        single.enrol(
            photo(faces_dir, "Elon_Musk", number), gallery="custody", subject="Elon_Musk",
            source="custody suite 4", legal_basis=LEGAL,
        )  # fmt: skip
    single.enrol(photo(faces_dir, "Jeff_Bezos"), gallery="custody", subject="Jeff_Bezos")
    single.enrol(photo(faces_dir, "Katy_Perry"), gallery="templates", subject="Katy_Perry")
    tokens = {access.ADMINISTRATOR: single.users.bootstrap("admin", PASSWORD).token}
    single.close()
    admin = facetrail.open(home, user="admin", token=tokens[access.ADMINISTRATOR],
                           database_url=database_url)  # fmt: skip
    for role in access.ROLES:
        if role != access.ADMINISTRATOR:
            name = role.replace("_", "-")
            admin.users.create(name, role=role, password=PASSWORD, rank="Superintendent")
            tokens[role] = admin.users.token(name, PASSWORD).token
    admin.close()
    officer = facetrail.open(home, user="authorising-officer", database_url=database_url,
                             token=tokens[access.AUTHORISING_OFFICER])  # fmt: skip
    authorisation = officer.authorise(
        case="OP-REC-1", galleries=["custody"], for_user="investigator", **AUTH
    ).id
    officer.close()
    with live_server(settings_for(home, database_url)) as server:
        yield server, tokens, authorisation, home


def _message(data: bytes) -> Any:
    message = nistitl.Message()  # read with nistitl itself, not through facetrail
    message.parse(data)
    return message


def _audit(client: httpx.Client, action: str) -> list[dict[str, Any]]:
    page = client.get("/api/v1/audit", params={"action": action}).json()
    return [e for e in page["entries"] if e["action"] == action]


def test_subject_export_over_http_is_the_cli_transaction(
    served: Served, faces_dir: Path, database_url: str, tmp_path: Path
) -> None:
    server, tokens, _, home = served
    inv = server.client(tokens[access.INVESTIGATOR])
    exported = inv.post(
        "/api/v1/galleries/custody/subjects/Elon_Musk/export",
        json={"originating_agency": "GB0010000", "destination_agency": "NL0020000",
              "reason": "request NL-44"},
    )  # fmt: skip
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/octet-stream"
    data = exported.content
    assert exported.headers["x-facetrail-sha256"] == hashlib.sha256(data).hexdigest()
    assert exported.headers["x-facetrail-images"] == "2"
    tcn = exported.headers["x-facetrail-control-number"]
    assert f'filename="{tcn}.an2"' in exported.headers["content-disposition"]
    message = _message(data)
    header = message[0]
    assert ("GB0010000", "NL0020000", tcn) == (header.ORI, header.DAI, header.TCN)
    records = list(message.iter(10))
    originals = [photo(faces_dir, "Elon_Musk", n).read_bytes() for n in (1, 2)]
    assert [r.DATA for r in records] == originals  # the bytes as enrolled, unchanged
    assert load_image(records[0].DATA).width == int(records[0].HLL)
    assert next(message.iter(2))[900].value == "Elon_Musk"

    # The CLI's export of the same subject: the same records (only TCN and time differ).
    agencies = {"originating_agency": "GB0010000", "destination_agency": "NL0020000"}
    opened = {"database_url": database_url, "token": tokens[access.INVESTIGATOR]}
    with facetrail.open(home, user="investigator", **opened) as app:
        cli = app.export_subject("custody", "Elon_Musk", tmp_path / "cli.an2", **agencies)
    cli_message = _message((tmp_path / "cli.an2").read_bytes())
    assert [r.DATA for r in cli_message.iter(10)] == [r.DATA for r in records]
    assert [int(r.SAP) for r in cli_message.iter(10)] == [int(r.SAP) for r in records]
    assert cli.images == 2 and cli.type_of_transaction == header.TOT

    entry = _audit(server.client(tokens[access.AUDITOR]), "subject.export")
    assert entry[-1]["actor"] == "investigator" and entry[-1]["target"] == "Elon_Musk"
    assert entry[-1]["details"]["sha256"] == exported.headers["x-facetrail-sha256"]
    assert entry[-1]["details"]["reason"] == "request NL-44"
    assert str(entry[-1]["id"]) == exported.headers["x-facetrail-audit-id"]

    # Refusals carry the CLI's message; nothing is written for them.
    assert "--format 'pdf' is not supported" in _problem(
        inv.post("/api/v1/galleries/custody/subjects/Elon_Musk/export", json={"format": "pdf"}),
        422,
    )
    assert "keeps templates only" in _problem(
        inv.post("/api/v1/galleries/templates/subjects/Katy_Perry/export"), 422
    )
    _problem(inv.post("/api/v1/galleries/custody/subjects/nobody/export"), 404)
    _problem(server.client(tokens[access.OPERATOR]).post(
        "/api/v1/galleries/custody/subjects/Elon_Musk/export"), 403)  # fmt: skip


def test_search_export_answers_with_the_candidate_list_of_the_search(
    served: Served, faces_dir: Path
) -> None:
    server, tokens, authorisation, _ = served
    inv = server.client(tokens[access.INVESTIGATOR])
    probe = photo(faces_dir, "Elon_Musk", 3).read_bytes()
    form = {"gallery": "custody", "authorisation": str(authorisation), "top": "2"}
    answer = inv.post(
        "/api/v1/search/export",
        files={"probe": ("p.jpg", probe, "image/jpeg")},
        data={**form, "destination_agency": "NL0020000"},
    )
    assert answer.status_code == 200, answer.text
    message = _message(answer.content)
    assert message[0].TOT == "SRE" and message[0].DAI == "NL0020000"
    assert answer.headers["x-facetrail-control-number"] == message[0].TCN
    search_id = int(answer.headers["x-facetrail-search-audit-id"])
    # The same probe through POST /search: the candidate list the transaction carries.
    searched = inv.post(
        "/api/v1/search", files={"probe": ("p.jpg", probe, "image/jpeg")}, data=form
    ).json()
    candidates = searched["faces"][0]["candidates"]
    assert candidates[0]["subject"] == "Elon_Musk" and candidates[0]["above_threshold"]
    type2 = next(message.iter(2))
    assert type2[903].value == str(len(candidates)) == answer.headers["x-facetrail-candidates"]
    assert "Elon_Musk" in str(type2[64].value)
    auditor = server.client(tokens[access.AUDITOR])
    exports = _audit(auditor, "search.export")
    assert exports[-1]["details"]["search_audit_id"] == search_id
    assert exports[-1]["authorisation_id"] == authorisation
    assert sorted(e["id"] for e in _audit(auditor, "search")) == [search_id, searched["audit_id"]]

    # A transaction as the probe (the subject's own export): answered by TCR to its ORI,
    # and POST /search takes it too, as `facetrail search FILE.an2` does.
    record = inv.post(
        "/api/v1/galleries/custody/subjects/Elon_Musk/export",
        json={"originating_agency": "NL0020000"},
    )
    transaction = record.content
    reply = inv.post(
        "/api/v1/search/export",
        files={"probe": ("probe.an2", transaction, "application/octet-stream")},
        data=form,
    )
    assert reply.status_code == 200, reply.text
    assert (
        reply.headers["x-facetrail-control-reference"]
        == record.headers["x-facetrail-control-number"]
    )
    assert _message(reply.content)[0].DAI == "NL0020000"
    direct = inv.post(
        "/api/v1/search",
        files={"probe": ("probe.an2", transaction, "application/octet-stream")},
        data=form,
    )
    assert direct.json()["faces"][0]["candidates"][0]["subject"] == "Elon_Musk"

    # Refused before any search runs: a role without search.export, an unknown authorisation,
    # something that is neither a photo nor a transaction.
    before = len(_audit(auditor, "search"))
    for role in (access.OPERATOR, access.ADMINISTRATOR, access.AUDITOR):
        refused = server.client(tokens[role]).post(
            "/api/v1/search/export", files={"probe": ("p.jpg", probe, "image/jpeg")}, data=form
        )
        _problem(refused, 403)
        assert refused.json()["title"] == "PermissionDeniedError"
    assert len(_audit(auditor, "search")) == before
    assert _problem(inv.post("/api/v1/search/export", files={"probe": ("p", b"%PDF-1.4", "x")},
                             data=form), 415)  # fmt: skip
    wrong = {**form, "authorisation": "999"}
    _problem(inv.post("/api/v1/search/export", files={"probe": ("p.jpg", probe, "image/jpeg")},
                      data=wrong), 403)  # fmt: skip


def test_audit_checkpoint_over_http_is_held_by_the_trail(
    served: Served, database_url: str, tmp_path: Path
) -> None:
    server, tokens, _, home = served
    auditor = server.client(tokens[access.AUDITOR])
    made = auditor.post("/api/v1/audit/checkpoint")
    assert made.status_code == 200, made.text
    document = made.json()
    assert document["format"] == "facetrail-audit-checkpoint/1"
    assert document["signed_by"] == "auditor" and document["signature"]
    file = tmp_path / "checkpoint.json"
    file.write_text(json.dumps(document))
    public = (home / "keys" / "audit-signing.pub").read_text().strip()
    statement = read_checkpoint(file, public_key=public)  # the CLI's own reading
    assert statement["last_id"] == document["last_id"] and statement["last_id"] >= 1
    chain = auditor.get("/api/v1/audit/verify").json()
    assert chain["ok"]
    with facetrail.open(home, database_url=database_url, user="auditor",
                        token=tokens[access.AUDITOR]) as app:  # fmt: skip
        assert app.verify_audit(statement).ok
    entry = _audit(auditor, "audit.checkpoint")[-1]
    assert entry["actor"] == "auditor" and entry["details"]["last_id"] == document["last_id"]
    admin = server.client(tokens[access.ADMINISTRATOR]).post("/api/v1/audit/checkpoint")
    assert admin.status_code == 200 and admin.json()["last_id"] > document["last_id"]
    refused = server.client(tokens[access.INVESTIGATOR]).post("/api/v1/audit/checkpoint")
    _problem(refused, 403)
    altered = {**document, "last_id": document["last_id"] + 1}
    file.write_text(json.dumps(altered))
    with pytest.raises(Exception, match="signature does not match"):
        read_checkpoint(file, public_key=public)


def test_repair_over_http_reports_and_is_audited(served: Served) -> None:
    server, tokens, _, _ = served
    admin = server.client(tokens[access.ADMINISTRATOR])
    repaired = admin.post("/api/v1/repair")
    assert repaired.status_code == 200, repaired.text
    assert repaired.json() == {"finished": {}, "pending": {}}  # = `facetrail repair --json`
    entry = _audit(server.client(tokens[access.AUDITOR]), "home.repair")[-1]
    assert entry["actor"] == "admin" and entry["outcome"] == "ok"
    for role in (access.INVESTIGATOR, access.AUDITOR, access.OPERATOR):
        _problem(server.client(tokens[role]).post("/api/v1/repair"), 403)
    _problem(server.client().post("/api/v1/repair"), 401)
