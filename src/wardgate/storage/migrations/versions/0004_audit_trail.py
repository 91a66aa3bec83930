"""The audit trail: ``audit_log`` (append-only, hash-chained rows), ``audit_head`` (the chain's tip, locked by
every writer), ``audit_seals`` (periodic, HMAC-authenticated checkpoints) and ``audit_cursors`` (where each sink
has got to).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("flags", sa.String(length=200), nullable=True),
        sa.Column("record", sa.Text(), nullable=True),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_log_id")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_team_id_at", ["team_id", "at"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, seq, hash, base_seq, base_hash, updated_at) "
            "VALUES (1, 0, :genesis, 0, :genesis, CURRENT_TIMESTAMP)"
        ).bindparams(genesis="0" * 64)
    )

    op.create_table(
        "audit_seals",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seals")),
    )
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_seals_seq"), ["seq"], unique=False)

    op.create_table(
        "audit_cursors",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_cursors")),
    )


def downgrade() -> None:
    op.drop_table("audit_cursors")
    op.drop_table("audit_seals")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
