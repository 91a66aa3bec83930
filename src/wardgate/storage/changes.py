"""The record of admin changes (who, what, before and after — never a secret), written in the same transaction as
the change itself: a row in ``admin_changes`` (read back by the admin API) and an "admin" record appended to the
audit trail's hash chain (``wardgate.audit``), so a committed change is always in the trail and a rolled-back one
never is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.types import Principal
from wardgate.storage.schema import admin_changes

SECRET_FIELDS = frozenset({"key", "secret", "value", "key_hash", "sealed", "password", "client_secret", "token"})


@dataclass(frozen=True, slots=True)
class Change:
    action: str
    object_kind: str
    object_id: str
    team_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def actor_fields(actor: Principal) -> dict[str, str]:
    actor_id = actor.user_id or actor.key_id
    return {"actor_kind": actor.kind, "actor_id": actor_id}


def _clean(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: _jsonable(v) for k, v in values.items() if k not in SECRET_FIELDS}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


async def record_change(conn: AsyncConnection, actor: Principal, change: Change, request_id: str | None) -> None:
    """Insert the change record and append it to the audit trail; call it inside the transaction that makes the
    change."""
    from wardgate.audit.chain import Entry, append
    from wardgate.audit.record import admin_record, encode

    at = datetime.now(UTC)
    who = actor_fields(actor)
    before, after = _clean(change.before), _clean(change.after)
    await conn.execute(
        insert(admin_changes).values(
            at=at,
            **who,
            action=change.action,
            object_kind=change.object_kind,
            object_id=change.object_id,
            team_id=change.team_id,
            before=before,
            after=after,
            request_id=request_id,
        )
    )
    record = admin_record(
        actor_kind=who["actor_kind"],
        actor_id=who["actor_id"],
        action=change.action,
        object_kind=change.object_kind,
        object_id=change.object_id,
        team_id=change.team_id,
        before=before,
        after=after,
        request_id=request_id,
        at=at,
    )
    await append(conn, [Entry.of(record, encode(record))])


async def list_changes(
    conn: AsyncConnection,
    *,
    teams: set[str] | None,
    object_kind: str | None = None,
    object_id: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first. ``teams`` None means every change; otherwise only those of these teams."""
    table = admin_changes
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if teams is not None:
        query = query.where(table.c.team_id.in_(sorted(teams)))
    if object_kind is not None:
        query = query.where(table.c.object_kind == object_kind)
    if object_id is not None:
        query = query.where(table.c.object_id == object_id)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    rows = (await conn.execute(query)).mappings().all()
    return [{**row, "at": row["at"].isoformat() if row["at"] else None} for row in rows]
