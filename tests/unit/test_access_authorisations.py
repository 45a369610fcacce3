"""Authorisations with accounts: granted only by an authorising officer, never to or used by
the grantor, scoped to a user and watchlists, citing a DPIA in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import facetrail
from facetrail.core.access import PermissionDeniedError
from facetrail.errors import AuthorisationError, InvalidInputError
from facetrail.facade import Facetrail
from facetrail.services.authorisations import check_covers
from facetrail.store.models import Authorisation

PASSWORD = "a long enough password"
AUTH = {
    "purpose": "identify a suspect",
    "case": "OP-9",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one probe",
    "galleries": ["custody"],
}


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[dict[str, Facetrail]]:
    home = tmp_path / "home"
    single = facetrail.open(home)
    single.create_gallery("custody")
    token = single.users.bootstrap("admin", PASSWORD).token
    single.close()
    admin = facetrail.open(home, user="admin", token=token)
    admin.dpias.add("DPIA-1", title="FR", version="1", approved_on=date(2025, 1, 1), approver="DPO")
    admin.dpias.add("DPIA-OLD", title="FR", version="0", approved_on=date(2024, 1, 1), approver="x")
    admin.dpias.withdraw("DPIA-OLD", on=date(2025, 1, 1), reason="superseded")
    opened = {"admin": admin}
    for name, role, rank in (
        ("boss", "authorising_officer", "Superintendent"),
        ("ann", "investigator", "DC"),
        ("bob", "investigator", "DC"),
        ("audrey", "auditor", ""),
    ):
        admin.users.create(name, role=role, password=PASSWORD, rank=rank, display_name=name.title())
        opened[name] = facetrail.open(
            home, user=name, token=admin.users.token(name, PASSWORD).token
        )
    yield opened
    for application in opened.values():
        application.close()


def test_grant_records_the_signed_in_officer_and_refuses_self_grant(
    apps: dict[str, Facetrail],
) -> None:
    info = apps["boss"].authorise(**AUTH, dpia="DPIA-1", for_user="ann", offence_category="theft")
    assert (info.officer_name, info.officer_rank, info.created_by) == (
        "Boss",
        "Superintendent",
        "boss",
    )
    assert info.for_user == "ann" and info.offence_category == "theft"
    with pytest.raises(AuthorisationError, match="themselves"):
        apps["boss"].authorise(**AUTH, for_user="boss")
    with pytest.raises(InvalidInputError, match="signed in as"):
        apps["boss"].authorise(**AUTH, officer="Someone Else")
    with pytest.raises(PermissionDeniedError):
        apps["ann"].authorise(**AUTH, for_user="bob")
    with pytest.raises(InvalidInputError, match="withdrawn"):
        apps["boss"].authorise(**AUTH, dpia="DPIA-OLD")
    refusals = [e for e in apps["audrey"].audit_entries() if e["action"] == "authorisation.grant"]
    assert [e["outcome"] for e in refusals] == ["ok", "refused", "failed", "failed"]


def test_use_is_limited_to_the_named_user_and_refusals_audited(apps: dict[str, Facetrail]) -> None:
    info = apps["boss"].authorise(**AUTH, for_user="ann")
    with pytest.raises(AuthorisationError, match="granted for 'ann'"):
        apps["bob"].search(b"probe", gallery="custody", authorisation=info.id)
    apps["boss"].revoke_authorisation(info.id, "case closed")
    with pytest.raises(AuthorisationError, match="revoked"):
        apps["ann"].search(b"probe", gallery="custody", authorisation=info.id)
    searches = [e for e in apps["audrey"].audit_entries() if e["action"] == "search"]
    assert [(e["actor"], e["outcome"]) for e in searches] == [
        ("bob", "refused"),
        ("ann", "refused"),
    ]
    assert apps["ann"].authorisation(info.id).revoked_by == "boss"


def test_grantor_and_watchlist_scope_in_check_covers(apps: dict[str, Facetrail]) -> None:
    info = apps["boss"].authorise(
        **{**AUTH, "galleries": ["custody"]}, kind="live_deployment", watchlists=["wanted"]
    )
    with apps["admin"].database.reader() as session:
        record = session.get(Authorisation, info.id)
        assert record is not None
        _ = record.galleries
        covers = {"authorisation_id": info.id, "kind": "live_deployment", "gallery": "custody"}
        check_covers(record, **covers, watchlist="wanted", actor="ann")
        with pytest.raises(AuthorisationError, match="watchlist 'other'"):
            check_covers(record, **covers, watchlist="other")
        with pytest.raises(AuthorisationError, match="may not use it"):
            check_covers(record, **covers, actor="boss")
