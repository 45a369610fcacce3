"""This node's identity on disk: name, Ed25519 key, TLS key and certificate (keys 0600)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.security.signing import fingerprint, new_private_key, public_pem
from facetrail.security.tls import certificate_fingerprint, self_signed

FOLDER = "federation"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """The node's name, keys and certificate, as partners are told them."""

    name: str
    private_key: bytes = field(repr=False)
    public_key: str
    fingerprint: str
    certificate: bytes
    certificate_path: Path
    tls_key_path: Path
    tls_fingerprint: str


def check_node_name(name: str, what: str = "node name") -> str:
    """The name if it is 1-100 letters, digits, '_', '.', '-' (first a letter or digit)."""
    if not NAME.fullmatch(name or ""):
        raise InvalidInputError(
            f"{what} {name!r} must be 1-100 letters, digits, '_', '.' or '-' (e.g. UK-MPS)"
        )
    return name


def folder(home: Path) -> Path:
    """Where a home keeps its node identity."""
    return home / FOLDER


def create_identity(home: Path, name: str, *, replace: bool = False) -> NodeIdentity:
    """Make a key pair and a self-signed certificate for `name`; refuses to overwrite one."""
    check_node_name(name)
    target = folder(home)
    if (target / "node.json").exists() and not replace:
        existing = load_identity(home)
        raise InvalidInputError(
            f"this home already is node {existing.name!r} (fingerprint {existing.fingerprint});"
            " partners hold its key: pass --replace to make a new identity"
        )
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    key = new_private_key()
    tls_key, certificate = self_signed(name)
    _write(target / "node_key.pem", key, 0o600)
    _write(target / "tls_key.pem", tls_key, 0o600)
    _write(target / "tls_cert.pem", certificate, 0o644)
    _write(target / "node.json", json.dumps({"name": name}).encode(), 0o644)
    return load_identity(home)


def load_identity(home: Path) -> NodeIdentity:
    """The node identity of a home, or NotFoundError naming the command that makes one."""
    target = folder(home)
    try:
        name = json.loads((target / "node.json").read_text())["name"]
        key = (target / "node_key.pem").read_bytes()
        certificate = (target / "tls_cert.pem").read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"{home} has no node identity: run `facetrail node init --name NAME`"
        ) from None
    public = public_pem(key)
    return NodeIdentity(
        name=name,
        private_key=key,
        public_key=public,
        fingerprint=fingerprint(public),
        certificate=certificate,
        certificate_path=target / "tls_cert.pem",
        tls_key_path=target / "tls_key.pem",
        tls_fingerprint=certificate_fingerprint(certificate),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file created with `mode`, then rename over `path`."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
