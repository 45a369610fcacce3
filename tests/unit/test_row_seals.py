"""Security rows changed behind facetrail's back (role raised, token revived, authorisation
widened, account inserted) are refused where used and reported by `audit verify`
(SQLite, PostgreSQL); the MAC key lives in a file, not in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import facetrail
from facetrail.core.access import PermissionDeniedError
from facetrail.errors import AuthorisationError
from facetrail.facade import Facetrail

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
def home(database_url: str, tmp_path: Path) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A home with an administrator, an authorising officer and two investigators."""
    folder = tmp_path / "home"
    single = facetrail.open(folder, database_url=database_url)
    single.create_gallery("custody")
    tokens = {"admin": single.users.bootstrap("admin", PASSWORD).token}
    single.close()
    admin = facetrail.open(folder, database_url=database_url, user="admin", token=tokens["admin"])
    roles = {"ao": "authorising_officer", "inv": "investigator", "inv2": "investigator"}
    for name, role in {**roles, "aud": "auditor"}.items():
        admin.users.create(name, role=role, password=PASSWORD, rank="Superintendent")
        tokens[name] = admin.users.token(name, PASSWORD).token
    admin.close()
    yield folder, database_url, tokens


def _open(home: tuple[Path, str, dict[str, str]], user: str) -> Facetrail:
    folder, url, tokens = home
    return facetrail.open(folder, database_url=url, user=user, token=tokens[user])


def _sql(home: tuple[Path, str, dict[str, str]], statement: str) -> None:
    application = _open(home, "admin")
    try:
        with application.database.engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        application.close()


def test_the_mac_key_is_a_file_outside_the_database_and_clean_rows_verify(
    home: tuple[Path, str, dict[str, str]],
) -> None:
    assert (home[0] / "keys" / "row-mac.key").is_file()
    auditor_check = _open(home, "admin").verify_audit()
    assert auditor_check.ok, auditor_check.problem


def test_a_role_raised_in_the_database_is_refused_at_use_and_reported(
    home: tuple[Path, str, dict[str, str]],
) -> None:
    _sql(home, "UPDATE users SET role = 'administrator' WHERE name = 'inv'")
    raised = _open(home, "inv")
    try:
        with pytest.raises(PermissionDeniedError, match="changed outside facetrail"):
            raised.users.list()
    finally:
        raised.close()
    admin = _open(home, "admin")
    try:
        check = admin.verify_audit()
        assert not check.ok and "users" in check.problem and "MAC" in check.problem
    finally:
        admin.close()
    auditor = _open(home, "aud")
    try:
        denied = [e for e in auditor.audit_entries() if e["action"] == "access.denied"]
        assert "changed outside facetrail" in denied[-1]["details"]["reason"]
    finally:
        auditor.close()


def test_a_revoked_token_revived_in_the_database_is_refused(
    home: tuple[Path, str, dict[str, str]],
) -> None:
    admin = _open(home, "admin")
    try:
        token_id = int(home[2]["inv2"].split("_")[1])
        admin.users.revoke_token(token_id, "lost")
    finally:
        admin.close()
    _sql(home, f"UPDATE api_tokens SET revoked_at = NULL WHERE id = {token_id}")
    revived = _open(home, "inv2")
    try:
        with pytest.raises(PermissionDeniedError, match="changed outside facetrail"):
            revived.subjects("custody")
    finally:
        revived.close()


def test_an_authorisation_widened_in_the_database_is_refused(
    home: tuple[Path, str, dict[str, str]],
) -> None:
    officer = _open(home, "ao")
    try:
        granted = officer.authorise(**AUTH, kind="verification", for_user="inv2").id
    finally:
        officer.close()
    _sql(home, f"UPDATE authorisations SET requested_by = 'inv' WHERE id = {granted}")
    investigator = _open(home, "inv")
    try:
        with pytest.raises(AuthorisationError, match="changed outside facetrail"):
            investigator.verify(b"a", b"b", authorisation=granted)
    finally:
        investigator.close()
