"""erasure journal: each erasure's removals outside the database, committed with it

Revision ID: 0010_erasure_journal
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import facetrail.store.types

revision = "0010_erasure_journal"
down_revision = "0001"
branch_labels = None
depends_on = None

_MOMENT = facetrail.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "erasure_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", _MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_erasure_jobs_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("erasure_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_erasure_jobs_finished_at")
    op.drop_table("erasure_jobs")
