"""Retention of audit content: a record older than its team's ``retention_days`` (``audit.teams``, else
``audit.retention_days``) has its ``record`` purged — set to NULL with ``purged_at`` — while the row keeps its index
columns (when, who, which model, status, flags) and its hashes, so the chain still verifies and "who called what,
when" stays answerable. Idempotent: every replica may run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, not_, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    default_days: float | None = None
    teams: Mapping[str, float | None] = field(default_factory=dict)
    """Team id → days (None: keep that team's content)."""


async def purge(db: Database, policy: RetentionPolicy, now: datetime | None = None) -> int:
    """Purge what the policy says is too old; returns how many records were purged."""
    now = now or datetime.now(UTC)
    purged = 0
    async with db.engine.begin() as conn:
        for team, days in policy.teams.items():
            if days is None:
                continue
            purged += await _purge(conn, audit_log.c.team_id == team, now - timedelta(days=days), now)
        if policy.default_days is not None:
            others = or_(audit_log.c.team_id.is_(None), not_(audit_log.c.team_id.in_(list(policy.teams))))
            purged += await _purge(conn, others, now - timedelta(days=policy.default_days), now)
    return purged


async def _purge(conn: AsyncConnection, which: ColumnElement[bool], cutoff: datetime, now: datetime) -> int:
    statement = (
        update(audit_log)
        .where(and_(which, audit_log.c.at < cutoff, audit_log.c.record.is_not(None)))
        .values(record=None, purged_at=now)
    )
    result = await conn.execute(statement)
    return int(result.rowcount or 0)
