"""Sealed homes stay sealed: the home records that it is encrypted and under which keys.

`sealing.json` in the home names the key new data must be sealed with (its fingerprint,
never the key). A process without that key may read what needs no key (lists, reports),
but every use case that writes is refused before it writes anything, so it can never
add plaintext photos, templates or index files to an encrypted home. A home encrypted
before this record existed is recognised by its sealed templates or index files.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from facetrail.security.keyring import Keyring, is_sealed
from facetrail.store.database import Database
from facetrail.store.files import write_atomic
from facetrail.store.models import Template

SEAL_FILE = "sealing.json"
# Use cases that neither write to the home nor need the key: allowed without it.
READ_ONLY_PERMISSIONS = frozenset(
    {
        "gallery.read",
        "subjects.read",
        "authorisation.read",
        "audit.read",
        "audit.verify",
        "deletion.read",
        "dpia.read",
        "report.dpia_check",
        "report.deployment",
        "retention.read",
        "users.read",
        "watchlist.read",
    }
)


def read_record(home: Path) -> dict[str, object] | None:
    """The home's sealing record, or None when it has none."""
    path = home / SEAL_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"encrypted": True, "current_key": None, "keys": []}  # damaged: assume sealed
    return record if isinstance(record, dict) else {"encrypted": True}


def is_sealed_home(home: Path) -> bool:
    """Whether the home records that it is encrypted at rest."""
    record = read_record(home)
    return bool(record and record.get("encrypted"))


def write_record(home: Path, current: str, keys: list[str]) -> None:
    """Record that the home is encrypted, new data under `current` (fingerprints only)."""
    record = {"encrypted": True, "current_key": current, "keys": sorted(set(keys))}
    write_atomic(home / SEAL_FILE, (json.dumps(record, indent=1) + "\n").encode())


def holds_sealed_data(database: Database, index_dir: Path) -> bool:
    """Whether templates or index files are sealed (a home encrypted before the record)."""
    try:
        with database.reader() as session:
            sample = session.scalar(select(Template.vector).limit(1))
    except Exception:
        sample = None
    if sample is not None and is_sealed(sample):
        return True
    for path in sorted(index_dir.glob("*.faiss")) if index_dir.is_dir() else []:
        with path.open("rb") as stream:
            if is_sealed(stream.read(64)):
                return True
    return False


def seal_refusal(
    home: Path, keyring: Keyring | None, database: Database, index_dir: Path
) -> str | None:
    """Why this process may not write to the home (None: it may), recording a new seal."""
    record = read_record(home)
    sealed = bool(record and record.get("encrypted"))
    current = str(record.get("current_key") or "") if record else ""
    if keyring is None:
        if sealed or (record is None and holds_sealed_data(database, index_dir)):
            return (
                f"this home is encrypted at rest{f' (key {current})' if current else ''}:"
                " set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE to change anything in it;"
                " nothing was written"
            )
        return None
    if not sealed:
        write_record(home, keyring.fingerprints[0], keyring.fingerprints)
        return None
    if current and current not in keyring.fingerprints:
        return (
            f"this home is sealed under key {current}, which is not in the configured keyring"
            " ($FACETRAIL_KEY / $FACETRAIL_KEY_FILE); nothing was written"
        )
    known = _keys(record)
    if not set(keyring.fingerprints) <= set(known):
        write_record(home, current or keyring.fingerprints[0], known + keyring.fingerprints)
    return None


def _keys(record: dict[str, object] | None) -> list[str]:
    keys = record.get("keys") if record else None
    return [str(k) for k in keys] if isinstance(keys, list) else []


def record_rotation(home: Path, keyring: Keyring) -> None:
    """After `keys rotate`: new data is sealed under the keyring's first key."""
    known = _keys(read_record(home))
    write_record(home, keyring.fingerprints[0], known + keyring.fingerprints)
