"""Who is acting in one call: built by the interface, passed to every use case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

SINGLE_OPERATOR = "single-operator"
TOKEN = "token"
SESSION = "session"
PARTNER = "partner-signature"


def new_request_id() -> str:
    """A fresh id tying together everything one request did (logs, audit, partners)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Context:
    """The caller of one use case: user, role, rank, node and how they were authenticated.

    `role` is None in a single-operator home (no user accounts): nothing is access-checked
    and `actor` is the name written to the audit trail.
    """

    actor: str
    role: str | None = None
    rank: str = ""
    display_name: str = ""
    node: str = "local"
    auth_method: str = SINGLE_OPERATOR
    token_id: int | None = None
    request_id: str = field(default_factory=new_request_id)
    refusal: str = ""  # why signing in failed (the kernel refuses every call with it)

    @property
    def signed_in(self) -> bool:
        """Whether the caller is an authenticated account holder (accounts are on)."""
        return self.role is not None

    @property
    def officer_name(self) -> str:
        """The name to put on records the caller signs (display name, else user name)."""
        return self.display_name or self.actor
