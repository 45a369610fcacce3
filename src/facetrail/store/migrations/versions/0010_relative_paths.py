"""relative paths: photo, alert crop and reference paths under the home stored relative

A home's files are recorded relative to the home, so a copied, moved or restored home
never reads or deletes another copy's files. An absolute path under the home becomes
relative; one under another folder whose store tail (`photos/…`, `alerts/…`,
`watchlists/…`) exists in this home (a home copied before upgrading) does too.

Revision ID: 0010_relative_paths
Revises: 0003_live
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0010_relative_paths"
down_revision = "0003_live"
branch_labels = None
depends_on = None

COLUMNS = (
    ("images", "photo_path"),
    ("alerts", "crop_path"),
    ("alerts", "reference_path"),
    ("watchlist_frozen_templates", "reference_path"),
)
STORE_FOLDERS = ("photos", "alerts", "watchlists")


def _home() -> Path | None:
    config = op.get_context().config
    configured = config.attributes.get("home") if config is not None else None
    if configured:
        return Path(configured)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.engine.url.database:
        return Path(bind.engine.url.database).resolve().parent
    return None


def relative(path: str, home: Path) -> str | None:
    """The home-relative form of a stored absolute path, or None to leave it."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return None
    try:
        return candidate.relative_to(home).as_posix()
    except ValueError:
        pass
    parts = candidate.parts
    for at in range(len(parts) - 1, -1, -1):
        if parts[at] in STORE_FOLDERS:
            tail = Path(*parts[at:])
            return tail.as_posix() if (home / tail).exists() else None
    return None


def upgrade() -> None:
    home = _home()
    if home is None:
        return
    bind = op.get_bind()
    for table, column in COLUMNS:
        rows = bind.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
        ).all()
        for row_id, value in rows:
            new = relative(value, home)
            if new is not None:
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                    {"value": new, "id": row_id},
                )


def downgrade() -> None:
    home = _home()
    if home is None:
        return
    bind = op.get_bind()
    for table, column in COLUMNS:
        bind.execute(
            sa.text(
                f"UPDATE {table} SET {column} = :home || '/' || {column}"
                f" WHERE {column} IS NOT NULL AND {column} NOT LIKE '/%'"
            ),
            {"home": str(home)},
        )
