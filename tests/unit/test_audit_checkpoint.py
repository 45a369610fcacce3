"""An audit checkpoint held outside the database catches what a database writer can hide:
the end cut off (head fixed), a middle entry rewritten and the chain re-hashed, a wipe.
Exports are accepted only from a known signer (public key or pinned fingerprint)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import facetrail
from facetrail.core.audit import canonical_json, entry_digest
from facetrail.interfaces.cli import app as cli_app
from facetrail.services.audit_export import (
    entry_hash,
    key_fingerprint,
    read_public_key,
    sign_document,
    verify_export,
)
from facetrail.store.models import AuditEntry
from facetrail.store.oversight_models import AuditHead

ENTRIES = 6


def _invoke(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, [*args, "--home", str(home)])
    error = result.exception
    shown = "" if error is None or isinstance(error, SystemExit) else str(error)
    return result.exit_code, result.output + shown


def _rechain(session: Session, start_id: int) -> None:
    """Recompute every hash from `start_id` on and fix the head: what a forger would do."""
    previous = session.scalar(
        select(AuditEntry.entry_hash).where(AuditEntry.id < start_id).order_by(AuditEntry.id.desc())
    )
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    for entry in entries:
        if entry.id < start_id:
            continue
        entry.prev_hash = previous or "0" * 64
        entry.entry_hash = entry_digest(entry)
        previous = entry.entry_hash
    head = session.get(AuditHead, 1)
    if head is not None and entries:
        head.last_id, head.last_hash, head.entries = entries[-1].id, previous or "", len(entries)


def _truncate(session: Session) -> None:
    """Cut the newest entries (the checkpointed head among them) and fix the head."""
    session.execute(text("DELETE FROM audit_entries WHERE id >= :i"), {"i": ENTRIES - 1})
    session.expire_all()
    _rechain(session, ENTRIES - 1)  # nothing left to re-hash: only the head is fixed


def _rewrite_middle(session: Session) -> None:
    session.execute(text("UPDATE audit_entries SET actor = 'someone else' WHERE id = 2"))
    session.expire_all()
    _rechain(session, 2)


def _delete_middle(session: Session) -> None:
    session.execute(text("DELETE FROM audit_entries WHERE id = 3"))
    session.expire_all()
    _rechain(session, 3)


def _wipe(session: Session) -> None:
    session.execute(text("DELETE FROM audit_entries"))
    session.execute(text("DELETE FROM audit_head"))


TAMPERING: dict[str, Callable[[Session], None]] = {
    "truncation": _truncate,
    "middle-rewrite-rechained": _rewrite_middle,
    "middle-deleted-rechained": _delete_middle,
    "wipe": _wipe,
}


@pytest.fixture
def checkpointed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A home with ENTRIES entries, a checkpoint of its head, the signing key outside it."""
    key_file = tmp_path / "overseer" / "audit.key"
    monkeypatch.setenv("FACETRAIL_AUDIT_KEY_FILE", str(key_file))
    home = tmp_path / "home"
    application = facetrail.open(home)
    for number in range(ENTRIES):
        application.create_gallery(f"gallery-{number}")
    application.close()
    checkpoint = tmp_path / "checkpoint.json"
    code, output = _invoke(home, "audit", "checkpoint", "--out", str(checkpoint))
    assert code == 0, output
    statement = json.loads(output)
    assert statement["last_id"] == ENTRIES and statement["entries"] == ENTRIES
    assert len(statement["last_hash"]) == 64 and statement["at"]
    assert key_file.is_file()  # the signing key lives outside the home
    assert not (home / "keys" / "audit-signing.key").exists()
    return home, checkpoint, key_file


def test_untouched_chain_verifies_against_its_checkpoint_as_it_grows(
    checkpointed: tuple[Path, Path, Path],
) -> None:
    home, checkpoint, key_file = checkpointed
    application = facetrail.open(home)
    application.create_gallery("later")  # the trail grows past the checkpoint
    application.close()
    code, output = _invoke(
        home, "audit", "verify", "--checkpoint", str(checkpoint), "--public-key",
        str(key_file.with_suffix(".pub")), "--json",
    )  # fmt: skip
    assert code == 0, output
    assert json.loads(output)["ok"] is True


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_every_tampering_passes_plain_verify_but_not_the_checkpoint(
    checkpointed: tuple[Path, Path, Path], tampering: str
) -> None:
    home, checkpoint, _ = checkpointed
    application = facetrail.open(home)
    with application.database.transaction() as session:
        TAMPERING[tampering](session)
    application.close()
    code, output = _invoke(home, "audit", "verify", "--json")
    assert code == 0, f"{tampering} is invisible to the chain alone: {output}"
    code, output = _invoke(home, "audit", "verify", "--checkpoint", str(checkpoint), "--json")
    assert code == 1, output
    result = json.loads(output)
    assert result["ok"] is False and result["problem"]


def test_a_forged_checkpoint_is_refused(checkpointed: tuple[Path, Path, Path]) -> None:
    home, checkpoint, key_file = checkpointed
    document = json.loads(checkpoint.read_text())
    document["last_id"] = 1
    checkpoint.write_text(json.dumps(document))
    code, output = _invoke(home, "audit", "verify", "--checkpoint", str(checkpoint))
    assert code != 0 and "signature" in output
    forged = {k: v for k, v in document.items() if k not in ("signature", "public_key")}
    checkpoint.write_text(json.dumps(sign_document(forged, Ed25519PrivateKey.generate())))
    pinned = key_fingerprint(read_public_key(key_file.with_suffix(".pub")))
    code, output = _invoke(
        home, "audit", "verify", "--checkpoint", str(checkpoint), "--fingerprint", pinned
    )
    assert code != 0 and "not the pinned" in " ".join(output.split())


def test_an_export_re_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    application = facetrail.open(home)
    for number in range(3):
        application.create_gallery(f"g{number}")
    export = tmp_path / "export.json"
    info = application.audit_export.export(export)
    application.close()
    genuine = verify_export(export, info.public_key)
    assert genuine.ok
    assert verify_export(export, fingerprint=info.key_fingerprint).ok
    document = json.loads(export.read_text())
    document["entries"][1]["actor"] = "someone else"  # edit, re-hash and re-sign
    previous = "0" * 64
    for entry in document["entries"]:
        entry["prev_hash"] = previous
        entry["entry_hash"] = previous = entry_hash(entry)
    document["head"]["last_hash"] = previous
    body = {k: v for k, v in document.items() if k not in ("signature", "public_key")}
    forged = tmp_path / "forged.json"
    forged.write_bytes(canonical_json(sign_document(body, Ed25519PrivateKey.generate())))
    assert not verify_export(forged).ok  # no key given: never accepted
    assert "no public key" in verify_export(forged).problem
    assert not verify_export(forged, info.public_key).ok
    pinned = verify_export(forged, fingerprint=info.key_fingerprint)
    assert not pinned.ok and "not the pinned" in pinned.problem
    result = CliRunner().invoke(cli_app, ["audit", "verify-export", str(forged)])
    assert result.exit_code == 1 and "no public key" in " ".join(result.output.split())
