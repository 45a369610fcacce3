"""Reading and checking the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from facetrail.core.access import ADMINISTRATOR, AUDITOR, declare, requires
from facetrail.core.audit import ChainCheck, verify_chain, verify_checkpoint
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.store.models import AuditEntry
from facetrail.store.row_seals import tampered_rows

AUDIT_READ = declare("audit.read", "read the audit trail", (AUDITOR,))
AUDIT_VERIFY = declare(
    "audit.verify", "check the audit trail's hash chain", (AUDITOR, ADMINISTRATOR)
)


class AuditTrail:
    """Verify the hash chain; list the entries."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(AUDIT_VERIFY)
    def verify(self, context: Context, checkpoint: dict[str, Any] | None = None) -> ChainCheck:
        """Check the audit trail's hash chain (and that it still holds a checkpoint's head)."""
        with self.kernel.reader() as session:
            if checkpoint is None:
                check = verify_chain(session)
            else:
                check = verify_checkpoint(
                    session,
                    int(checkpoint["last_id"]),
                    str(checkpoint["last_hash"]),
                    int(checkpoint["entries"]),
                )
            tampered = tampered_rows(session)
        if check.ok and tampered:
            return ChainCheck(
                False,
                check.entries,
                None,
                f"security rows changed outside facetrail (MAC mismatch): {', '.join(tampered)}",
            )
        return check

    @requires(AUDIT_READ)
    def entries(self, context: Context, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (for tests, reports and the CLI)."""
        with self.kernel.reader() as session:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if limit:
                query = query.limit(limit)
            return [
                {
                    "id": e.id,
                    "occurred_at": e.occurred_at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "outcome": e.outcome,
                    "authorisation_id": e.authorisation_id,
                    "gallery": e.gallery,
                    "target": e.target,
                    "details": e.details,
                }
                for e in session.scalars(query)
            ]
