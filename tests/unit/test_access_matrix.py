"""The permission matrix: every service call by every role, allowed or refused as it says."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import facetrail
from facetrail.core import access
from facetrail.core.access import PermissionDeniedError
from facetrail.errors import FacetrailError
from facetrail.evaluation.runs import RunOptions
from facetrail.facade import Facetrail
from facetrail.services.calibrations import CalibrationRequest
from facetrail.services.examination import OutcomeRequest
from facetrail.services.federated_exchange import ConfirmRequest
from facetrail.services.federated_search import FederatedSearchRequest
from facetrail.services.federation_policy import policy_from
from facetrail.services.live import WatchRequest
from facetrail.services.partners import PartnerRequest
from facetrail.services.results import SearchResult

PASSWORD = "a long enough password"
SERVICES = (
    "users",
    "dpias",
    "reports",
    "retention",
    "deletions",
    "audit_export",
    "keys",
    "watchlists",
    "alerts",
    "deployments",
    "calibrations",
    "examinations",
    "node",
    "partners",
    "federated",
    "exchanges",
    "answering",
    "repair",
)
# Calls that need no permission: signing in, bootstrapping, lifecycle, helpers.
UNCHECKED = {
    "close",
    "require",
    "context",
    "watchlists.freeze",
    "watchlists.load",
    "calibrations.list",
    "calibrations.active",
    "users.bootstrap",
    "users.token",
    "users.whoami",
    "users.check_exists",
    "audit_export.default_key_path",
    # A partner's message is authenticated by its Ed25519 signature, not by a user account.
    "answering.answer",
    "node.published",  # a node's public identity: what any partner may fetch
}
AUTH = {
    "purpose": "identify a suspect",
    "case": "OP-1",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe",
    "galleries": ["custody"],
}

Call = Callable[[Facetrail, str, Path], Any]
# A search result no search made (audit entry 999_999): refused, or then not exported.
_SEARCH = SearchResult(
    gallery="custody",
    pipeline="yunet+sface",
    threshold=0.5,
    calibration="test",
    authorisation=999,
    audit_id=999_999,
    faces=[],
)


def _watchlist_create(app: Facetrail, role: str) -> Any:
    """Create an (empty-gallery) watchlist: refused by role, else by the empty gallery."""
    return app.watchlists.create(f"wl-{role}", gallery="custody", reason="wanted on warrant")


def _watch(app: Facetrail) -> Any:
    """Start a deployment that fails after the permission check (no such watchlist)."""
    request = WatchRequest(source="missing.mp4", watchlist="no-such", authorisation=999)
    return app.deployments.runner(request).start()


def _calibrate(app: Facetrail, work: Path) -> Any:
    """Calibrate on a missing folder: refused by role, else by the missing data set."""
    options = RunOptions(pipeline="yunet+sface")
    request = CalibrationRequest("yunet+sface", "fmr", 0.001, work / "missing", options)
    return app.calibrations.calibrate(request)


# (service call name, permission it needs, a call with cheap arguments). An allowed call may
# still fail for its own reasons (no such record): only PermissionDeniedError means refused.
CALLS: list[tuple[str, str, Call]] = [
    ("create_gallery", "gallery.create", lambda a, r, t: a.create_gallery(f"g-{r}")),
    ("galleries", "gallery.read", lambda a, r, t: a.galleries()),
    ("enrol", "enrol", lambda a, r, t: a.enrol(t / "missing.jpg", gallery="custody", subject="s")),
    ("subjects", "subjects.read", lambda a, r, t: a.subjects("custody")),
    ("subject", "subjects.read", lambda a, r, t: a.subject("custody", "nobody")),
    ("subject_photo", "subjects.read", lambda a, r, t: a.subject_photo("custody", 999)),
    ("delete_subject", "subjects.delete", lambda a, r, t: a.delete_subject("custody", "nobody")),
    (
        "export_subject",
        "subjects.export",
        lambda a, r, t: a.export_subject("custody", "nobody", t / f"{r}.an2"),
    ),
    (
        "export_candidates",
        "search.export",
        lambda a, r, t: a.export_candidates(_SEARCH, t / "c.an2"),
    ),
    (
        "search",
        "search",
        lambda a, r, t: a.search(b"not an image", gallery="custody", authorisation=999),
    ),
    ("verify", "verify", lambda a, r, t: a.verify(b"not an image", b"nor this")),
    ("authorise", "authorisation.grant", lambda a, r, t: a.authorise(**AUTH)),
    (
        "revoke_authorisation",
        "authorisation.revoke",
        lambda a, r, t: a.revoke_authorisation(999, "no longer needed"),
    ),
    ("authorisation", "authorisation.read", lambda a, r, t: a.authorisation(999)),
    ("authorisations", "authorisation.read", lambda a, r, t: a.authorisations()),
    ("rebuild_index", "index.rebuild", lambda a, r, t: a.rebuild_index("no-such-gallery")),
    ("verify_audit", "audit.verify", lambda a, r, t: a.verify_audit()),
    ("audit_entries", "audit.read", lambda a, r, t: a.audit_entries(1)),
    ("audit_export.export", "audit.export", lambda a, r, t: a.audit_export.export(t / f"{r}.json")),
    ("retention.run", "retention.run", lambda a, r, t: a.retention.run(dry_run=True)),
    (
        "retention.set_policy",
        "retention.manage",
        lambda a, r, t: a.retention.set_policy("gallery", "no-such-gallery", 30),
    ),
    ("retention.policies", "retention.read", lambda a, r, t: a.retention.policies()),
    ("retention.due", "retention.read", lambda a, r, t: a.retention.due()),
    (
        "deletions.request",
        "deletion.request",
        lambda a, r, t: a.deletions.request(
            gallery="custody", subject="s", requester="data subject", grounds="no longer needed"
        ),
    ),
    (
        "deletions.decide",
        "deletion.decide",
        lambda a, r, t: a.deletions.decide(99_999, grant=False, reason="unfounded"),
    ),
    ("deletions.list", "deletion.read", lambda a, r, t: a.deletions.list()),
    (
        "dpias.add",
        "dpia.manage",
        lambda a, r, t: a.dpias.add(
            f"DPIA-{r}", title="t", version="1", approved_on=date(2026, 1, 1), approver="DPO"
        ),
    ),
    (
        "dpias.withdraw",
        "dpia.manage",
        lambda a, r, t: a.dpias.withdraw("no-such", on=date(2026, 1, 1), reason="superseded"),
    ),
    ("dpias.list", "dpia.read", lambda a, r, t: a.dpias.list()),
    (
        "reports.foi",
        "report.foi",
        lambda a, r, t: a.reports.foi(date(2026, 1, 1), date(2026, 12, 31)),
    ),
    ("reports.dpia_check", "report.dpia_check", lambda a, r, t: a.reports.dpia_check()),
    (
        "users.create",
        "users.manage",
        lambda a, r, t: a.users.create(f"new-{r}", role="operator", password="short"),
    ),
    ("users.disable", "users.manage", lambda a, r, t: a.users.disable("nobody", "left")),
    ("users.approve", "users.manage", lambda a, r, t: a.users.approve("nobody")),
    ("users.revoke_token", "users.manage", lambda a, r, t: a.users.revoke_token(999, "lost")),
    ("users.list", "users.read", lambda a, r, t: a.users.list()),
    ("keys.rotate", "keys.rotate", lambda a, r, t: a.keys.rotate()),
    ("watchlists.create", "watchlist.manage", lambda a, r, t: _watchlist_create(a, r)),
    ("watchlists.list", "watchlist.read", lambda a, r, t: a.watchlists.list()),
    ("watchlists.show", "watchlist.read", lambda a, r, t: a.watchlists.show("no-such")),
    ("alerts.list", "alerts.read", lambda a, r, t: a.alerts.list()),
    ("alerts.show", "alerts.read", lambda a, r, t: a.alerts.show(999)),
    (
        "alerts.decide",
        "alerts.decide",
        lambda a, r, t: a.alerts.decide(999, outcome="rejected", note="different person"),
    ),
    ("alerts.report", "report.deployment", lambda a, r, t: a.alerts.report(999)),
    ("deployments.runner", "watch", lambda a, r, t: _watch(a)),
    (
        "alerts.side_by_side",
        "alerts.read",
        lambda a, r, t: a.alerts.side_by_side(999),
    ),
    (
        "examinations.record",
        "search.outcome",
        lambda a, r, t: a.examinations.record(OutcomeRequest(999, "inconclusive", "poor probe")),
    ),
    ("repair.run", "home.repair", lambda a, r, t: a.repair.run()),
    ("audit_export.checkpoint", "audit.checkpoint", lambda a, r, t: a.audit_export.checkpoint()),
    # `facetrail calibrate` checks before measuring and again before storing.
    ("calibrations.calibrate", "calibrate", lambda a, r, t: _calibrate(a, t)),
    # Federation: each call fails after the permission check (bad name, no such partner).
    ("node.init", "federation.manage", lambda a, r, t: a.node.init("not a name!")),
    ("node.show", "federation.read", lambda a, r, t: a.node.show()),
    ("partners.add", "federation.manage", lambda a, r, t: a.partners.add(_partner())),
    (
        "partners.set_policy",
        "federation.manage",
        lambda a, r, t: a.partners.set_policy("nobody", _partner().policy),
    ),
    ("partners.remove", "federation.manage", lambda a, r, t: a.partners.remove("nobody")),
    ("partners.list", "federation.read", lambda a, r, t: a.partners.list()),
    ("partners.show", "federation.read", lambda a, r, t: a.partners.show("nobody")),
    (
        "partners.policy_history",
        "federation.read",
        lambda a, r, t: a.partners.policy_history("nobody"),
    ),
    (
        "federated.search",
        "federation.search",
        lambda a, r, t: a.federated.search(FederatedSearchRequest(b"x", ("B",), 999)),
    ),
    (
        "exchanges.confirm",
        "federation.confirm",
        lambda a, r, t: a.exchanges.confirm(ConfirmRequest("no-such", "B-X", "alike")),
    ),
    ("exchanges.releases", "federation.read", lambda a, r, t: a.exchanges.releases()),
    (
        "exchanges.decide",
        "federation.approve",
        lambda a, r, t: a.exchanges.decide(999, release=True),
    ),
    ("exchanges.overdue", "federation.read", lambda a, r, t: a.exchanges.overdue()),
    ("exchanges.pending", "federation.approve", lambda a, r, t: a.exchanges.pending()),
    (
        "exchanges.erase_received",
        "deletion.decide",
        lambda a, r, t: a.exchanges.erase_received(999, "the partner withdrew it"),
    ),
    ("exchanges.report", "federation.read", lambda a, r, t: a.exchanges.report("nobody")),
]


def _partner() -> PartnerRequest:
    """A partner request refused after the permission check (not an http(s) URL)."""
    return PartnerRequest("P", "ftp://p", "not a key", policy_from({"galleries": ["custody"]}))


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Facetrail], Path]]:
    """One home with an administrator, a 'custody' gallery and one user per role."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    single = facetrail.open(home)
    single.create_gallery("custody")
    admin_token = single.users.bootstrap("admin", PASSWORD).token
    single.close()
    admin = facetrail.open(home, user="admin", token=admin_token)
    apps = {access.ADMINISTRATOR: admin}
    for role in access.ROLES:
        if role == access.ADMINISTRATOR:
            continue
        name = role.replace("_", "-")
        admin.users.create(name, role=role, password=PASSWORD, rank="Inspector")
        token = admin.users.token(name, PASSWORD).token
        apps[role] = facetrail.open(home, user=name, token=token)
    yield apps, work
    for application in apps.values():
        application.close()


@pytest.mark.parametrize("name,permission,call", CALLS, ids=[c[0] for c in CALLS])
def test_every_role_is_allowed_or_refused_as_the_matrix_says(
    homes: tuple[dict[str, Facetrail], Path], name: str, permission: str, call: Call
) -> None:
    apps, work = homes
    for role, application in apps.items():
        refused = False
        try:
            call(application, role, work)
        except PermissionDeniedError:
            refused = True
        except FacetrailError:
            pass  # allowed, then failed on its own terms (no such record, bad input)
        assert refused != access.allowed(role, permission), (name, role, permission)


def test_refusals_are_audited_with_the_permission(homes: tuple[dict[str, Facetrail], Path]) -> None:
    apps, _ = homes
    with pytest.raises(PermissionDeniedError, match="may not"):
        apps[access.AUDITOR].search(b"x", gallery="custody", authorisation=1)
    denied = [e for e in apps[access.AUDITOR].audit_entries() if e["action"] == "access.denied"]
    assert denied[-1]["target"] == "search" and denied[-1]["actor"] == "auditor"
    assert denied[-1]["outcome"] == "refused"


# The facade's own calls and the registered use case each one reaches.
FACADE_USE_CASES = {
    "create_gallery": "Galleries.create",
    "galleries": "Galleries.list",
    "enrol": "Enrolment.enrol",
    "subjects": "Subjects.list",
    "subject": "Subjects.show",
    "subject_photo": "Subjects.photo",
    "delete_subject": "Subjects.delete",
    "export_subject": "RecordExchange.export_subject",
    "export_candidates": "RecordExchange.export_candidates",
    "search": "Search.search",
    "verify": "Verification.verify",
    "authorise": "Authorisations.grant",
    "revoke_authorisation": "Authorisations.revoke",
    "authorisation": "Authorisations.show",
    "authorisations": "Authorisations.list",
    "rebuild_index": "IndexMaintenance.rebuild",
    "verify_audit": "AuditTrail.verify",
    "audit_entries": "AuditTrail.entries",
}


def _use_case(application: Facetrail, name: str) -> str:
    """The registered use case ("Service.method") a CALLS entry reaches."""
    if name in FACADE_USE_CASES:
        return FACADE_USE_CASES[name]
    service, _, method = name.partition(".")
    return f"{type(getattr(application, service).service).__name__}.{method}"


def test_matrix_names_every_permission_and_every_call_is_covered(
    homes: tuple[dict[str, Facetrail], Path],
) -> None:
    tested = {permission for _, permission, _ in CALLS}
    assert tested == set(access.PERMISSIONS)
    for role, granted in access.MATRIX.items():
        assert granted <= set(access.PERMISSIONS), role
    # Walk the registry the use cases fill (not source text): each is called above, by
    # every role, under the permission it declares.
    admin = homes[0][access.ADMINISTRATOR]
    called = {_use_case(admin, name): permission for name, permission, _ in CALLS}
    registry = access.use_cases()
    assert len(registry) >= len(CALLS) - 1
    for use_case, permission in registry.items():
        assert use_case in called, f"{use_case} is not in the matrix test"
        assert called[use_case] == permission, use_case
    public = [
        name
        for name, _ in inspect.getmembers(Facetrail, inspect.isfunction)
        if not name.startswith("_")
    ]
    for name in public:
        assert name in FACADE_USE_CASES or name in UNCHECKED, name


def test_service_objects_calls_are_all_in_the_matrix_test(
    homes: tuple[dict[str, Facetrail], Path],
) -> None:
    apps, _ = homes
    covered = {name for name, _, _ in CALLS} | UNCHECKED
    registry = access.use_cases()
    for service in SERVICES:
        target = getattr(apps[access.ADMINISTRATOR], service).service
        for name, _ in inspect.getmembers(type(target), inspect.isfunction):
            if not name.startswith("_"):
                qualified = f"{type(target).__name__}.{name}"
                assert f"{service}.{name}" in covered, f"{service}.{name}"
                assert qualified in registry or f"{service}.{name}" in UNCHECKED, qualified


def test_unknown_permission_and_role_are_refused() -> None:
    assert not access.allowed(access.ADMINISTRATOR, "everything")
    assert not access.allowed("superuser", "search")
    with pytest.raises(PermissionDeniedError, match="unknown permission"):
        access.check(access.ADMINISTRATOR, "everything", "admin")
    with pytest.raises(PermissionDeniedError, match="unknown role"):
        access.normalise_role("superuser")


def test_single_operator_home_allows_everything_until_bootstrap(tmp_path: Path) -> None:
    application = facetrail.open(tmp_path / "home", user="pc1")
    try:
        application.create_gallery("custody")
        application.require("keys.rotate")  # no accounts: nothing is checked
        assert application.users.whoami()["mode"] == "single-operator"
        application.users.bootstrap("admin", PASSWORD)
        with pytest.raises(PermissionDeniedError, match="FACETRAIL_TOKEN"):
            application.galleries()
        with pytest.raises(PermissionDeniedError, match="already has user accounts"):
            application.users.bootstrap("second", PASSWORD)
    finally:
        application.close()


def test_tokens_wrong_revoked_disabled_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    single = facetrail.open(home)
    issued = single.users.bootstrap("admin", PASSWORD)
    single.close()
    admin = facetrail.open(home, user="admin", token=issued.token)
    admin.users.create("inv", role="investigator", password=PASSWORD)
    with pytest.raises(PermissionDeniedError, match="wrong user name or password"):
        admin.users.token("inv", "not the password")
    token = admin.users.token("inv", PASSWORD)
    forged = token.token[:-4] + ("AAAA" if not token.token.endswith("AAAA") else "BBBB")
    for user, value in (("inv", forged), ("admin", token.token), ("inv", "garbage")):
        other = facetrail.open(home, user=user, token=value)
        with pytest.raises(PermissionDeniedError):
            other.galleries()
        other.close()
    investigator = facetrail.open(home, user="inv", token=token.token)
    assert investigator.galleries() == []
    admin.users.revoke_token(token.token_id, "laptop lost")
    with pytest.raises(PermissionDeniedError, match="revoked"):
        investigator.galleries()
    second = admin.users.token("inv", PASSWORD)
    investigator.close()
    investigator = facetrail.open(home, user="inv", token=second.token)
    assert investigator.galleries() == []
    admin.users.disable("inv", "left the force")
    with pytest.raises(PermissionDeniedError, match=r"revoked|disabled"):
        investigator.galleries()
    investigator.close()
    admin.close()
