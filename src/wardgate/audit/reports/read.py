"""The queries reports share: names of teams, users and keys; the audit trail's rows of a period, page by page;
admin changes from the trail and from the change log, each change once; when each key was last used."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.reports.period import Period, when
from wardgate.storage.schema import (
    admin_changes,
    audit_log,
    credentials,
    service_principals,
    spend_ledger,
    teams,
    users,
    virtual_keys,
)

PAGE = 2000
TRAIL = "audit trail"
CHANGE_LOG = "change log"


@dataclass(frozen=True, slots=True)
class Names:
    """Display names by id (team names, users' e-mail addresses, key and service principal names)."""

    teams: Mapping[str, str]
    users: Mapping[str, str]
    keys: Mapping[str, str]
    principals: Mapping[str, str]
    credentials: Mapping[str, str]

    def team(self, ident: str | None) -> str | None:
        return _label(self.teams, ident)

    def user(self, ident: str | None) -> str | None:
        return _label(self.users, ident)

    def key(self, ident: str | None) -> str | None:
        return _label(self.keys, ident)

    def actor(self, kind: str | None, ident: str | None) -> str | None:
        """Who made an admin change: a person (by e-mail), a key (by name) or the master key."""
        if ident is None:
            return None
        if ident == "master":
            return "master key"
        if ident in self.users:
            return self.user(ident)
        return f"key {self.key(ident)}" if ident in self.keys else f"{kind or 'unknown'} {ident}"

    def object(self, kind: str, ident: str) -> str:
        table = {"team": self.teams, "user": self.users, "membership": self.users, "key": self.keys}.get(kind)
        if kind == "service_principal":
            table = self.principals
        elif kind == "credential":
            table = self.credentials
        return _label(table or {}, ident) or ident


def _label(names: Mapping[str, str], ident: str | None) -> str | None:
    if ident is None or ident == "":
        return None
    name = names.get(ident)
    return f"{name} ({ident})" if name and name != ident else ident


async def load_names(conn: AsyncConnection) -> Names:
    found_teams = {r.id: r.name for r in await conn.execute(select(teams.c.id, teams.c.name))}
    found_users = {
        r.id: r.email or r.name or r.id for r in await conn.execute(select(users.c.id, users.c.email, users.c.name))
    }
    found_keys = {r.id: r.name for r in await conn.execute(select(virtual_keys.c.id, virtual_keys.c.name))}
    found_sps = {r.id: r.name for r in await conn.execute(select(service_principals.c.id, service_principals.c.name))}
    found_creds = {r.id: r.name for r in await conn.execute(select(credentials.c.id, credentials.c.name))}
    return Names(found_teams, found_users, found_keys, found_sps, found_creds)


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    id: str
    at: datetime
    kind: str
    request_id: str | None
    team_id: str | None
    key_id: str | None
    user_id: str | None
    model: str | None
    status: int | None
    flags: frozenset[str]
    record: dict[str, Any] | None
    """The record's JSON, or ``None`` when retention purged it (the columns above remain)."""


async def audit_rows(
    conn: AsyncConnection, period: Period, kind: str, *, flag: str | None = None
) -> AsyncIterator[AuditRow]:
    """The trail's rows of ``kind`` in the period, in chain order, ``PAGE`` at a time (only those flagged ``flag``
    when given)."""
    t = audit_log
    where = [t.c.kind == kind, t.c.at >= period.start, t.c.at < period.end]
    if flag is not None:
        where.append(t.c.flags.like(f"%{flag}%"))
    after = 0
    while True:
        page = await conn.execute(select(t).where(and_(*where, t.c.seq > after)).order_by(t.c.seq).limit(PAGE))
        rows = page.mappings().all()
        for row in rows:
            flags = frozenset(f for f in (row["flags"] or "").split(",") if f)
            if flag is None or flag in flags:
                yield AuditRow(
                    row["seq"],
                    row["id"],
                    when(row["at"]),
                    row["kind"],
                    row["request_id"],
                    row["team_id"],
                    row["key_id"],
                    row["user_id"],
                    row["model"],
                    row["status"],
                    flags,
                    _parse(row["record"]),
                )
        if len(rows) < PAGE:
            return
        after = rows[-1]["seq"]


def _parse(data: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


@dataclass(frozen=True, slots=True)
class AdminChange:
    at: datetime
    actor_kind: str | None
    actor_id: str | None
    action: str | None
    """``None`` when only a purged trail row is left of the change."""
    object_kind: str | None
    object_id: str | None
    team_id: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    source: str
    """``TRAIL`` or ``CHANGE_LOG``."""


async def admin_changes_in(conn: AsyncConnection, period: Period) -> list[AdminChange]:
    """Every admin change of the period, oldest first: the trail's admin records, and the change log's rows that
    the trail does not hold (changes made before the trail existed, or whose trail record was purged)."""
    found: list[AdminChange] = []
    seen: set[tuple[Any, ...]] = set()
    purged: list[AuditRow] = []
    async for row in audit_rows(conn, period, "admin"):
        record = row.record
        if record is None:
            purged.append(row)
            continue
        actor, target = record.get("actor") or {}, record.get("object") or {}
        change = AdminChange(
            row.at,
            actor.get("kind"),
            actor.get("id"),
            record.get("action"),
            target.get("kind"),
            target.get("id"),
            record.get("team_id"),
            record.get("before"),
            record.get("after"),
            TRAIL,
        )
        seen.add((change.at, change.action, change.object_kind, change.object_id))
        found.append(change)
    logged = await conn.execute(
        select(admin_changes)
        .where(admin_changes.c.at >= period.start, admin_changes.c.at < period.end)
        .order_by(admin_changes.c.id)
    )
    covered: set[datetime] = set()
    for logged_row in logged.mappings():
        at = when(logged_row["at"])
        if (at, logged_row["action"], logged_row["object_kind"], logged_row["object_id"]) in seen:
            continue
        covered.add(at)
        found.append(
            AdminChange(
                at,
                logged_row["actor_kind"],
                logged_row["actor_id"],
                logged_row["action"],
                logged_row["object_kind"],
                logged_row["object_id"],
                logged_row["team_id"],
                logged_row["before"],
                logged_row["after"],
                CHANGE_LOG,
            )
        )
    for gone in purged:
        if gone.at not in covered:
            actor = gone.user_id or gone.key_id
            found.append(AdminChange(gone.at, None, actor, None, None, None, gone.team_id, None, None, TRAIL))
    found.sort(key=lambda change: change.at)
    return found


async def last_used(conn: AsyncConnection, before: datetime) -> dict[str, datetime]:
    """Each key's latest request before ``before``, from the audit trail and the spend ledger."""
    found: dict[str, datetime] = {}
    for table, extra in ((audit_log, [audit_log.c.kind == "request"]), (spend_ledger, [])):
        statement = (
            select(table.c.key_id, func.max(table.c.at).label("last"))
            .where(table.c.key_id.is_not(None), table.c.at < before, *extra)
            .group_by(table.c.key_id)
        )
        for row in await conn.execute(statement):
            moment = when(row.last) if isinstance(row.last, datetime) else _text_time(row.last)
            if moment is not None and (row.key_id not in found or moment > found[row.key_id]):
                found[row.key_id] = moment
    return found


def _text_time(value: Any) -> datetime | None:
    """SQLite answers ``max()`` of a timestamp column as its stored text."""
    if not isinstance(value, str):
        return None
    return when(datetime.fromisoformat(value))
