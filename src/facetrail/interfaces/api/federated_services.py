"""The federation use-case services of one server process, built on first use.

Kept apart from `services.Services` so that federation can grow without touching the
other use cases' wiring: one instance per process, shared by the API and the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from facetrail.core.kernel import Kernel
from facetrail.interfaces.api.deps import StateDep
from facetrail.interfaces.api.state import ServerState
from facetrail.services.federated_exchange import FederatedExchange
from facetrail.services.federated_search import FederatedSearch
from facetrail.services.federation_node import NodeService
from facetrail.services.partners import Partners


@dataclass(frozen=True, slots=True)
class FederationServices:
    """Node identity, partners, step 1 out, step 2 both ways (each call brings a Context)."""

    node: NodeService
    partners: Partners
    federated: FederatedSearch
    exchanges: FederatedExchange


def build_federation_services(kernel: Kernel) -> FederationServices:
    """One instance of each federation service over `kernel`."""
    return FederationServices(
        node=NodeService(kernel),
        partners=Partners(kernel),
        federated=FederatedSearch(kernel),
        exchanges=FederatedExchange(kernel),
    )


def federation_services(state: ServerState) -> FederationServices:
    """The process's federation services (made once, then reused by every request)."""
    existing: FederationServices | None = getattr(state, "federation_services", None)
    if existing is None:
        existing = build_federation_services(state.services.kernel)
        state.federation_services = existing  # type: ignore[attr-defined]
    return existing


def _dependency(state: StateDep) -> FederationServices:
    return federation_services(state)


FederationDep = Annotated[FederationServices, Depends(_dependency)]
