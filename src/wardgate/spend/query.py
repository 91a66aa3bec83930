"""Spend reports: filters on any attribution (team, project, key, user, agent, app, model, provider, org,
deployment, upstream model, endpoint, status, tag) over a time range, grouped by any of them and optionally by
minute, hour or day, with totals.

Reads rollups where they answer exactly and rows elsewhere: the range is cut into pieces — whole days from the
day rollups, whole hours and minutes at the edges from the hour and minute rollups, and the sub-minute edges from
the ledger rows — and the pieces' sums are added up. Rollups hold the eight attribution columns only, so a filter
or group-by on a tag, org, deployment, upstream model, endpoint or status reads rows for the whole range.

Grouped by tag, a request counts in the group of each of its tags (and in none when it has none); the totals are
still those of the range, each request once."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.spend.ship import bucket_start, zero_sums
from wardgate.storage.schema import SPEND_SUMS, spend_ledger, spend_rollups, spend_tags

DIMENSIONS: Mapping[str, str] = {
    "team": "team_id",
    "project": "project_id",
    "key": "key_id",
    "user": "user_id",
    "agent": "agent",
    "app": "app",
    "model": "model",
    "provider": "provider",
    "org": "org_id",
    "deployment": "deployment",
    "upstream_model": "upstream_model",
    "endpoint": "endpoint",
    "status": "status",
    "tag": "tag",
}
"""Report dimension → ledger column."""
ROLLUP_DIMENSIONS = frozenset(("team", "project", "key", "user", "agent", "app", "model", "provider"))
TIME_GROUPS = ("minute", "hour", "day")
SUMS = ("requests", "unpriced_requests", *SPEND_SUMS, "cost_usd")
_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_END = datetime(9000, 1, 1, tzinfo=UTC)
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True, slots=True)
class SpendQuery:
    since: datetime | None = None
    until: datetime | None = None
    """Half-open: ``since <= at < until``; ``None`` is unbounded."""
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Dimension → the values to keep (any of them)."""
    group_by: tuple[str, ...] = ()
    """Dimensions, and at most one of minute | hour | day."""

    def __post_init__(self) -> None:
        """Times in UTC (buckets are UTC, and SQLite compares stored UTC wall-clock text); naive means UTC."""
        for name in ("since", "until"):
            moment: datetime | None = getattr(self, name)
            if moment is not None and moment.tzinfo is not UTC:
                utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
                object.__setattr__(self, name, utc)


@dataclass(frozen=True, slots=True)
class Piece:
    level: str | None
    """The rollup bucket read, or ``None`` for ledger rows."""
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SpendReport:
    query: SpendQuery
    groups: list[dict[str, Any]]
    """One dict per group: the group-by values, then ``SUMS``; most expensive first (in time order first when
    grouped by minute, hour or day)."""
    totals: dict[str, Any]
    source: str
    """What answered: rollups, rows, or rollups+rows."""


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """``7d`` / ``24h`` / ``30m`` / ``2w`` / ``90s`` ago, ``now``, or an ISO date or time (UTC when it names no
    zone); ``ValueError`` otherwise."""
    now = now or datetime.now(UTC)
    if text.strip().lower() == "now":
        return now
    match = _RELATIVE.match(text.lower())
    if match is not None:
        return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use e.g. 7d, 24h, 30m, or 2026-01-31T00:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_group_by(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``team,model`` (or a list of such) → ``("team", "model")``; ``ValueError`` for an unknown name."""
    parts = [text] if isinstance(text, str) else list(text or ())
    names = tuple(dict.fromkeys(n.strip().lower() for part in parts for n in part.split(",") if n.strip()))
    unknown = [n for n in names if n not in DIMENSIONS and n not in TIME_GROUPS]
    if unknown:
        known = ", ".join([*DIMENSIONS, *TIME_GROUPS])
        raise ValueError(f"cannot group by {', '.join(unknown)} (use any of: {known})")
    if sum(n in TIME_GROUPS for n in names) > 1:
        raise ValueError("group by at most one of minute, hour, day")
    return names


def plan(query: SpendQuery) -> list[Piece]:
    """The pieces that answer ``query``: rollup buckets where they fit exactly, rows elsewhere."""
    start, end = query.since or _BEGINNING, query.until or _END
    dims = set(query.filters) | {g for g in query.group_by if g not in TIME_GROUPS}
    if not dims <= ROLLUP_DIMENSIONS:
        return [Piece(None, start, end)] if start < end else []
    time_group = next((g for g in query.group_by if g in TIME_GROUPS), "day")
    return _cover(start, end, list(TIME_GROUPS[: TIME_GROUPS.index(time_group) + 1]))


def _cover(start: datetime, end: datetime, levels: list[str]) -> list[Piece]:
    if start >= end:
        return []
    if not levels:
        return [Piece(None, start, end)]
    level, finer = levels[-1], levels[:-1]
    first = bucket_start(start, level)
    first = first if first == start else first + _STEP[level]
    last = bucket_start(end, level)
    if first >= last:
        return _cover(start, end, finer)
    return [*_cover(start, first, finer), Piece(level, first, last), *_cover(last, end, finer)]


async def run_query(conn: AsyncConnection, query: SpendQuery) -> SpendReport:
    """The report for ``query`` (one SELECT per piece of ``plan``)."""
    is_sqlite = conn.dialect.name == "sqlite"
    time_group = next((g for g in query.group_by if g in TIME_GROUPS), None)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    pieces = plan(query)
    for piece in pieces:
        statement = _rollup_select(query, piece) if piece.level else _rows_select(query, piece, is_sqlite)
        for found in (await conn.execute(statement)).mappings():
            if not found["requests"]:  # an aggregate without GROUP BY answers one row even over no rows
                continue
            key = tuple(_group_value(name, found[name], time_group, is_sqlite) for name in query.group_by)
            sums = merged.setdefault(key, zero_sums())
            for name in SUMS:
                value = found[name] or 0  # PostgreSQL sums integers as NUMERIC
                sums[name] += value if name == "cost_usd" else int(value)
    groups = [{**dict(zip(query.group_by, key, strict=True)), **sums} for key, sums in merged.items()]
    order = (lambda g: (g[time_group], -g["cost_usd"])) if time_group else (lambda g: (-g["cost_usd"], 0))
    groups.sort(key=lambda g: (*order(g), -g["requests"], *(str(g[n]) for n in query.group_by)))
    totals = zero_sums()
    for group in groups:
        for name in SUMS:
            totals[name] += group[name]
    if "tag" in query.group_by:  # tag groups overlap (and miss untagged requests): total without them
        totals = (await run_query(conn, replace(query, group_by=()))).totals
    kinds = {"rows" if p.level is None else "rollups" for p in pieces}
    return SpendReport(query, groups, totals, "+".join(sorted(kinds)) or "rollups")


def _rollup_select(query: SpendQuery, piece: Piece) -> Select[Any]:
    t = spend_rollups
    columns: list[ColumnElement[Any]] = []
    for name in query.group_by:
        columns.append((t.c.bucket_start if name in TIME_GROUPS else t.c[DIMENSIONS[name]]).label(name))
    sums = [func.sum(t.c[name]).label(name) for name in SUMS]
    where = [t.c.bucket == piece.level, t.c.bucket_start >= piece.start, t.c.bucket_start < piece.end]
    where += [t.c[DIMENSIONS[name]].in_(sorted(values)) for name, values in query.filters.items()]
    return select(*columns, *sums).where(and_(*where)).group_by(*columns)


async def list_rows(
    conn: AsyncConnection, query: SpendQuery, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[dict[str, Any]]:
    """Ledger rows matching ``query``'s range and filters (its group-by is ignored), oldest first, ``limit`` at
    most, after the (at, id) of the previous page's last row."""
    t = spend_ledger
    where = _row_filters(query, query.since or _BEGINNING, query.until or _END)
    if after is not None:
        at, ident = after
        where.append(or_(t.c.at > at, and_(t.c.at == at, t.c.id > ident)))
    statement = select(t).where(and_(*where)).order_by(t.c.at, t.c.id).limit(limit)
    rows = [dict(found) for found in (await conn.execute(statement)).mappings()]
    for found in rows:
        found["at"] = found["at"].replace(tzinfo=UTC) if found["at"].tzinfo is None else found["at"]
    return rows


def _row_filters(query: SpendQuery, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    t = spend_ledger
    where = [t.c.at >= start, t.c.at < end]
    for name, values in query.filters.items():
        if name == "tag":
            tagged = select(spend_tags.c.record_id).where(
                spend_tags.c.tag.in_(sorted(values)), spend_tags.c.at >= start, spend_tags.c.at < end
            )
            where.append(t.c.id.in_(tagged))
        elif name == "status":
            where.append(t.c.status.in_(sorted(_status(v) for v in values)))
        else:
            where.append(t.c[DIMENSIONS[name]].in_(sorted(values)))
    return where


def _rows_select(query: SpendQuery, piece: Piece, is_sqlite: bool) -> Select[Any]:
    t = spend_ledger
    columns: list[ColumnElement[Any]] = []
    for name in query.group_by:
        if name in TIME_GROUPS:
            columns.append(_truncate(t.c.at, name, is_sqlite).label(name))
        elif name == "tag":
            columns.append(spend_tags.c.tag.label(name))
        else:
            columns.append(t.c[DIMENSIONS[name]].label(name))
    sums = [
        func.count().label("requests"),
        func.sum(case((t.c.cost_known.is_(False), 1), else_=0)).label("unpriced_requests"),
        *(func.sum(t.c[name]).label(name) for name in (*SPEND_SUMS, "cost_usd")),
    ]
    where = _row_filters(query, piece.start, piece.end)
    source: Any = t
    if "tag" in query.group_by:
        source = t.join(spend_tags, spend_tags.c.record_id == t.c.id)
    return select(*columns, *sums).select_from(source).where(and_(*where)).group_by(*columns)


def _truncate(column: Any, unit: str, is_sqlite: bool) -> ColumnElement[Any]:
    if is_sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return func.substr(column, 1, {"minute": 16, "hour": 13, "day": 10}[unit])
    return func.date_trunc(unit, func.timezone("UTC", column))


def _group_value(name: str, value: Any, time_group: str | None, is_sqlite: bool) -> Any:
    if name in TIME_GROUPS:
        if isinstance(value, str):
            value = datetime.fromisoformat(value + (":00" if len(value) == 13 else ""))
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return bucket_start(moment, time_group or name)
    return value if value != "" else None


def _status(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"status: not a number: {value!r}") from None


def money(amount: Decimal) -> str:
    """A dollar amount as fixed-point text with 9 decimals (never an exponent, never a float)."""
    return format(amount.quantize(Decimal("1e-9")), "f")
