"""Once a home has two administrators, a new administrator or authorising officer account
waits for a second administrator's approval: one administrator alone cannot mint the
accounts that grant authorisations and then use them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import facetrail
from facetrail.core.access import PermissionDeniedError

PASSWORD = "a long enough password"


def test_powerful_accounts_need_a_second_administrator(tmp_path: Path) -> None:
    home = tmp_path / "home"
    single = facetrail.open(home)
    first = facetrail.open(
        home, user="admin", token=single.users.bootstrap("admin", PASSWORD).token
    )
    single.close()
    # With one administrator an account is usable at once (how a home is set up).
    assert not first.users.create(
        "admin2", role="administrator", password=PASSWORD
    ).pending_approval
    second = facetrail.open(home, user="admin2", token=first.users.token("admin2", PASSWORD).token)
    try:
        minted = first.users.create("crony", role="authorising_officer", password=PASSWORD)
        assert minted.pending_approval and not minted.active
        with pytest.raises(PermissionDeniedError, match="awaits a second administrator"):
            first.users.token("crony", PASSWORD)
        with pytest.raises(PermissionDeniedError, match="a second administrator must approve"):
            first.users.approve("crony")
        # Ordinary roles need no approval.
        assert not first.users.create("pc", role="operator", password=PASSWORD).pending_approval
        approved = second.users.approve("crony")
        assert approved.active and not approved.pending_approval
        assert first.users.token("crony", PASSWORD).token
        first.users.create("aud", role="auditor", password=PASSWORD)
        auditor = facetrail.open(home, user="aud", token=first.users.token("aud", PASSWORD).token)
        try:
            events = [
                (e["action"], e["target"], e["actor"])
                for e in auditor.audit_entries()
                if e["action"] in ("users.create", "users.approve") and e["target"] == "crony"
            ]
            today = date.today()
            accounts = auditor.reports.foi(today, today)["account_events"]
        finally:
            auditor.close()
        assert events == [("users.create", "crony", "admin"), ("users.approve", "crony", "admin2")]
        assert [(a["action"], a["actor"]) for a in accounts if a["account"] == "crony"] == [
            ("users.create", "admin"),
            ("users.approve", "admin2"),
        ]
    finally:
        first.close()
        second.close()
