"""Security rows (users, API tokens, authorisations) sealed with a MAC keyed outside the database.

Whoever can write the database could otherwise make themselves an administrator, revive
a revoked token or widen an authorisation. Every write of such a row through facetrail
records an HMAC-SHA256 of the row as stored (`row_seals`), keyed with a secret kept in a
file, not in the database; a row whose MAC does not match (changed, or inserted behind
facetrail's back) is refused where it is used and reported by `audit verify`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import String, Table, Text, delete, event, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from facetrail.store.files import FILE_MODE, private_dirs, write_atomic
from facetrail.store.models import Authorisation, Base, BigId, authorisation_galleries
from facetrail.store.oversight_models import ApiToken, User

MAC_KEY_INFO = "facetrail.row_mac_key"  # where a session finds the home's MAC key
SEALED_TABLES: dict[type[Base], str] = {
    User: "users",
    ApiToken: "api_tokens",
    Authorisation: "authorisations",
}


class RowSeal(Base):
    """The MAC of one security row as facetrail last wrote it."""

    __tablename__ = "row_seals"

    table_name: Mapped[str] = mapped_column(String(50), primary_key=True)
    row_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    mac: Mapped[str] = mapped_column(Text)


class RowTamperedError(Exception):
    """A security row does not carry the MAC facetrail gave it."""


def load_or_create_key(path: Path) -> tuple[bytes, bool]:
    """The MAC key in `path` (created 0600 if missing); and whether it was just created."""
    if path.is_file():
        return base64.urlsafe_b64decode(path.read_bytes().strip()), False
    private_dirs(path.parent)
    key = secrets.token_bytes(32)
    write_atomic(path, base64.urlsafe_b64encode(key) + b"\n")
    path.chmod(FILE_MODE)
    return key, True


def _table(cls: type[Base]) -> Table:
    table = cls.__table__
    assert isinstance(table, Table)
    return table


def _stored(session: Session, cls: type[Base], row_id: int) -> dict[str, Any] | None:
    """The row as stored (every column, authorisations with their gallery scope)."""
    table = _table(cls)
    row = session.execute(select(table).where(table.c.id == row_id)).mappings().first()
    if row is None:
        return None
    values = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    if cls is Authorisation:
        values["galleries"] = sorted(
            session.scalars(
                select(authorisation_galleries.c.gallery_id).where(
                    authorisation_galleries.c.authorisation_id == row_id
                )
            )
        )
    return values


def mac_of(key: bytes, table_name: str, values: dict[str, Any]) -> str:
    """HMAC-SHA256 over the table name and the row's canonical JSON."""
    payload = json.dumps([table_name, values], sort_keys=True, default=str).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal_row(session: Session, key: bytes, cls: type[Base], row_id: int) -> None:
    """Record the MAC of the row as it now stands (or drop it if the row is gone)."""
    name = SEALED_TABLES[cls]
    session.execute(delete(RowSeal).where(RowSeal.table_name == name, RowSeal.row_id == row_id))
    values = _stored(session, cls, row_id)
    if values is not None:
        session.execute(
            insert(RowSeal).values(table_name=name, row_id=row_id, mac=mac_of(key, name, values))
        )


def check_row(session: Session, cls: type[Base], row_id: int) -> None:
    """Refuse a row whose MAC is missing or wrong (no-op for a session without a key)."""
    key = session.info.get(MAC_KEY_INFO)
    if key is None:
        return
    name = SEALED_TABLES[cls]
    values = _stored(session, cls, row_id)
    if values is None:
        return
    recorded = session.scalar(
        select(RowSeal.mac).where(RowSeal.table_name == name, RowSeal.row_id == row_id)
    )
    if recorded is None or not hmac.compare_digest(recorded, mac_of(key, name, values)):
        raise RowTamperedError(
            f"{name} row {row_id} was changed outside facetrail (its MAC does not match):"
            " refused; see `facetrail audit verify`"
        )


def tampered_rows(session: Session) -> list[str]:
    """Every security row whose MAC is missing or wrong, as 'table id'."""
    found = []
    for cls, name in SEALED_TABLES.items():
        for row_id in session.scalars(select(_table(cls).c.id).order_by(_table(cls).c.id)):
            try:
                check_row(session, cls, row_id)
            except RowTamperedError:
                found.append(f"{name} {row_id}")
    return found


def seal_all(session: Session, key: bytes) -> int:
    """Seal every security row as it stands (a home meeting its MAC key for the first time)."""
    count = 0
    for cls in SEALED_TABLES:
        for row_id in list(session.scalars(select(_table(cls).c.id))):
            seal_row(session, key, cls, row_id)
            count += 1
    return count


@event.listens_for(Session, "after_flush")
def _seal_flushed(session: Session, _context: Any) -> None:
    """Re-seal every security row this flush inserted, changed or deleted."""
    key = session.info.get(MAC_KEY_INFO)
    if key is None:
        return
    touched: set[tuple[type[Base], int]] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        for cls in SEALED_TABLES:
            if isinstance(obj, cls) and getattr(obj, "id", None) is not None:
                touched.add((cls, obj.id))  # type: ignore[attr-defined]
    for cls, row_id in touched:
        seal_row(session, key, cls, row_id)
