"""The nodes a router forwards between: name, URL and Ed25519 public key, in one JSON file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.security.signing import fingerprint, load_public_key, new_private_key, public_pem
from facetrail.security.tls import check_certificate, self_signed
from facetrail.store.node_identity import check_node_name

FILE = "router-nodes.json"


@dataclass(frozen=True, slots=True)
class RouterNode:
    """One node the router knows."""

    name: str
    url: str
    public_key: str
    fingerprint: str
    tls_certificate: str | None = None  # pinned when the node's URL is https


def load_nodes(folder: Path) -> dict[str, RouterNode]:
    """Every registered node by name (none for a new router home)."""
    path = folder / FILE
    if not path.exists():
        return {}
    return {n["name"]: RouterNode(**n) for n in json.loads(path.read_text())}


def add_node(
    folder: Path, name: str, url: str, public_key: str, tls_certificate: str | None = None
) -> RouterNode:
    """Register (or replace) a node; its key is checked to be Ed25519."""
    check_node_name(name)
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"--url must be http(s)://host:port, got {url!r}")
    load_public_key(public_key, f"{name}'s public key")
    if tls_certificate:
        check_certificate(tls_certificate.encode(), name)
    elif url.startswith("https://"):
        raise InvalidInputError("an https node needs its certificate to pin: --tls-certificate")
    node = RouterNode(
        name, url.rstrip("/"), public_key.strip() + "\n", fingerprint(public_key), tls_certificate
    )
    nodes = load_nodes(folder)
    nodes[name] = node
    _save(folder, nodes)
    return node


def router_certificate(folder: Path) -> tuple[Path, Path]:
    """(key, certificate) paths of the router's own TLS identity, made on first use."""
    key, certificate = folder / "router-tls-key.pem", folder / "router-tls-cert.pem"
    if not certificate.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_pem, certificate_pem = self_signed("facetrail-router")
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key_pem)
        certificate.write_bytes(certificate_pem)
    return key, certificate


def router_signing_key(folder: Path) -> tuple[bytes, str]:
    """(private PEM, public PEM) of the router's Ed25519 key, made on first use.

    The router signs its own answers (refusals, timeouts) with it; nodes verify them with
    the public half (`facetrail router key`), given as --router-key.
    """
    path = folder / "router-key.pem"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / "router-key.pem.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(new_private_key())
        os.replace(temporary, path)
    private = path.read_bytes()
    return private, public_pem(private)


def remove_node(folder: Path, name: str) -> None:
    """Forget a node."""
    nodes = load_nodes(folder)
    if name not in nodes:
        raise NotFoundError(f"the router knows no node {name!r}")
    del nodes[name]
    _save(folder, nodes)


def _save(folder: Path, nodes: dict[str, RouterNode]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (FILE + ".tmp")
    temporary.write_text(json.dumps([asdict(n) for n in nodes.values()], indent=1))
    os.replace(temporary, folder / FILE)
