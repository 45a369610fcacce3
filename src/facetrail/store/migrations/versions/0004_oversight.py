"""oversight: users, api tokens, DPIAs, deletion requests, retention policies, audit head;
complete authorisations (offence category, DPIA link, watchlist scope, user, revocation)

Revision ID: 0004_oversight
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import facetrail.store.types

revision = "0004_oversight"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MOMENT = facetrail.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("rank", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=False),
        sa.Column("revoked_at", _MOMENT, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "dpias",
        sa.Column("id", _ID, nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_table(
        "deletion_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("gallery", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("requester", sa.Text(), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("received_at", _MOMENT, nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_at", _MOMENT, nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("officer_rank", sa.String(length=100), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("images_deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deletion_requests_received_at", "deletion_requests", ["received_at"])
    op.create_table(
        "retention_policies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A trail written before this migration gets its head from its current last entry.
    op.execute(
        "INSERT INTO audit_head (id, last_id, last_hash, entries)"
        " SELECT 1, id, entry_hash, (SELECT COUNT(*) FROM audit_entries)"
        " FROM audit_entries ORDER BY id DESC LIMIT 1"
    )
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offence_category", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("dpia_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("watchlists", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("watchlists")
        batch_op.drop_column("dpia_id")
        batch_op.drop_column("offence_category")
    op.drop_table("audit_head")
    op.drop_table("retention_policies")
    op.drop_index("ix_deletion_requests_received_at", table_name="deletion_requests")
    op.drop_table("deletion_requests")
    op.drop_table("dpias")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
