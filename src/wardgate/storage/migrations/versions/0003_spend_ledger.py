"""The spend ledger: ``spend_ledger`` (one row per request, unique id), ``spend_tags`` (its tags, one row each) and
``spend_rollups`` (sums per minute, hour and day and per attribution). Costs are ``NUMERIC(18, 9)`` on PostgreSQL
and an INTEGER of nano-dollars on SQLite (exact either way; ``schema.Usd`` converts).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

USD = sa.Numeric(18, 9).with_variant(sa.BigInteger(), "sqlite")
DIMENSIONS = ("team_id", "project_id", "key_id", "user_id", "agent", "app", "model", "provider")
SUMS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


def _sums() -> list[sa.Column[object]]:
    return [sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in SUMS]


def upgrade() -> None:
    op.create_table(
        "spend_ledger",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("app", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("provider", sa.String(length=200), nullable=True),
        sa.Column("deployment", sa.String(length=300), nullable=True),
        sa.Column("upstream_model", sa.String(length=200), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        *_sums(),
        sa.Column("cost_usd", USD, nullable=False),
        sa.Column("cost_known", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_ledger")),
    )
    with op.batch_alter_table("spend_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_ledger_at"), ["at"], unique=False)
        batch_op.create_index("ix_spend_ledger_team_id_at", ["team_id", "at"], unique=False)
        batch_op.create_index("ix_spend_ledger_key_id_at", ["key_id", "at"], unique=False)
        batch_op.create_index("ix_spend_ledger_model_at", ["model", "at"], unique=False)

    op.create_table(
        "spend_tags",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "tag", name=op.f("pk_spend_tags")),
    )
    with op.batch_alter_table("spend_tags", schema=None) as batch_op:
        batch_op.create_index("ix_spend_tags_tag_at", ["tag", "at"], unique=False)

    op.create_table(
        "spend_rollups",
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.String(length=64 if name.endswith("_id") else 200), nullable=False)
            for name in DIMENSIONS
        ),
        sa.Column("requests", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("unpriced_requests", sa.BigInteger(), nullable=False, server_default="0"),
        *_sums(),
        sa.Column("cost_usd", USD, nullable=False),
        sa.PrimaryKeyConstraint("bucket", "bucket_start", *DIMENSIONS, name=op.f("pk_spend_rollups")),
    )


def downgrade() -> None:
    op.drop_table("spend_rollups")
    with op.batch_alter_table("spend_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_spend_tags_tag_at")
    op.drop_table("spend_tags")
    with op.batch_alter_table("spend_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_spend_ledger_model_at")
        batch_op.drop_index("ix_spend_ledger_key_id_at")
        batch_op.drop_index("ix_spend_ledger_team_id_at")
        batch_op.drop_index(batch_op.f("ix_spend_ledger_at"))
    op.drop_table("spend_ledger")
