"""Verification is authorised like search: kind, validity, revocation, named user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

import facetrail
from facetrail.errors import AuthorisationError, ImageError
from facetrail.facade import Facetrail
from facetrail.store.models import Authorisation
from facetrail.store.types import utcnow

PASSWORD = "a long enough password"
AUTH = {
    "purpose": "compare two photos",
    "case": "OP-7",
    "legal_basis": "common law",
    "necessity": "no other lead",
    "proportionality": "one pair",
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
    apps = {"admin": admin}
    for name, role in (
        ("ao", "authorising_officer"),
        ("inv", "investigator"),
        ("inv2", "investigator"),
        ("aud", "auditor"),
    ):
        admin.users.create(name, role=role, password=PASSWORD, rank="Superintendent")
        apps[name] = facetrail.open(home, user=name, token=admin.users.token(name, PASSWORD).token)
    yield apps
    for application in apps.values():
        application.close()


def _refused(application: Facetrail, authorisation: int | None, match: str) -> None:
    with pytest.raises(AuthorisationError, match=match):
        application.verify(b"a", b"b", authorisation=authorisation)


def test_verify_refuses_missing_revoked_expired_wrong_kind_and_other_user(
    apps: dict[str, Facetrail],
) -> None:
    ao, inv = apps["ao"], apps["inv"]
    _refused(inv, None, "needs an authorisation")
    _refused(inv, 999, "does not exist")
    revoked = ao.authorise(**AUTH, kind="verification", for_user="inv").id
    ao.revoke_authorisation(revoked, "case closed")
    _refused(inv, revoked, "was revoked")
    expired = ao.authorise(**AUTH, kind="verification").id
    with ao.database.transaction() as session:
        session.execute(
            update(Authorisation)
            .where(Authorisation.id == expired)
            .values(valid_until=utcnow() - timedelta(days=1))
        )
    _refused(inv, expired, "expired")
    live = ao.authorise(**AUTH, kind="live_deployment").id
    _refused(inv, live, "is for live_deployment, not verification or retrospective_search")
    for_other = ao.authorise(**AUTH, kind="verification", for_user="inv2").id
    _refused(inv, for_other, "was granted for 'inv2'")
    refusals = [
        e
        for e in apps["aud"].audit_entries()
        if e["action"] == "verify" and e["outcome"] == "refused"
    ]
    assert [e["authorisation_id"] for e in refusals] == [
        None,
        999,
        revoked,
        expired,
        live,
        for_other,
    ]
    assert {e["actor"] for e in refusals} == {"inv"}


def test_a_valid_authorisation_of_either_kind_lets_verify_go_on(apps: dict[str, Facetrail]) -> None:
    ao, inv = apps["ao"], apps["inv"]
    for kind in ("verification", "retrospective_search"):
        granted = ao.authorise(**AUTH, kind=kind, for_user="inv").id
        with pytest.raises(ImageError):  # past the authorisation check, on to decoding
            inv.verify(b"not an image", b"nor this", authorisation=granted)


def test_single_operator_home_checks_an_authorisation_given(tmp_path: Path) -> None:
    application = facetrail.open(tmp_path / "home")
    try:
        application.create_gallery("custody")
        live = application.authorise(
            **AUTH, officer="A", rank="Superintendent", kind="live_deployment"
        )
        _refused(application, live.id, "is for live_deployment")
        revoked = application.authorise(**AUTH, officer="A", rank="Inspector").id
        application.revoke_authorisation(revoked, "done")
        _refused(application, revoked, "was revoked")
        with pytest.raises(ImageError):  # no authorisation needed without accounts
            application.verify(b"x", b"y")
    finally:
        application.close()
