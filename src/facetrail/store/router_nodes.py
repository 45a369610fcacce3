"""The nodes a router forwards between: name, URL and Ed25519 public key, in one JSON file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.security.signing import fingerprint, load_public_key
from facetrail.store.node_identity import check_node_name

FILE = "router-nodes.json"


@dataclass(frozen=True, slots=True)
class RouterNode:
    """One node the router knows."""

    name: str
    url: str
    public_key: str
    fingerprint: str


def load_nodes(folder: Path) -> dict[str, RouterNode]:
    """Every registered node by name (none for a new router home)."""
    path = folder / FILE
    if not path.exists():
        return {}
    return {n["name"]: RouterNode(**n) for n in json.loads(path.read_text())}


def add_node(folder: Path, name: str, url: str, public_key: str) -> RouterNode:
    """Register (or replace) a node; its key is checked to be Ed25519."""
    check_node_name(name)
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"--url must be http(s)://host:port, got {url!r}")
    load_public_key(public_key, f"{name}'s public key")
    node = RouterNode(name, url.rstrip("/"), public_key.strip() + "\n", fingerprint(public_key))
    nodes = load_nodes(folder)
    nodes[name] = node
    _save(folder, nodes)
    return node


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
