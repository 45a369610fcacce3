"""Sealed homes stay sealed: without the key nothing is written; nothing is readable by others."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import facetrail
from facetrail.security import keyring as crypto

REFERENCES = "video/references"


def _cli(
    home: Path, *args: str, key: str | None = None, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACETRAIL_KEY")}
    if key:
        env["FACETRAIL_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        input="correct horse battery staple\n",  # for --password-stdin
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def _state(home: Path) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """Every file but the database (content hash, mtime) and the database's rows."""
    files = {
        str(p.relative_to(home)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.startswith("facetrail.db")
    }
    with sqlite3.connect(f"file:{home / 'facetrail.db'}?mode=ro", uri=True) as connection:
        rows = list(connection.iterdump())
    return files, rows


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, str]:
    """An encrypted home with a gallery, an authorisation and a deletion request."""
    key = crypto.generate_key()
    home = tmp_path_factory.mktemp("sealed") / "home"
    app = facetrail.open(home, key=key)
    try:
        app.enrol(shared_data / REFERENCES, gallery="watch", legal_basis="test")
        app.authorise(
            purpose="p", case="c", legal_basis="l", necessity="n", proportionality="p",
            officer="R. Patel", rank="Superintendent", galleries=["watch"],
        )  # fmt: skip
        app.deletions.request(gallery="watch", subject="Joe_Biden", requester="r", grounds="g")
    finally:
        app.close()
    return home, key


def _writing_commands(shared_data: Path) -> list[list[str]]:
    photo = str(shared_data / REFERENCES / "Joe_Biden" / "biden.jpg")
    return [
        ["enrol", photo, "--gallery", "watch", "--subject", "Joe_Biden_2", "--legal-basis", "t"],
        ["enrol", photo, "--gallery", "fresh", "--subject", "x", "--legal-basis", "t"],
        ["galleries", "create", "other"],
        ["subjects", "delete", "Joe_Biden", "--gallery", "watch"],
        ["deletion", "decide", "1", "--grant", "--reason", "r"],
        [
            "deletion",
            "request",
            "--gallery",
            "watch",
            "--subject",
            "Elon_Musk",
            "--requester",
            "r",
            "--grounds",
            "g",
        ],
        ["retention", "policy", "set", "--days", "30", "--gallery", "watch"],
        ["retention", "run"],
        ["index", "rebuild"],
        [
            "authorise",
            "--purpose",
            "p",
            "--case",
            "c",
            "--legal-basis",
            "l",
            "--necessity",
            "n",
            "--proportionality",
            "p",
            "--gallery",
            "watch",
            "--officer",
            "o",
            "--rank",
            "r",
        ],
        ["watchlist", "create", "w", "--gallery", "watch", "--reason", "r"],
        ["users", "bootstrap", "--name", "admin", "--password-stdin"],
        [
            "dpia",
            "add",
            "D-1",
            "--title",
            "t",
            "--version",
            "1",
            "--approved-on",
            "2026-01-01",
            "--approver",
            "DPO",
        ],
        ["repair"],
    ]


@pytest.mark.slow
def test_without_the_key_every_writing_command_is_refused_before_any_write(
    sealed: tuple[Path, str], shared_data: Path
) -> None:
    home, key = sealed
    before = _state(home)
    wrong = crypto.generate_key()
    for command in _writing_commands(shared_data):
        keyless = _cli(home, *command)
        assert keyless.returncode != 0, command
        assert "encrypted" in keyless.stderr, (command, keyless.stderr)
        assert "nothing was written" in " ".join(keyless.stderr.split()), command
        other = _cli(home, *command, key=wrong)
        assert other.returncode != 0, command
        message = " ".join(other.stderr.split())
        assert "not in the configured keyring" in message, (command, other.stderr)
        assert _state(home) == before, f"{command} changed the home"
    # Reading what needs no key still works, and the right key may write.
    listed = _cli(home, "subjects", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert _state(home) == before
    allowed = _cli(home, "galleries", "create", "other", key=key)
    assert allowed.returncode == 0, allowed.stderr


def _exposed(home: Path) -> list[str]:
    """Files and folders under (and including) the home that other users may read or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {oct(mode)}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_no_file_or_folder_is_readable_by_other_users_whatever_the_umask(
    tmp_path: Path, shared_data: Path, umask: int
) -> None:
    home = tmp_path / "home"
    key = crypto.generate_key()
    enrolled = _cli(home, "enrol", str(shared_data / REFERENCES), "--gallery", "watch",
                    "--legal-basis", "test", key=key, umask=umask)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    made = _cli(home, "watchlist", "create", "w", "--gallery", "watch", "--reason", "r",
                key=key, umask=umask)  # fmt: skip
    assert made.returncode == 0, made.stderr
    exported = _cli(home, "audit", "export", str(home / "exports" / "audit.json"),
                    key=key, umask=umask)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert (home / "facetrail.db").is_file() and list((home / "photos").rglob("*.*"))
    assert _exposed(home) == []


def test_an_existing_home_is_tightened_when_opened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _cli(home, "init", umask=0o022).returncode == 0
    os.chmod(home, 0o755)
    assert _cli(home, "subjects", "list", umask=0o022).returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
