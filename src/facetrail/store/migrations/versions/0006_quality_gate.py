"""quality gate: a gallery's minimum quality; each image's quality components and flag

Revision ID: 0006_quality_gate
Revises: 0005_record_provenance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_quality_gate"
down_revision = "0005_record_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("galleries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_quality", sa.Float(), nullable=True))
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_components", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("low_quality", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("low_quality")
        batch_op.drop_column("quality_components")
    with op.batch_alter_table("galleries", schema=None) as batch_op:
        batch_op.drop_column("min_quality")
