"""Roles and the permission matrix: what each role may do. Anything not listed is refused.

A home without user accounts is a single-operator home and is not checked at all; once
the first administrator exists (`facetrail users bootstrap`), every service call needs a
valid user and token, and is allowed only if the user's role holds its permission.
"""

from __future__ import annotations

from collections.abc import Mapping

from facetrail.errors import AuthorisationError

OPERATOR = "operator"
INVESTIGATOR = "investigator"
AUTHORISING_OFFICER = "authorising_officer"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"
ROLES = (OPERATOR, INVESTIGATOR, AUTHORISING_OFFICER, AUDITOR, ADMINISTRATOR)

# Every permission a service call can require, with what it lets a user do.
PERMISSIONS: Mapping[str, str] = {
    "gallery.create": "create galleries",
    "gallery.read": "list galleries and their counts",
    "enrol": "enrol photos into galleries",
    "subjects.read": "list and show enrolled subjects",
    "subjects.delete": "delete a subject and everything enrolled for them",
    "search": "1:N search of a gallery (under an authorisation)",
    "verify": "1:1 comparison of two photos",
    "authorisation.grant": "grant authorisations (never to oneself)",
    "authorisation.revoke": "revoke authorisations",
    "authorisation.read": "read authorisations",
    "index.rebuild": "rebuild vector indexes from the database",
    "audit.read": "read the audit trail",
    "audit.verify": "check the audit trail's hash chain",
    "audit.export": "write a signed export of the audit trail",
    "retention.run": "delete images past their retention date",
    "retention.manage": "set retention policies",
    "retention.read": "read retention policies and what is due",
    "deletion.request": "record a deletion request",
    "deletion.decide": "grant or refuse deletion requests",
    "deletion.read": "list deletion requests",
    "dpia.manage": "record and withdraw DPIAs",
    "dpia.read": "list DPIAs",
    "report.foi": "transparency (freedom of information) report",
    "report.dpia_check": "list operations that ran without a DPIA",
    "report.deployment": "report on a live deployment",
    "users.manage": "create and disable users, revoke their tokens",
    "users.read": "list users",
    "keys.rotate": "re-encrypt stored biometric data under the current key",
    "watch": "run a live deployment against a watchlist (under an authorisation)",
    "watchlist.manage": "create and change watchlists",
    "watchlist.read": "list and show watchlists",
    "alerts.read": "read live alerts",
    "alerts.decide": "record the outcome of a live alert",
    "calibrate": "measure and install score thresholds",
}

_READ_COMMON = frozenset({"gallery.read", "authorisation.read", "dpia.read", "watchlist.read"})

MATRIX: Mapping[str, frozenset[str]] = {
    OPERATOR: _READ_COMMON
    | {"enrol", "subjects.read", "watch", "alerts.read", "alerts.decide", "deletion.request"},
    INVESTIGATOR: _READ_COMMON
    | {"subjects.read", "search", "verify", "alerts.read", "deletion.request"},
    AUTHORISING_OFFICER: _READ_COMMON
    | {
        "authorisation.grant",
        "authorisation.revoke",
        "deletion.request",
        "deletion.decide",
        "deletion.read",
        "report.foi",
        "report.dpia_check",
        "report.deployment",
        "alerts.read",
    },
    AUDITOR: _READ_COMMON
    | {
        "audit.read",
        "audit.verify",
        "audit.export",
        "deletion.read",
        "retention.read",
        "report.foi",
        "report.dpia_check",
        "report.deployment",
        "alerts.read",
        "users.read",
    },
    ADMINISTRATOR: _READ_COMMON
    | {
        "gallery.create",
        "enrol",
        "subjects.read",
        "subjects.delete",
        "index.rebuild",
        "audit.verify",
        "retention.run",
        "retention.manage",
        "retention.read",
        "deletion.decide",
        "deletion.read",
        "dpia.manage",
        "users.manage",
        "users.read",
        "keys.rotate",
        "watchlist.manage",
        "calibrate",
    },
}


class PermissionDeniedError(AuthorisationError):
    """The acting user's role does not allow this call, or no valid user is acting."""


def normalise_role(role: str) -> str:
    """The canonical role name ('authorising-officer' -> 'authorising_officer'); refuses others."""
    canonical = role.strip().lower().replace("-", "_").replace(" ", "_")
    if canonical not in ROLES:
        raise PermissionDeniedError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return canonical


def allowed(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (deny by default: unknown role or permission is no)."""
    return permission in MATRIX.get(role, frozenset())


def check(role: str, permission: str, user: str) -> None:
    """Raise PermissionDeniedError unless `role` holds `permission`."""
    if permission not in PERMISSIONS:
        raise PermissionDeniedError(f"unknown permission {permission!r}: refused by default")
    if not allowed(role, permission):
        holders = [r for r in ROLES if allowed(r, permission)]
        raise PermissionDeniedError(
            f"user {user!r} ({role}) may not {PERMISSIONS[permission]} ({permission});"
            f" roles that may: {', '.join(holders) or 'none'}"
        )
