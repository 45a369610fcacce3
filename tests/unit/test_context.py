"""The caller Context: fresh per call, re-checked, refusals audited under the name given."""

from __future__ import annotations

from pathlib import Path

import pytest

import facetrail
from facetrail.core.access import PermissionDeniedError

PASSWORD = "a long enough password"


def test_each_call_gets_a_fresh_request_id_and_the_same_caller(tmp_path: Path) -> None:
    application = facetrail.open(tmp_path / "home", user="pc1")
    try:
        first, second = application.context(), application.context()
        assert first.actor == second.actor == "pc1"
        assert first.request_id != second.request_id
        assert not first.signed_in
    finally:
        application.close()


def test_a_token_revoked_after_sign_in_is_refused_and_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    single = facetrail.open(home)
    admin_token = single.users.bootstrap("admin", PASSWORD).token
    single.close()
    admin = facetrail.open(home, user="admin", token=admin_token)
    admin.users.create("inv", role="investigator", password=PASSWORD)
    admin.users.create("aud", role="auditor", password=PASSWORD)
    issued = admin.users.token("inv", PASSWORD)
    auditor = facetrail.open(home, user="aud", token=admin.users.token("aud", PASSWORD).token)
    investigator = facetrail.open(home, user="inv", token=issued.token)
    try:
        assert investigator.galleries() == []  # signed in: the token's secret was checked
        admin.users.revoke_token(issued.token_id, "laptop lost")
        with pytest.raises(PermissionDeniedError, match="revoked"):
            investigator.galleries()
        denied = [e for e in auditor.audit_entries() if e["action"] == "access.denied"]
        assert denied[-1]["actor"] == "inv" and "revoked" in denied[-1]["details"]["reason"]
        # A static helper of a service is passed through without a context.
        assert admin.users.check_exists.__qualname__ == "UserService.check_exists"
    finally:
        for application in (investigator, auditor, admin):
            application.close()
