"""The router's log: metadata only, hash-chained, pruned by retention without breaking the chain."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from facetrail.store.router_log import RouterLog
from facetrail.store.types import utcnow


def _entry(log: RouterLog, number: int) -> None:
    log.append(
        request_id=f"r{number}", kind="search", outcome="forwarded", http_status=200,
        answer_status="hit", hits=1, ms=3.0, **{"from": "A", "to": "B"},
    )  # fmt: skip


def test_chain_verifies_and_detects_an_edit(tmp_path: Path) -> None:
    log = RouterLog(tmp_path)
    for number in range(3):
        _entry(log, number)
    assert log.verify().ok and log.verify().entries == 3
    lines = log.path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["hits"] = 0
    lines[1] = json.dumps(edited, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n")
    check = log.verify()
    assert not check.ok and "entry 2" in check.problem


def test_only_metadata_fields_get_in(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not metadata"):
        RouterLog(tmp_path).append(request_id="r", payload="AAAA")


def test_retention_drops_old_entries_and_the_rest_still_verifies(tmp_path: Path) -> None:
    log = RouterLog(tmp_path, retention_days=7)
    for number in range(4):
        _entry(log, number)
    assert log.prune(utcnow() + timedelta(days=3)) == 0
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    # Age the first two entries past retention (rewriting their hashes, so the chain holds).
    from facetrail.store.router_log import GENESIS, _digest

    previous = GENESIS
    for index, entry in enumerate(lines):
        if index < 2:
            entry["at"] = (utcnow() - timedelta(days=30)).isoformat()
        entry["prev"] = previous
        entry["hash"] = _digest(entry)
        previous = entry["hash"]
    log.path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in lines))
    assert log.verify().ok
    assert log.prune() == 2
    assert [e["request_id"] for e in log.entries()] == ["r2", "r3"]
    assert log.verify().ok  # anchored at the hash the first kept entry follows
    _entry(log, 4)
    assert log.verify().ok and log.verify().entries == 3
