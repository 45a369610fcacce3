"""Appending to and checking the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from facetrail.store.models import AuditEntry
from facetrail.store.oversight_models import AuditHead
from facetrail.store.types import utcnow

GENESIS_HASH = "0" * 64
# Any constant works; it names the PostgreSQL advisory lock that serialises appends.
_AUDIT_LOCK_KEY = 0x0FACE7A11
_LAST_HASH_KEY = "facetrail.audit.last_hash"  # chain end, cached for the open transaction


# The fields an entry's hash covers (every field but the hash itself); exports use them too.
HASHED_FIELDS = (
    "id",
    "occurred_at",
    "actor",
    "action",
    "outcome",
    "authorisation_id",
    "gallery",
    "target",
    "details",
    "prev_hash",
)


def canonical_json(value: Any) -> bytes:
    """The one byte encoding hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hashed_payload(entry: AuditEntry) -> dict[str, Any]:
    """The HASHED_FIELDS of an entry as JSON values (times as ISO 8601, microseconds)."""
    return {
        "id": entry.id,
        "occurred_at": _iso(entry.occurred_at),
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "authorisation_id": entry.authorisation_id,
        "gallery": entry.gallery,
        "target": entry.target,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }


def canonical_encoding(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers."""
    return canonical_json(hashed_payload(entry))


def entry_digest(entry: AuditEntry) -> str:
    """SHA-256 hex digest of the entry's canonical encoding."""
    return hashlib.sha256(canonical_encoding(entry)).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    target: str = "",
    gallery: str | None = None,
    authorisation_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction, chained to the last one."""
    last_hash = session.info.get(_LAST_HASH_KEY)
    if last_hash is None:  # first entry of this transaction: lock, then read the chain's end
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
        last_hash = session.scalar(
            select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
        )
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor=actor,
        action=action,
        outcome=outcome,
        target=target,
        gallery=gallery,
        authorisation_id=authorisation_id,
        details=_jsonable(details or {}),
        prev_hash=last_hash or GENESIS_HASH,
        entry_hash="pending-" + hashlib.sha256(str(utcnow()).encode()).hexdigest()[:56],
    )
    session.add(entry)
    session.flush()  # assigns the id the hash covers
    entry.entry_hash = entry_digest(entry)
    session.flush()
    _advance_head(session, entry)
    session.info[_LAST_HASH_KEY] = entry.entry_hash
    return entry


def _advance_head(session: Session, entry: AuditEntry) -> None:
    """Record the new last entry, so cutting entries off the end is detected."""
    moved = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_id=entry.id, last_hash=entry.entry_hash, entries=AuditHead.entries + 1)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        session.add(AuditHead(id=1, last_id=entry.id, last_hash=entry.entry_hash, entries=1))
        session.flush()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Result of checking the audit chain: ok, or the first entry that does not fit."""

    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session) -> ChainCheck:
    """Recompute every hash in id order; report the first changed, removed or moved entry."""
    previous, previous_id = GENESIS_HASH, 0
    count = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        count += 1
        if entry.prev_hash != previous:
            gap = (
                f"; entries {previous_id + 1}-{entry.id - 1} are missing (removed)"
                if entry.id > previous_id + 1
                else ""
            )
            return ChainCheck(False, count, entry.id, f"does not follow the entry before it{gap}")
        if entry_digest(entry) != entry.entry_hash:
            return ChainCheck(False, count, entry.id, "content does not match its hash")
        previous, previous_id = entry.entry_hash, entry.id
    return _check_head(session, count, previous, previous_id)


def verify_checkpoint(session: Session, last_id: int, last_hash: str, entries: int) -> ChainCheck:
    """The chain must still hold the checkpointed entry, with that hash, after `entries`.

    A checkpoint is kept outside the database, so whoever rewrites the database cannot
    update it: cutting the end off, rewriting and re-chaining, or wiping all fail here.
    """
    chain = verify_chain(session)
    if not chain.ok:
        return chain
    entry = session.get(AuditEntry, last_id)
    if entry is None:
        return ChainCheck(
            False,
            chain.entries,
            last_id,
            f"entry {last_id}, the head at the checkpoint, is gone: the trail was cut back"
            f" or wiped ({chain.entries} entries left)",
        )
    if entry.entry_hash != last_hash:
        return ChainCheck(
            False,
            chain.entries,
            last_id,
            f"entry {last_id} no longer has the hash the checkpoint recorded: entries up to"
            " it were rewritten and re-chained",
        )
    held = session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.id <= last_id))
    if held != entries:
        return ChainCheck(
            False,
            chain.entries,
            last_id,
            f"the checkpoint counted {entries} entries up to entry {last_id}, the trail holds"
            f" {held}",
        )
    return chain


def _check_head(session: Session, count: int, last_hash: str, last_id: int) -> ChainCheck:
    """The chain must end where the head says: otherwise its newest entries were cut off."""
    head = session.get(AuditHead, 1)
    if head is None:
        if count:
            return ChainCheck(False, count, last_id, "the audit head record is missing")
        return ChainCheck(True, count)
    if head.last_id != last_id or head.last_hash != last_hash or head.entries != count:
        if head.last_id > last_id:
            return ChainCheck(
                False,
                count,
                last_id + 1,
                f"entries {last_id + 1}-{head.last_id} were removed from the end (the chain"
                f" ends at entry {last_id}, the head records {head.last_id})",
            )
        return ChainCheck(
            False,
            count,
            head.last_id,
            f"the chain ({count} entries to entry {last_id}) does not match the head"
            f" ({head.entries} entries to entry {head.last_id})",
        )
    return ChainCheck(True, count)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so what is hashed now equals what is read back later.
    return json.loads(json.dumps(details, default=str))
