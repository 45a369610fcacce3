"""The router's log: one hash-chained JSON line per forwarded message, metadata only.

Entries older than the retention period are dropped from the front; the hash the first
kept entry chains to is kept in an anchor file, so the rest still verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from facetrail.store.types import utcnow

GENESIS = "0" * 64
# The only fields an entry may hold: who, when, what kind, outcome, counts. Never content.
FIELDS = (
    "at",
    "request_id",
    "kind",
    "from",
    "to",
    "outcome",
    "http_status",
    "answer_status",
    "hits",
    "ms",
)


@dataclass(frozen=True, slots=True)
class LogCheck:
    """Whether the log's chain holds, over how many entries, and the first that breaks it."""

    ok: bool
    entries: int
    problem: str = ""


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


class RouterLog:
    """Append-only, hash-chained, retention-pruned log in one folder."""

    def __init__(self, folder: Path, retention_days: int = 90) -> None:
        if retention_days < 1:
            raise ValueError("retention must be at least one day")
        self.path = folder / "router-log.jsonl"
        self.anchor = folder / "router-log.anchor"
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    def append(self, **fields: Any) -> dict[str, Any]:
        """Add one entry (unknown fields refused: nothing but metadata gets in)."""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"router log fields {sorted(unknown)} are not metadata")
        with self._lock:
            entries = self._read()
            previous = entries[-1]["hash"] if entries else self._anchor()
            entry = {k: fields.get(k) for k in FIELDS if k != "at"}
            entry["at"] = utcnow().isoformat()
            entry["prev"] = previous
            entry["hash"] = _digest(entry)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            return entry

    def prune(self, now: datetime | None = None) -> int:
        """Drop entries past retention; returns how many were dropped."""
        cutoff = (now or utcnow()) - self.retention
        with self._lock:
            entries = self._read()
            keep = [e for e in entries if datetime.fromisoformat(e["at"]) >= cutoff]
            dropped = len(entries) - len(keep)
            if dropped:
                anchor = keep[0]["prev"] if keep else entries[-1]["hash"]
                self._replace(self.anchor, anchor)
                self._replace(
                    self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in keep)
                )
            return dropped

    def entries(self) -> list[dict[str, Any]]:
        """Every kept entry, oldest first."""
        with self._lock:
            return self._read()

    def verify(self) -> LogCheck:
        """Recompute the chain from the anchor."""
        entries = self.entries()
        previous = self._anchor()
        for number, entry in enumerate(entries, 1):
            if entry.get("prev") != previous:
                return LogCheck(
                    False, len(entries), f"entry {number} does not follow the one before"
                )
            if _digest(entry) != entry.get("hash"):
                return LogCheck(False, len(entries), f"entry {number} does not match its hash")
            previous = entry["hash"]
        return LogCheck(True, len(entries))

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _anchor(self) -> str:
        return self.anchor.read_text().strip() if self.anchor.exists() else GENESIS

    @staticmethod
    def _replace(path: Path, text: str) -> None:
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
