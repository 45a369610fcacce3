"""federation: partners, versioned policies, seen nonces, step-1 answers, references, step 2

Revision ID: 0005_federation
Revises: 0004_oversight
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import facetrail.store.types

revision = "0005_federation"
down_revision = "0004_oversight"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MOMENT = facetrail.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "federation_partners",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("tls_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("tls_certificate", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("removed_at", _MOMENT, nullable=True),
        sa.Column("removed_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "federation_policies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["federation_partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "version"),
    )
    op.create_index("ix_federation_policies_partner_id", "federation_policies", ["partner_id"])
    op.create_table(
        "federation_nonces",
        sa.Column("id", _ID, nullable=False),
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "nonce"),
    )
    op.create_index("ix_federation_nonces_seen_at", "federation_nonces", ["seen_at"])
    op.create_table(
        "federation_outgoing",
        sa.Column("id", _ID, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("authorisation_id", _ID, nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_federation_outgoing_request_id", "federation_outgoing", ["request_id"])
    op.create_table(
        "federation_references",
        sa.Column("id", _ID, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("gallery_id", _ID, nullable=False),
        sa.Column("subject_id", _ID, nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_federation_references_request_id", "federation_references", ["request_id"])
    op.create_table(
        "federation_exchanges",
        sa.Column("id", _ID, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("examiner", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("due_at", _MOMENT, nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", _MOMENT, nullable=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("transaction", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_federation_exchanges_request_id", "federation_exchanges", ["request_id"])


def downgrade() -> None:
    op.drop_table("federation_exchanges")
    op.drop_table("federation_references")
    op.drop_table("federation_outgoing")
    op.drop_table("federation_nonces")
    op.drop_table("federation_policies")
    op.drop_table("federation_partners")
