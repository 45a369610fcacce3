"""Every role x every API endpoint over real HTTP, against the permission matrix (deny by
default), and every endpoint refusing a caller without a valid bearer token (401)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import facetrail
from facetrail.core import access
from facetrail.security.signing import new_private_key, public_pem
from tests.integration.api_support import PASSWORD, LiveServer, live_server, photo, settings_for

PROBLEM = "application/problem+json"
AUTH = {
    "purpose": "identify a suspect",
    "case": "OP-1",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe",
    "galleries": ["custody"],
}
# Use cases with no API endpoint on purpose: run by an administrator at the server's CLI.
CLI_ONLY = {"keys.rotate", "calibrate"}
# Use cases merged after the API was built, served by the CLI only until their endpoints
# exist: none left. A new use case goes here until it has its endpoint.
NOT_YET_ON_THE_API: set[str] = set()
# Endpoints open to anyone: health, metrics, signing in, who am I, calibrations (no
# personal data), the first administrator (refused once accounts exist).
OPEN = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/calibrations"),
    ("POST", "/api/v1/users/bootstrap"),
    ("GET", "/api/v1/enrolments/{job_id}"),
    ("POST", "/api/v1/enrolments/{job_id}/resume"),
}

Request = Callable[[str, bytes], dict[str, Any]]
PARTNER_KEY = public_pem(new_private_key())


def _none(role: str, jpeg: bytes) -> dict[str, Any]:
    return {}


def _json(body: dict[str, Any]) -> Request:
    return lambda role, jpeg: {"json": body}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


# (method, path template, concrete path, permission, request options)
ENDPOINTS: list[tuple[str, str, str, str, Request]] = [
    ("GET", "/api/v1/galleries", "/api/v1/galleries", "gallery.read", _none),
    ("POST", "/api/v1/galleries", "/api/v1/galleries", "gallery.create",
     lambda r, j: {"json": {"name": f"g-{r}"}}),
    ("POST", "/api/v1/galleries/{gallery}/rebuild", "/api/v1/galleries/no-such/rebuild",
     "index.rebuild", _none),
    ("GET", "/api/v1/subjects", "/api/v1/subjects?gallery=custody", "subjects.read", _none),
    ("GET", "/api/v1/galleries/{gallery}/subjects/{subject}",
     "/api/v1/galleries/custody/subjects/nobody", "subjects.read", _none),
    ("GET", "/api/v1/galleries/{gallery}/images/{image_id}",
     "/api/v1/galleries/custody/images/999", "subjects.read", _none),
    ("DELETE", "/api/v1/galleries/{gallery}/subjects/{subject}",
     "/api/v1/galleries/custody/subjects/nobody", "subjects.delete", _none),
    ("POST", "/api/v1/galleries/{gallery}/subjects/{subject}/images",
     "/api/v1/galleries/custody/subjects/{role}/images", "enrol",
     lambda r, j: {"files": {"photos": ("p.jpg", j, "image/jpeg")}}),
    ("POST", "/api/v1/galleries/{gallery}/enrolments", "/api/v1/galleries/custody/enrolments",
     "enrol", lambda r, j: {"files": {"archive": ("a.zip", b"not a zip", "application/zip")}}),
    ("POST", "/api/v1/search", "/api/v1/search", "search",
     lambda r, j: {"files": {"probe": ("p.jpg", j, "image/jpeg")},
                   "data": {"gallery": "custody", "authorisation": "999"}}),
    ("POST", "/api/v1/verify", "/api/v1/verify", "verify",
     lambda r, j: {"files": {"a": ("a.jpg", j, "image/jpeg"), "b": ("b.jpg", j, "image/jpeg")}}),
    ("POST", "/api/v1/searches/{audit_id}/outcome", "/api/v1/searches/999/outcome",
     "search.outcome", _json({"outcome": "inconclusive", "note": "poor probe"})),
    ("POST", "/api/v1/authorisations", "/api/v1/authorisations", "authorisation.grant",
     _json(AUTH)),
    ("GET", "/api/v1/authorisations", "/api/v1/authorisations", "authorisation.read", _none),
    ("GET", "/api/v1/authorisations/{authorisation_id}", "/api/v1/authorisations/999",
     "authorisation.read", _none),
    ("POST", "/api/v1/authorisations/{authorisation_id}/revoke",
     "/api/v1/authorisations/999/revoke", "authorisation.revoke", _json({"reason": "done"})),
    ("GET", "/api/v1/watchlists", "/api/v1/watchlists", "watchlist.read", _none),
    ("GET", "/api/v1/watchlists/{name}", "/api/v1/watchlists/no-such", "watchlist.read", _none),
    ("POST", "/api/v1/watchlists", "/api/v1/watchlists", "watchlist.manage",
     lambda r, j: {"json": {"name": f"w-{r}", "gallery": "custody", "reason": "wanted"}}),
    ("POST", "/api/v1/deployments", "/api/v1/deployments", "watch",
     _json({"source": "missing.mp4", "watchlist": "no-such", "authorisation": 999})),
    ("GET", "/api/v1/deployments/{deployment_id}", "/api/v1/deployments/999", "watch", _none),
    ("POST", "/api/v1/deployments/{deployment_id}/stop", "/api/v1/deployments/999/stop",
     "watch", _none),
    ("GET", "/api/v1/deployments/{deployment_id}/report", "/api/v1/deployments/999/report",
     "report.deployment", _none),
    ("GET", "/api/v1/deployments/{deployment_id}/alerts/stream",
     "/api/v1/deployments/999/alerts/stream", "alerts.read", _none),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", "alerts.read", _none),
    ("GET", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/999", "alerts.read", _none),
    ("GET", "/api/v1/alerts/{alert_id}/image", "/api/v1/alerts/999/image", "alerts.read", _none),
    ("POST", "/api/v1/alerts/{alert_id}/decision", "/api/v1/alerts/999/decision",
     "alerts.decide", _json({"outcome": "rejected", "note": "different person"})),
    ("GET", "/api/v1/audit", "/api/v1/audit", "audit.read", _none),
    ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", "audit.verify", _none),
    ("POST", "/api/v1/audit/export", "/api/v1/audit/export", "audit.export", _none),
    ("GET", "/api/v1/reports/foi", "/api/v1/reports/foi?start=2026-01-01&end=2026-12-31",
     "report.foi", _none),
    ("GET", "/api/v1/reports/dpia-check", "/api/v1/reports/dpia-check", "report.dpia_check",
     _none),
    ("GET", "/api/v1/dpias", "/api/v1/dpias", "dpia.read", _none),
    ("POST", "/api/v1/dpias", "/api/v1/dpias", "dpia.manage",
     lambda r, j: {"json": {"reference": f"D-{r}", "title": "t", "version": "1",
                            "approved_on": "2026-01-01", "approver": "DPO"}}),
    ("POST", "/api/v1/dpias/{reference}/withdraw", "/api/v1/dpias/no-such/withdraw",
     "dpia.manage", _json({"on": "2026-01-01", "reason": "superseded"})),
    ("GET", "/api/v1/retention/policies", "/api/v1/retention/policies", "retention.read", _none),
    ("PUT", "/api/v1/retention/policies", "/api/v1/retention/policies", "retention.manage",
     _json({"scope": "gallery", "key": "no-such-gallery", "days": 30})),
    ("GET", "/api/v1/retention/due", "/api/v1/retention/due", "retention.read", _none),
    ("POST", "/api/v1/retention/run", "/api/v1/retention/run", "retention.run",
     _json({"dry_run": True})),
    ("GET", "/api/v1/deletion-requests", "/api/v1/deletion-requests", "deletion.read", _none),
    ("POST", "/api/v1/deletion-requests", "/api/v1/deletion-requests", "deletion.request",
     _json({"gallery": "custody", "subject": "s", "requester": "data subject",
            "grounds": "no longer needed"})),
    ("POST", "/api/v1/deletion-requests/{request_id}/decision",
     "/api/v1/deletion-requests/99999/decision", "deletion.decide",
     _json({"grant": False, "reason": "unfounded"})),
    ("GET", "/api/v1/users", "/api/v1/users", "users.read", _none),
    ("POST", "/api/v1/users", "/api/v1/users", "users.manage",
     lambda r, j: {"json": {"name": f"new-{r}", "role": "operator", "password": "short"}}),
    ("POST", "/api/v1/users/{name}/disable", "/api/v1/users/nobody/disable", "users.manage",
     _json({"reason": "left"})),
    ("DELETE", "/api/v1/tokens/{token_id}", "/api/v1/tokens/999", "users.manage",
     _json({"reason": "lost"})),
    ("POST", "/api/v1/galleries/{gallery}/subjects/{subject}/export",
     "/api/v1/galleries/custody/subjects/nobody/export", "subjects.export",
     _json({"reason": "partner request"})),
    ("POST", "/api/v1/search/export", "/api/v1/search/export", "search.export",
     lambda r, j: {"files": {"probe": ("p.jpg", j, "image/jpeg")},
                   "data": {"gallery": "custody", "authorisation": "999"}}),
    ("POST", "/api/v1/audit/checkpoint", "/api/v1/audit/checkpoint", "audit.checkpoint", _none),
    ("POST", "/api/v1/repair", "/api/v1/repair", "home.repair", _none),
    ("POST", "/api/v1/federation/searches", "/api/v1/federation/searches", "federation.search",
     lambda r, j: {"files": {"probe": ("p.jpg", j, "image/jpeg")},
                   "data": {"partners": "B", "authorisation": "999"}}),
    ("POST", "/api/v1/federation/searches/{request_id}/confirm",
     "/api/v1/federation/searches/no-such/confirm", "federation.confirm",
     _json({"reference": "B-1", "note": "ears and nose agree"})),
    ("GET", "/api/v1/federation/releases/pending", "/api/v1/federation/releases/pending",
     "federation.approve", _none),
    ("POST", "/api/v1/federation/releases/{exchange_id}/decision",
     "/api/v1/federation/releases/999/decision", "federation.approve",
     _json({"release": True})),
    ("GET", "/api/v1/federation/exchanges", "/api/v1/federation/exchanges", "federation.read",
     _none),
    ("POST", "/api/v1/federation/exchanges/{exchange_id}/erase",
     "/api/v1/federation/exchanges/999/erase", "deletion.decide", _json({"reason": "wrong"})),
    ("GET", "/api/v1/federation/report", "/api/v1/federation/report?partner=B",
     "federation.read", _none),
    ("GET", "/api/v1/federation/node", "/api/v1/federation/node", "federation.read", _none),
    ("GET", "/api/v1/federation/partners", "/api/v1/federation/partners", "federation.read",
     _none),
    ("GET", "/api/v1/federation/partners/{name}", "/api/v1/federation/partners/B",
     "federation.read", _none),
    ("POST", "/api/v1/federation/partners", "/api/v1/federation/partners", "federation.manage",
     lambda r, j: {"json": {"name": f"P-{r.upper().replace('_', '-')}",
                            "url": "http://127.0.0.1:9", "public_key": PARTNER_KEY,
                            "policy": {"galleries": ["custody"]}}}),
    ("PUT", "/api/v1/federation/partners/{name}/policy", "/api/v1/federation/partners/B/policy",
     "federation.manage", _json({"galleries": ["custody"], "step2": "approve"})),
    ("POST", "/api/v1/federation/partners/{name}/remove",
     "/api/v1/federation/partners/no-such/remove", "federation.manage", _json({"reason": "x"})),
]  # fmt: skip


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path
) -> Iterator[tuple[LiveServer, dict[str, str], bytes]]:
    """A server over a home with a 'custody' gallery and one user per role."""
    home = tmp_path_factory.mktemp("api-access") / "home"
    single = facetrail.open(home)
    single.create_gallery("custody")
    tokens = {access.ADMINISTRATOR: single.users.bootstrap("admin", PASSWORD).token}
    single.close()
    admin = facetrail.open(home, user="admin", token=tokens[access.ADMINISTRATOR])
    for role in access.ROLES:
        if role != access.ADMINISTRATOR:
            name = role.replace("_", "-")
            admin.users.create(name, role=role, password=PASSWORD, rank="Inspector")
            tokens[role] = admin.users.token(name, PASSWORD).token
    admin.close()
    with live_server(settings_for(home)) as server:
        yield server, tokens, photo(faces_dir, "Elon_Musk").read_bytes()


def _call(client: httpx.Client, method: str, path: str, options: dict[str, Any]) -> int:
    """The status; 403 only for a role refusal (a missing authorisation is 403 too, but
    another problem title: AuthorisationError, not PermissionDeniedError)."""
    with client.stream(method, path, **options) as response:
        status = response.status_code
        if status >= 400:
            response.read()
            assert response.headers["content-type"].startswith(PROBLEM), (path, response.text)
            if status == 403 and response.json()["title"] != "PermissionDeniedError":
                return 0
        return status


@pytest.mark.parametrize(
    "method,template,path,permission,options",
    ENDPOINTS,
    ids=[f"{e[0]} {e[1]}" for e in ENDPOINTS],
)
def test_every_role_gets_what_the_matrix_says(
    served: tuple[LiveServer, dict[str, str], bytes],
    method: str,
    template: str,
    path: str,
    permission: str,
    options: Request,
) -> None:
    server, tokens, jpeg = served
    for role, token in tokens.items():
        with server.client(token) as client:
            status = _call(client, method, path.format(role=role), options(role, jpeg))
        allowed = access.allowed(role, permission)
        assert (status == 403) != allowed, (role, method, path, status)
        assert status not in (401, 500), (role, method, path, status)
    with server.client() as anonymous:
        assert _call(anonymous, method, path.format(role="anon"), options("anon", jpeg)) == 401
    with server.client("ft_1_forged-secret") as forged:
        assert _call(forged, method, path.format(role="forged"), options("forged", jpeg)) == 401


def test_every_served_operation_and_every_permission_is_in_the_table(
    served: tuple[LiveServer, dict[str, str], bytes],
) -> None:
    server, _, _ = served
    spec = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    tabled = {(method, template) for method, template, *_ in ENDPOINTS}
    assert operations == tabled | OPEN
    permissions = {permission for *_, permission, _ in ENDPOINTS}
    assert permissions | CLI_ONLY | NOT_YET_ON_THE_API == set(access.PERMISSIONS)
    assert not permissions & NOT_YET_ON_THE_API  # served now: take it off the list
