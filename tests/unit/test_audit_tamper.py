"""Tampering with the audit trail behind facetrail's back is found and named (SQLite, PostgreSQL);
signed exports verify offline and fail when altered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from typer.testing import CliRunner

import facetrail
from facetrail.facade import Facetrail
from facetrail.interfaces.cli import app as cli_app
from facetrail.services.audit_export import entry_hash, verify_export

ENTRIES = 6
COLUMNS = ("occurred_at", "actor", "action", "outcome", "authorisation_id", "gallery", "target",
           "details", "prev_hash", "entry_hash")  # fmt: skip


@pytest.fixture
def trail(database_url: str, tmp_path: Path) -> Iterator[tuple[Facetrail, list[int]]]:
    """A home whose audit trail holds ENTRIES entries (one per created gallery)."""
    application = facetrail.open(tmp_path / "home", database_url=database_url, user="pc1")
    for number in range(ENTRIES):
        application.create_gallery(f"gallery-{number}")
    ids = [e["id"] for e in application.audit_entries()]
    assert len(ids) == ENTRIES
    yield application, ids
    application.close()


def _edit(c: Connection, ids: list[int]) -> int:
    c.execute(text("UPDATE audit_entries SET target = 'edited' WHERE id = :i"), {"i": ids[2]})
    return ids[2]


def _delete_middle(c: Connection, ids: list[int]) -> int:
    c.execute(text("DELETE FROM audit_entries WHERE id = :i"), {"i": ids[3]})
    return ids[4]  # the first entry that no longer follows its predecessor


def _delete_first(c: Connection, ids: list[int]) -> int:
    c.execute(text("DELETE FROM audit_entries WHERE id = :i"), {"i": ids[0]})
    return ids[1]


def _delete_last(c: Connection, ids: list[int]) -> int:
    c.execute(text("DELETE FROM audit_entries WHERE id = :i"), {"i": ids[-1]})
    return ids[-1]  # named as removed from the end, from the audit head


def _reorder(c: Connection, ids: list[int]) -> int:
    """Swap the contents of entries 2 and 3, keeping their ids (the order changes)."""
    cols = ", ".join(COLUMNS)
    rows = {
        i: c.execute(text(f"SELECT {cols} FROM audit_entries WHERE id = :i"), {"i": i}).one()
        for i in (ids[1], ids[2])
    }
    c.execute(text("UPDATE audit_entries SET entry_hash = 'x' || id WHERE id IN (:a, :b)"),
              {"a": ids[1], "b": ids[2]})  # fmt: skip
    for target, source in ((ids[1], ids[2]), (ids[2], ids[1])):
        values = dict(zip(COLUMNS, rows[source], strict=True))
        if not isinstance(values["details"], str):
            values["details"] = json.dumps(values["details"])
        assignments = ", ".join(f"{col} = :{col}" for col in COLUMNS)
        c.execute(
            text(f"UPDATE audit_entries SET {assignments} WHERE id = :id"),
            {**values, "id": target},
        )
    return ids[1]


TAMPERS: dict[str, Callable[[Connection, list[int]], int]] = {
    "edit": _edit,
    "delete-middle": _delete_middle,
    "delete-first": _delete_first,
    "delete-last": _delete_last,
    "reorder": _reorder,
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_with_one_entry_is_named(trail: tuple[Facetrail, list[int]], tamper: str) -> None:
    application, ids = trail
    assert application.verify_audit().ok
    with application.database.engine.begin() as connection:
        named = TAMPERS[tamper](connection, ids)
    check = application.verify_audit()
    assert not check.ok
    assert check.first_bad_id == named, check
    if tamper.startswith("delete"):
        assert "removed" in check.problem or "follow" in check.problem


def test_untouched_trail_verifies_and_export_round_trips(
    trail: tuple[Facetrail, list[int]], tmp_path: Path
) -> None:
    application, _ = trail
    check = application.verify_audit()
    assert check.ok and check.entries == ENTRIES
    info = application.audit_export.export(tmp_path / "export.json")
    assert info.entries == ENTRIES and info.chain_ok
    public = Path(info.public_key_file).read_text().strip()
    result = verify_export(tmp_path / "export.json", public)
    assert result.ok and result.signature_ok and result.entries == ENTRIES
    # The offline verifier hashes exactly as the database chain does.
    exported = json.loads((tmp_path / "export.json").read_text())["entries"]
    assert [entry_hash(e) for e in exported] == [e["entry_hash"] for e in exported]


def test_altered_export_fails_naming_the_entry(
    trail: tuple[Facetrail, list[int]], tmp_path: Path
) -> None:
    application, ids = trail
    path = tmp_path / "export.json"
    info = application.audit_export.export(path)
    document = json.loads(path.read_text())

    edited = json.loads(json.dumps(document))
    edited["entries"][2]["actor"] = "someone else"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    check = verify_export(tmp_path / "edited.json", info.public_key)
    assert not check.ok and not check.signature_ok and check.first_bad_id == ids[2]

    # Re-hashing the whole chain after an edit still breaks the signature.
    rehashed = json.loads(json.dumps(document))
    previous = "0" * 64
    rehashed["entries"][1]["target"] = "rewritten"
    for entry in rehashed["entries"]:
        entry["prev_hash"] = previous
        entry["entry_hash"] = previous = entry_hash(entry)
    rehashed["head"]["last_hash"] = previous
    (tmp_path / "rehashed.json").write_text(json.dumps(rehashed))
    check = verify_export(tmp_path / "rehashed.json", info.public_key)
    assert not check.ok and not check.signature_ok and check.first_bad_id is None

    dropped = json.loads(json.dumps(document))
    del dropped["entries"][-1]
    (tmp_path / "dropped.json").write_text(json.dumps(dropped))
    assert verify_export(tmp_path / "dropped.json", info.public_key).first_bad_id == ids[-1]

    other_key = "A" * 43 + "="
    assert not verify_export(path, other_key).ok


def test_cli_audit_verify_and_verify_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    for name in ("a", "b", "c"):
        assert (
            runner.invoke(cli_app, ["galleries", "create", name, "--home", str(home)]).exit_code
            == 0
        )
    export = tmp_path / "export.json"
    result = runner.invoke(cli_app, ["audit", "export", str(export), "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    pub = json.loads(result.output)["public_key_file"]
    ok = runner.invoke(cli_app, ["audit", "verify-export", str(export), "--public-key", pub])
    assert ok.exit_code == 0 and "intact" in ok.output
    text_ = export.read_text().replace('"gallery":"b"', '"gallery":"B"')
    assert text_ != export.read_text()
    export.write_text(text_)
    bad = runner.invoke(cli_app, ["audit", "verify-export", str(export), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["first_bad_id"] == 2

    application = facetrail.open(home)
    with application.database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET actor = 'x' WHERE id = 2"))
    application.close()
    broken = runner.invoke(cli_app, ["audit", "verify", "--home", str(home), "--json"])
    assert broken.exit_code == 1 and json.loads(broken.output)["first_bad_id"] == 2
