"""Limits and budgets on teams and projects: a ``limits`` JSON object (one ``LimitSet``, stored compactly) and an
opaque ``budgets`` JSON object, like virtual keys already have. Both default to ``{}`` in the database, so rows made
before this revision read back as "no limits".

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("teams", "projects")
COLUMNS = ("limits", "budgets")
EMPTY = "{}"
"""A plain string default (rendered ``DEFAULT '{}'``): SQLite then adds the column in place; an SQL expression
would make Alembic rebuild the table, which SQLite refuses while other tables refer to its rows."""


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in COLUMNS:
                batch_op.add_column(sa.Column(column, sa.JSON(), nullable=False, server_default=EMPTY))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(COLUMNS):
                batch_op.drop_column(column)
