"""This node's federation identity: make it once, show it to partners."""

from __future__ import annotations

from facetrail.core.access import ADMINISTRATOR, AUDITOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.services.federation_results import NodeInfo
from facetrail.store.node_identity import NodeIdentity, create_identity, load_identity

MANAGE = declare(
    "federation.manage", "set up this node and its federation partners", (ADMINISTRATOR,)
)
READ = declare(
    "federation.read", "read the node identity, partners and exchanges", (ADMINISTRATOR, AUDITOR)
)


def node_info(identity: NodeIdentity) -> NodeInfo:
    """What a partner needs to register this node."""
    return NodeInfo(
        name=identity.name,
        public_key=identity.public_key,
        fingerprint=identity.fingerprint,
        tls_certificate=identity.certificate.decode(),
        tls_fingerprint=identity.tls_fingerprint,
    )


class NodeService:
    """`facetrail node init|show`."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(MANAGE)
    def init(self, context: Context, name: str, replace: bool = False) -> NodeInfo:
        """Make this home a federation node named `name` (Ed25519 key, TLS certificate)."""
        with self.kernel.audited_failure(context, "federation.node.init"):
            identity = create_identity(self.kernel.home, name, replace=replace)
            with self.kernel.unit_of_work(context) as work:
                work.audit(
                    "federation.node.init",
                    target=name,
                    details={"fingerprint": identity.fingerprint, "replaced": replace},
                )
            return node_info(identity)

    def published(self) -> NodeInfo:
        """The identity partners fetch (public by design: name, keys, certificate)."""
        return node_info(load_identity(self.kernel.home))

    @requires(READ)
    def show(self, context: Context) -> NodeInfo:
        """The node's name, public key and fingerprints."""
        return node_info(load_identity(self.kernel.home))
