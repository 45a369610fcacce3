"""The REST API over real HTTP (uvicorn on a loopback port, httpx), on SQLite and PostgreSQL:
every endpoint, problem+json errors with the CLI's message, the CLI and the API agreeing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

import facetrail
from facetrail.interfaces.api.auth import SINGLE_OPERATOR_NOTICE
from tests.integration.api_support import PASSWORD, LiveServer, live_server, photo, settings_for

PEOPLE = ("Elon_Musk", "Jeff_Bezos", "Katy_Perry")
BULK = ("Matt_Damon", "Mark_Zuckerberg")
PROBLEM = "application/problem+json"
AUTH = {
    "purpose": "identify a suspect",
    "case": "OP-API-1",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe, custody gallery only",
    "galleries": ["custody"],
}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"] and body["title"]
    return body


def _cli(home: Path, database_url: str, env: dict[str, str], *args: str) -> Any:
    environment = {**os.environ, **env, "FACETRAIL_DATABASE_URL": database_url, "COLUMNS": "400"}
    run = subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    return run


def _files(path: Path, field: str) -> tuple[str, tuple[str, bytes, str]]:
    return (field, (path.name, path.read_bytes(), "image/jpeg"))


def _zip(faces_dir: Path, people: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for person in people:
            archive.write(photo(faces_dir, person), f"{person}/1.jpg")
    return buffer.getvalue()


def _single_operator_phase(server: LiveServer, faces_dir: Path) -> None:
    """Before accounts: loopback, no token needed, and every answer says so."""
    with server.client() as client:
        health = client.get("/healthz").json()
        assert health["mode"] == "single-operator" and health["notice"] == SINGLE_OPERATOR_NOTICE
        assert client.get("/readyz").status_code == 200
        made = client.post("/api/v1/galleries", json={"name": "custody"})
        assert made.status_code == 201 and made.json()["name"] == "custody"
        _problem(client.post("/api/v1/galleries", json={"name": "custody"}), 409)
        for person in PEOPLE:
            enrolled = client.post(
                f"/api/v1/galleries/custody/subjects/{person}/images",
                files=[_files(photo(faces_dir, person), "photos")],
                data={"source": "custody suite", "legal_basis": "PACE s.64A"},
            )
            assert enrolled.status_code == 201, enrolled.text
            assert enrolled.json()["enrolled"] == 1
        job = client.post(
            "/api/v1/galleries/custody/enrolments",
            files={"archive": ("bulk.zip", _zip(faces_dir, BULK), "application/zip")},
            data={"source": "bulk import", "legal_basis": "PACE s.64A"},
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["job_id"]
        info = server.state.jobs.wait(
            job_id, server.state.services.kernel.single_operator().actor, 120
        )
        assert info.status == "done", info
        polled = client.get(f"/api/v1/enrolments/{job_id}").json()
        assert polled["status"] == "done" and polled["done"] == polled["total"] == len(BULK)
        assert polled["report"]["enrolled"] == len(BULK)
        bad_zip = client.post(
            "/api/v1/galleries/custody/enrolments",
            files={"archive": ("bad.zip", b"not a zip", "application/zip")},
        )
        assert "not a zip" in _problem(bad_zip, 422)["detail"]
        boot = client.post("/api/v1/users/bootstrap", json={"name": "admin", "password": PASSWORD})
        assert boot.status_code == 201, boot.text


def _tokens(server: LiveServer, admin_token: str) -> dict[str, str]:
    tokens = {"administrator": admin_token}
    with server.client(admin_token) as admin:
        for role in ("operator", "investigator", "authorising_officer", "auditor"):
            name = role.replace("_", "-")
            made = admin.post(
                "/api/v1/users",
                json={"name": name, "role": role, "password": PASSWORD, "rank": "Inspector"},
            )
            assert made.status_code == 201, made.text
    with server.client() as anonymous:
        for role in ("operator", "investigator", "authorising_officer", "auditor"):
            issued = anonymous.post(
                "/api/v1/tokens", json={"name": role.replace("_", "-"), "password": PASSWORD}
            )
            assert issued.status_code == 201, issued.text
            tokens[role] = issued.json()["token"]
        wrong = anonymous.post("/api/v1/tokens", json={"name": "auditor", "password": "wrong"})
        assert "wrong user name or password" in _problem(wrong, 403)["detail"]
    return tokens


@pytest.mark.slow
def test_every_endpoint_over_http(tmp_path: Path, database_url: str, faces_dir: Path) -> None:
    home = tmp_path / "home"
    facetrail.open(home, database_url=database_url).close()
    settings = settings_for(home, database_url)
    with live_server(settings) as server:
        _single_operator_phase(server, faces_dir)
        with server.client() as anonymous:
            assert anonymous.get("/healthz").json()["mode"] == "accounts"
            assert anonymous.get("/").status_code == 200  # the console's sign-in page
            _problem(anonymous.get("/api/v1/galleries"), 401)
            _problem(
                anonymous.get("/api/v1/galleries", headers={"Authorization": "Bearer ft_9_nope"}),
                401,
            )
        admin_token = (
            server.client()
            .post("/api/v1/tokens", json={"name": "admin", "password": PASSWORD})
            .json()["token"]
        )
        tokens = _tokens(server, admin_token)
        clients = {role: server.client(token) for role, token in tokens.items()}
        try:
            _walk(server, clients, tokens, home, database_url, faces_dir)
        finally:
            for client in clients.values():
                client.close()


def _walk(
    server: LiveServer,
    c: dict[str, httpx.Client],
    tokens: dict[str, str],
    home: Path,
    database_url: str,
    faces_dir: Path,
) -> None:
    admin, inv, ao, aud, op = (
        c["administrator"],
        c["investigator"],
        c["authorising_officer"],
        c["auditor"],
        c["operator"],
    )
    assert inv.get("/api/v1/whoami").json() == {
        "user": "investigator",
        "role": "investigator",
        "mode": "accounts",
    }
    galleries = inv.get("/api/v1/galleries").json()
    assert [g["name"] for g in galleries] == ["custody"]
    assert galleries[0]["subjects"] == len(PEOPLE) + len(BULK)
    subjects = inv.get("/api/v1/subjects", params={"gallery": "custody"}).json()
    assert sorted(s["subject"] for s in subjects) == sorted(PEOPLE + BULK)
    detail = inv.get("/api/v1/galleries/custody/subjects/Elon_Musk").json()
    assert detail["image_records"][0]["source"] == "custody suite"
    missing = inv.get("/api/v1/galleries/custody/subjects/Nobody")
    env = {"FACETRAIL_USER": "investigator", "FACETRAIL_TOKEN": tokens["investigator"]}
    show = ("subjects", "show", "Nobody", "--gallery", "custody")
    cli_missing = _cli(home, database_url, env, *show)
    assert cli_missing.returncode != 0
    assert f"error: {_problem(missing, 404)['detail']}" in cli_missing.stderr

    # authorisations
    granted = ao.post("/api/v1/authorisations", json={**AUTH, "for_user": "investigator"})
    assert granted.status_code == 201, granted.text
    auth_id = granted.json()["id"]
    assert ao.get(f"/api/v1/authorisations/{auth_id}").json()["case_reference"] == "OP-API-1"
    assert [a["id"] for a in inv.get("/api/v1/authorisations").json()] == [auth_id]
    _problem(inv.post("/api/v1/authorisations", json=AUTH), 403)
    blank = ao.post("/api/v1/authorisations", json={**AUTH, "necessity": ""})
    assert "necessity" in _problem(blank, 422)["detail"]

    # search and verify: the JSON of the CLI's --json (but for the audit entry)
    probe = photo(faces_dir, "Elon_Musk", 2)
    searched = inv.post(
        "/api/v1/search",
        files=[_files(probe, "probe")],
        data={"gallery": "custody", "authorisation": str(auth_id), "top": "3"},
    )
    assert searched.status_code == 200, searched.text
    api_result = searched.json()
    assert api_result["faces"][0]["candidates"][0]["subject"] == "Elon_Musk"
    cli = _cli(home, database_url, env, "search", str(probe), "--gallery", "custody",
               "--authorisation", str(auth_id), "--top", "3", "--json")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    cli_result = json.loads(cli.stdout)
    assert cli_result["audit_id"] != api_result["audit_id"]
    assert {**cli_result, "audit_id": 0} == {**api_result, "audit_id": 0}
    assert api_result["subject_score"] == "max"
    # a subject scored from the mean of its best photos: API form field = CLI option
    mean = inv.post(
        "/api/v1/search",
        files=[_files(probe, "probe")],
        data={"gallery": "custody", "authorisation": str(auth_id), "top": "3",
              "subject_score": "mean-top-2"},
    )  # fmt: skip
    assert mean.status_code == 200, mean.text
    cli_mean = _cli(home, database_url, env, "search", str(probe), "--gallery", "custody",
                    "--authorisation", str(auth_id), "--top", "3", "--subject-score",
                    "mean-top-2", "--json")  # fmt: skip
    assert cli_mean.returncode == 0, cli_mean.stderr
    assert {**json.loads(cli_mean.stdout), "audit_id": 0} == {**mean.json(), "audit_id": 0}
    assert mean.json()["subject_score"] == "mean-top-2"
    assert mean.json()["faces"][0]["candidates"][0]["subject"] == "Elon_Musk"
    odd = inv.post(
        "/api/v1/search",
        files=[_files(probe, "probe")],
        data={"gallery": "custody", "authorisation": str(auth_id), "subject_score": "mean"},
    )
    _problem(odd, 422)

    best = api_result["faces"][0]["candidates"][0]["image_id"]
    kept = inv.get(f"/api/v1/galleries/custody/images/{best}")
    assert kept.status_code == 200 and kept.content == photo(faces_dir, "Elon_Musk").read_bytes()
    _problem(inv.get("/api/v1/galleries/custody/images/999999"), 404)
    outcome = inv.post(
        f"/api/v1/searches/{api_result['audit_id']}/outcome",
        json={"outcome": "potential_candidate", "subject": "Elon_Musk", "note": "same scar"},
    )
    assert outcome.status_code == 201, outcome.text
    assert outcome.json()["examiner"] == "investigator"
    foreign = ao.post(
        f"/api/v1/searches/{api_result['audit_id']}/outcome",
        json={"outcome": "inconclusive", "note": "x"},
    )
    _problem(foreign, 403)

    same = (photo(faces_dir, "Katy_Perry", 1), photo(faces_dir, "Katy_Perry", 2))
    verified = inv.post(
        "/api/v1/verify",
        files=[_files(same[0], "a"), _files(same[1], "b")],
        data={"authorisation": str(auth_id)},
    )
    assert verified.status_code == 200, verified.text
    cli = _cli(home, database_url, env, "verify", str(same[0]), str(same[1]),
               "--authorisation", str(auth_id), "--json")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert {**json.loads(cli.stdout), "audit_id": 0} == {**verified.json(), "audit_id": 0}
    assert verified.json()["same_person"] is True

    # bad uploads: named, with the right status
    text = inv.post(
        "/api/v1/search",
        files={"probe": ("notes.txt", b"hello, not a photo", "text/plain")},
        data={"gallery": "custody", "authorisation": str(auth_id)},
    )
    assert "probe" in _problem(text, 415)["detail"]
    huge = inv.post(
        "/api/v1/verify",
        files={"a": ("a.jpg", b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024), "image/jpeg"),
               "b": ("b.jpg", probe.read_bytes(), "image/jpeg")},
    )  # fmt: skip
    assert "larger than 50 MB" in _problem(huge, 413)["detail"]
    no_gallery = inv.post(
        "/api/v1/search",
        files=[_files(probe, "probe")],
        data={"gallery": "custody", "authorisation": "999"},
    )
    assert _problem(no_gallery, no_gallery.status_code)["status"] in (403, 404)
    unsearched = inv.post("/api/v1/search", data={"gallery": "custody", "authorisation": "1"})
    assert "probe" in _problem(unsearched, 422)["detail"]

    # DPIAs, reports, audit
    dpia = admin.post(
        "/api/v1/dpias",
        json={"reference": "DPIA-1", "title": "Retrospective FR", "version": "1",
              "approved_on": "2026-01-01", "approver": "DPO"},
    )  # fmt: skip
    assert dpia.status_code == 201, dpia.text
    assert [d["reference"] for d in ao.get("/api/v1/dpias").json()] == ["DPIA-1"]
    withdrawn = admin.post(
        "/api/v1/dpias/DPIA-1/withdraw", json={"on": "2030-01-01", "reason": "superseded"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    foi = aud.get("/api/v1/reports/foi", params={"start": "2020-01-01", "end": "2099-12-31"})
    assert foi.status_code == 200, foi.text
    assert json.dumps(foi.json())  # plain JSON
    assert aud.get("/api/v1/reports/dpia-check").status_code == 200
    page = aud.get("/api/v1/audit", params={"limit": 5}).json()
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and page["total"] > 5
    second = aud.get("/api/v1/audit", params={"limit": 5, "offset": 5}).json()
    assert second["entries"][0]["id"] < ids[-1]
    searches = aud.get("/api/v1/audit", params={"action": "search"}).json()["entries"]
    assert searches and all(e["action"].startswith("search") for e in searches)
    assert aud.get("/api/v1/audit/verify").json()["ok"] is True
    export = aud.post("/api/v1/audit/export")
    assert export.status_code == 200, export.text
    assert "signature" in export.json()

    # retention, deletion requests, calibrations, watchlists
    policy = admin.put(
        "/api/v1/retention/policies", json={"scope": "gallery", "key": "custody", "days": 3650}
    )
    assert policy.status_code == 200, policy.text
    assert admin.get("/api/v1/retention/policies").json()[0]["days"] == 3650
    assert admin.get("/api/v1/retention/due").json() == []
    assert admin.post("/api/v1/retention/run", json={"dry_run": True}).json()["images_deleted"] == 0
    request = inv.post(
        "/api/v1/deletion-requests",
        json={"gallery": "custody", "subject": "Matt_Damon", "requester": "DSAR-1",
              "grounds": "no further action"},
    )  # fmt: skip
    assert request.status_code == 201, request.text
    pending = ao.get("/api/v1/deletion-requests", params={"status": "pending"}).json()
    assert [p["subject"] for p in pending] == ["Matt_Damon"]
    decided = ao.post(
        f"/api/v1/deletion-requests/{pending[0]['id']}/decision",
        json={"grant": True, "reason": "no lawful basis to keep"},
    )
    assert decided.status_code == 200, decided.text
    _problem(inv.get("/api/v1/galleries/custody/subjects/Matt_Damon"), 404)
    assert isinstance(admin.get("/api/v1/calibrations").json(), list)
    watchlist = admin.post(
        "/api/v1/watchlists",
        json={"name": "wanted", "gallery": "custody", "subjects": ["Elon_Musk"],
              "reason": "wanted on warrant"},
    )  # fmt: skip
    assert watchlist.status_code == 201, watchlist.text
    assert [w["name"] for w in op.get("/api/v1/watchlists").json()] == ["wanted"]
    assert op.get("/api/v1/watchlists/wanted").json()["name"] == "wanted"
    assert op.get("/api/v1/alerts").json() == []
    _problem(op.get("/api/v1/alerts/999"), 404)
    _problem(op.get("/api/v1/deployments/999"), 404)
    # A record id beyond 64 bits is refused as input (it overflowed SQLite: a 500 before).
    assert "alert_id" in _problem(op.get("/api/v1/alerts/" + "9" * 30), 422)["detail"]
    docs = op.get("/api/docs")  # Swagger UI (vendored), the plain list inside <noscript>
    assert docs.status_code == 200 and "/api/v1/search" in docs.text and "<noscript>" in docs.text
    reference = op.get("/api/docs/reference")
    assert "/api/v1/search" in reference.text and "<script" not in reference.text

    # subjects: delete, rebuild
    deleted = admin.delete(
        "/api/v1/galleries/custody/subjects/Jeff_Bezos", params={"reason": "test"}
    )
    assert deleted.status_code == 200, deleted.text
    assert admin.post("/api/v1/galleries/custody/rebuild").status_code == 200

    # users and tokens
    names = [u["name"] for u in admin.get("/api/v1/users").json()]
    assert names == sorted(names) and "investigator" in names
    spare = (
        server.client()
        .post("/api/v1/tokens", json={"name": "operator", "password": PASSWORD, "label": "spare"})
        .json()
    )
    assert server.client(spare["token"]).get("/api/v1/galleries").status_code == 200
    revoked = admin.request(
        "DELETE", f"/api/v1/tokens/{spare['token_id']}", json={"reason": "lost"}
    )
    assert revoked.status_code == 204
    _problem(server.client(spare["token"]).get("/api/v1/galleries"), 401)
    disabled = admin.post("/api/v1/users/auditor/disable", json={"reason": "left the force"})
    assert disabled.json()["active"] is False
    _problem(aud.get("/api/v1/audit/verify"), 401)

    # revoking the authorisation stops searches under it
    revoked_auth = ao.post(f"/api/v1/authorisations/{auth_id}/revoke", json={"reason": "done"})
    assert revoked_auth.status_code == 200, revoked_auth.text
    refused = inv.post(
        "/api/v1/search",
        files=[_files(probe, "probe")],
        data={"gallery": "custody", "authorisation": str(auth_id)},
    )
    assert "revoked" in _problem(refused, 403)["detail"]

    metrics = server.client().get("/metrics").text
    assert 'facetrail_searches_total{outcome="ok"} 2.0' in metrics  # max, mean-top-2
    assert "facetrail_http_requests_total" in metrics and "Elon_Musk" not in metrics
    assert "facetrail_model_queue_depth" in metrics


def test_full_model_pool_answers_503_with_retry_after(tmp_path: Path, faces_dir: Path) -> None:
    home = tmp_path / "home"
    facetrail.open(home).close()
    with live_server(settings_for(home), model_workers=1, model_queue=0) as server:
        probe = photo(faces_dir, "Elon_Musk").read_bytes()
        answers: list[httpx.Response] = []

        def verify() -> None:
            with server.client() as client:
                answers.append(
                    client.post(
                        "/api/v1/verify",
                        files={
                            "a": ("a.jpg", probe, "image/jpeg"),
                            "b": ("b.jpg", probe, "image/jpeg"),
                        },
                    )
                )

        threads = [threading.Thread(target=verify) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    statuses = sorted(a.status_code for a in answers)
    assert 200 in statuses and 503 in statuses, statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["Retry-After"] == "1"
    assert "busy" in _problem(busy, 503)["detail"]


def test_facetrail_serve_process_contract(tmp_path: Path) -> None:
    """`facetrail serve --port P --workers 2` as real processes: /healthz, OpenAPI 3.1, and a
    home without accounts refused beyond loopback."""
    from tests.integration.api_support import free_port

    home = tmp_path / "home"
    with facetrail.open(home) as application:
        node = application.node.init("UK-TEST")
    refused = subprocess.run(
        [sys.executable, "-m", "facetrail", "serve", "--home", str(home), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and "loopback" in refused.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "facetrail", "serve", "--home", str(home), "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        import time

        deadline = time.monotonic() + 120
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["mode"] == "single-operator"
        spec = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").json()
        assert spec["openapi"].startswith("3.1")
        assert "/api/v1/search" in spec["paths"] and "/api/v1/verify" in spec["paths"]
        # The same server answers partners (federation router, outside the OpenAPI document).
        identity = httpx.get(f"http://127.0.0.1:{port}/federation/v1/node").json()
        assert identity["name"] == "UK-TEST" and identity["fingerprint"] == node.fingerprint
        assert not any(path.startswith("/federation") for path in spec["paths"])
    finally:
        process.terminate()
        process.wait(30)
