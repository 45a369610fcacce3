"""user approval: new administrator / authorising officer accounts await a second admin

Revision ID: 0010_user_approval
Revises: 0004_oversight
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_user_approval"
down_revision = "0004_oversight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pending_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("pending_approval")
