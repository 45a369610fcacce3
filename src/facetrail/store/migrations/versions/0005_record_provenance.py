"""image provenance from standard records (ANSI/NIST-ITL Type-1/Type-10 fields)

Revision ID: 0005_record_provenance
Revises: 0004_oversight
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_record_provenance"
down_revision = "0004_oversight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provenance", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("provenance")
