"""federation: records received in step 2 carry a retention date and an erasure time

Revision ID: 0011_federation_retention
Revises: 0005_federation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import facetrail.store.types

revision = "0011_federation_retention"
down_revision = "0005_federation"
branch_labels = None
depends_on = None

_MOMENT = facetrail.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("federation_exchanges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", _MOMENT, nullable=True))
        batch_op.add_column(sa.Column("erased_at", _MOMENT, nullable=True))
        batch_op.create_index("ix_federation_exchanges_retain_until", ["retain_until"])


def downgrade() -> None:
    with op.batch_alter_table("federation_exchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_federation_exchanges_retain_until")
        batch_op.drop_column("erased_at")
        batch_op.drop_column("retain_until")
