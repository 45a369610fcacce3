"""row seals: a MAC per security row (users, api tokens, authorisations), keyed outside the db

Revision ID: 0010_row_seals
Revises: 0004_oversight
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_row_seals"
down_revision = "0004_oversight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "row_seals",
        sa.Column("table_name", sa.String(length=50), nullable=False),
        sa.Column("row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mac", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "row_id"),
    )


def downgrade() -> None:
    op.drop_table("row_seals")
