"""The unit of work: one transaction, its audit entries and its after-commit cleanup together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.store.models import AuditEntry


class UnitOfWork:
    """A session in one transaction, audited as the caller, with hooks run after commit.

    The work, its audit entry and the cleanup it needs (index updates, file removals)
    cannot drift apart: the audit entry commits with the work or not at all, and the
    hooks run only once the commit has succeeded.
    """

    def __init__(self, session: Session, context: Context) -> None:
        self.session = session
        self.context = context
        self._after_commit: list[Callable[[], Any]] = []

    def audit(
        self,
        action: str,
        outcome: str = "ok",
        *,
        target: str = "",
        gallery: str | None = None,
        authorisation_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an audit entry under the caller's name, in this transaction."""
        return append_audit(
            self.session,
            actor=self.context.actor,
            action=action,
            outcome=outcome,
            target=target,
            gallery=gallery,
            authorisation_id=authorisation_id,
            details=details,
        )

    def after_commit(self, hook: Callable[[], Any]) -> None:
        """Run `hook` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(hook)

    def run_after_commit(self) -> None:
        """Run the hooks in the order they were added (called by the kernel)."""
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            hook()
