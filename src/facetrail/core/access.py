"""Roles and permissions: each use case declares the permission it needs and who holds it.

A permission is declared next to the use case that needs it (`declare`), and the use case
is registered with it (`requires`), so the permission matrix is whatever the use cases
say, and a test can walk every registered use case. Anything not declared is refused.

A home without user accounts is a single-operator home and is not checked at all; once
the first administrator exists (`facetrail users bootstrap`), every service call needs a
valid user and token, and is allowed only if the user's role holds its permission.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from facetrail.core.context import Context
from facetrail.errors import AuthorisationError

log = logging.getLogger(__name__)

OPERATOR = "operator"
INVESTIGATOR = "investigator"
AUTHORISING_OFFICER = "authorising_officer"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"
ROLES = (OPERATOR, INVESTIGATOR, AUTHORISING_OFFICER, AUDITOR, ADMINISTRATOR)


class PermissionDeniedError(AuthorisationError):
    """The acting user's role does not allow this call, or no valid user is acting."""

    http_status = 403


@dataclass(frozen=True, slots=True)
class Permission:
    """A named right, what it lets a user do, and the roles that hold it."""

    name: str
    description: str
    roles: frozenset[str]


_lock = threading.Lock()
_permissions: dict[str, Permission] = {}
_use_cases: dict[str, str] = {}  # "Service.method" -> permission name
_use_case_modules: dict[str, str] = {}  # "Service.method" -> the module defining it


def declare(name: str, description: str, roles: tuple[str, ...] | frozenset[str]) -> Permission:
    """Declare a permission (once; the same declaration again returns the same object)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"permission {name!r} names unknown roles {sorted(unknown)}")
    permission = Permission(name, description, frozenset(roles))
    with _lock:
        existing = _permissions.get(name)
        if existing is not None and existing != permission:
            raise ValueError(f"permission {name!r} is declared twice, differently")
        _permissions[name] = existing or permission
        return _permissions[name]


class _PermissionView(Mapping[str, str]):
    """Every declared permission with what it lets a user do (a live view)."""

    def __getitem__(self, name: str) -> str:
        return _permissions[name].description

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_permissions))

    def __len__(self) -> int:
        return len(_permissions)


class _MatrixView(Mapping[str, frozenset[str]]):
    """Role -> the permissions it holds, derived from the declarations (a live view)."""

    def __getitem__(self, role: str) -> frozenset[str]:
        if role not in ROLES:
            raise KeyError(role)
        return frozenset(p.name for p in _permissions.values() if role in p.roles)

    def __iter__(self) -> Iterator[str]:
        return iter(ROLES)

    def __len__(self) -> int:
        return len(ROLES)


PERMISSIONS: Mapping[str, str] = _PermissionView()
MATRIX: Mapping[str, frozenset[str]] = _MatrixView()


def use_cases() -> dict[str, str]:
    """Every registered use case ("Service.method") with the permission it requires."""
    with _lock:
        return dict(_use_cases)


def use_case_modules() -> dict[str, str]:
    """Every registered use case ("Service.method") with the module that defines it."""
    with _lock:
        return dict(_use_case_modules)


def normalise_role(role: str) -> str:
    """The canonical role name ('authorising-officer' -> 'authorising_officer'); refuses others."""
    canonical = role.strip().lower().replace("-", "_").replace(" ", "_")
    if canonical not in ROLES:
        raise PermissionDeniedError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return canonical


def allowed(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (deny by default: unknown role or permission is no)."""
    declared = _permissions.get(permission)
    return declared is not None and role in declared.roles


def check(role: str, permission: str, user: str) -> None:
    """Raise PermissionDeniedError unless `role` holds `permission`."""
    declared = _permissions.get(permission)
    if declared is None:
        raise PermissionDeniedError(f"unknown permission {permission!r}: refused by default")
    if role not in declared.roles:
        holders = [r for r in ROLES if r in declared.roles]
        raise PermissionDeniedError(
            f"user {user!r} ({role}) may not {declared.description} ({permission});"
            f" roles that may: {', '.join(holders) or 'none'}"
        )


class Checker(Protocol):
    """What `requires` needs of a service: a kernel that checks and audits refusals."""

    def require(self, context: Context, permission: str) -> None: ...


class _HasKernel(Protocol):
    kernel: Checker


F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: Permission) -> Callable[[F], F]:
    """Register a use case under `permission`; the call is checked (and refusals audited) first.

    The decorated method takes the caller's `Context` as its first argument after `self`.
    """

    def decorate(method: F) -> F:
        name = method.__qualname__
        with _lock:
            _use_cases[name] = permission.name
            _use_case_modules[name] = method.__module__

        @functools.wraps(method)
        def checked(self: _HasKernel, context: Context, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "failed"
            try:
                self.kernel.require(context, permission.name)
                result = method(self, context, *args, **kwargs)
                outcome = "ok"
                return result
            except PermissionDeniedError:
                outcome = "refused"
                raise
            finally:
                # Operation, caller, ids and time only: never arguments (they hold photos).
                log.info(
                    "use_case=%s actor=%s role=%s request=%s outcome=%s ms=%.1f",
                    name,
                    context.actor,
                    context.role or "-",
                    context.request_id,
                    outcome,
                    (time.perf_counter() - started) * 1000,
                )

        checked.permission = permission.name  # type: ignore[attr-defined]
        return cast(F, checked)

    return decorate
