"""Shared by the federation tests: nodes in one process, policies, an in-process transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import facetrail
from facetrail.facade import Facetrail
from facetrail.security.messages import Signed
from facetrail.services.federation_policy import policy_from
from facetrail.services.partners import PartnerRequest

AUTH = {
    "purpose": "identify a burglary suspect",
    "case": "OP-FED-1",
    "legal_basis": "Prüm II Decision 2024/982 art. 5",
    "necessity": "no other lead",
    "proportionality": "one probe, hit/no-hit only",
    "officer": "DI Example",
    "rank": "Detective Inspector",
    "kind": "federated_query",
    "offence_category": "burglary",
}


@dataclass
class InProcessTransport:
    """Delivers a message straight to the named node's answering service (same process)."""

    nodes: dict[str, Facetrail] = field(default_factory=dict)
    delivered: list[bytes] = field(default_factory=list)
    last: Signed | None = None  # the last message delivered, as sent

    def send(self, url: str, message: Signed, timeout: float, pin: bytes | None = None) -> Signed:
        self.delivered.append(message.body)
        self.last = message
        for base, node in self.nodes.items():
            if url.startswith(base):
                return node.answering.answer(message).signed
        raise AssertionError(f"no node at {url}")


def url_of(name: str) -> str:
    return f"http://{name.lower()}.invalid"


def make_node(
    root: Path, name: str, gallery: str = "custody", database_url: str | None = None
) -> Facetrail:
    """A fresh home that is node `name`, with one (empty) gallery (SQLite unless a URL)."""
    options = {"database_url": database_url} if database_url else {}
    node = facetrail.open(root / name, user=f"officer-{name.lower()}", **options)
    node.node.init(name)
    node.create_gallery(gallery)
    return node


def register(node: Facetrail, partner: Facetrail, **policy: object) -> None:
    """Register `partner` at `node` with a policy (default: the custody gallery, auto)."""
    info = partner.node.show()
    document = {"galleries": ["custody"], **policy}
    node.partners.add(
        PartnerRequest(info.name, url_of(info.name), info.public_key, policy_from(document))
    )
