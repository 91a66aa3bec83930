"""Writing a batch of spend records to the database, exactly once per record id: the rows that were not there yet
are inserted (``ON CONFLICT DO NOTHING … RETURNING id``), their tags too, and exactly those rows are added to the
minute, hour and day rollups (``ON CONFLICT DO UPDATE SET sum = sum + excluded.sum``), all in one transaction.
A replayed batch (the spool delivers at least once) therefore changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.spend.record import SpendRecord
from wardgate.storage.database import Database
from wardgate.storage.schema import SPEND_DIMENSIONS, SPEND_SUMS, spend_ledger, spend_rollups, spend_tags

BUCKETS = ("minute", "hour", "day")
_LENGTHS = {c.name: getattr(c.type, "length", None) for c in spend_ledger.c}
_ROLLUP_KEY = ("bucket", "bucket_start", *SPEND_DIMENSIONS)
_ROLLUP_SUMS = ("requests", "unpriced_requests", *SPEND_SUMS, "cost_usd")


def bucket_start(at: datetime, bucket: str) -> datetime:
    """The start of the minute, hour or day (UTC) that ``at`` falls in."""
    if bucket == "minute":
        return at.replace(second=0, microsecond=0)
    if bucket == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown bucket {bucket!r}")


async def write_batch(db: Database, records: Sequence[SpendRecord]) -> int:
    """Store ``records`` (rows, tags, rollups) in one transaction; returns how many were new (the rest were
    already stored: a replay)."""
    unique = [r if r.at.tzinfo is UTC else replace(r, at=_utc(r.at)) for r in {r.id: r for r in records}.values()]
    if not unique:
        return 0
    async with db.engine.begin() as conn:
        inserted = await _insert_rows(conn, db.is_sqlite, unique)
        fresh = [r for r in unique if r.id in inserted]
        tags = [{"record_id": r.id, "tag": tag, "at": r.at} for r in fresh for tag in _tags(r.tags)]
        if tags:
            await conn.execute(_insert(db.is_sqlite, spend_tags).on_conflict_do_nothing(), tags)
        if fresh:
            await _add_to_rollups(conn, db.is_sqlite, fresh)
    return len(fresh)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _insert(is_sqlite: bool, table: Table) -> Any:
    return sqlite.insert(table) if is_sqlite else postgresql.insert(table)


async def _insert_rows(conn: AsyncConnection, is_sqlite: bool, records: list[SpendRecord]) -> set[str]:
    statement = (
        _insert(is_sqlite, spend_ledger).on_conflict_do_nothing(index_elements=["id"]).returning(spend_ledger.c.id)
    )
    result = await conn.execute(statement, [row(r) for r in records])
    return set(result.scalars())


def row(r: SpendRecord) -> dict[str, Any]:
    """The ``spend_ledger`` row of a record (text clipped to the column sizes rather than refused)."""
    values: dict[str, Any] = {
        "id": r.id,
        "request_id": r.request_id,
        "at": r.at,
        "org_id": r.org_id,
        "team_id": r.team_id,
        "project_id": r.project_id,
        "key_id": r.key_id,
        "user_id": r.user_id,
        "agent": r.agent,
        "app": r.app,
        "model": r.model,
        "provider": r.provider,
        "deployment": r.deployment,
        "upstream_model": r.upstream_model,
        "endpoint": r.endpoint,
    }
    for name, value in values.items():
        length = _LENGTHS.get(name)
        if isinstance(value, str) and length is not None and len(value) > length:
            values[name] = value[:length]
    values.update(
        tags=list(_tags(r.tags)),
        stream=r.stream,
        status=r.status,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        cached_input_tokens=r.cached_input_tokens,
        cache_write_tokens=r.cache_write_tokens,
        reasoning_tokens=r.reasoning_tokens,
        cost_usd=r.cost_usd,
        cost_known=r.cost_known,
    )
    return values


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tag[:200] for tag in tags if tag))


def rollup_rows(records: Iterable[SpendRecord]) -> list[dict[str, Any]]:
    """The rollup increments of ``records``: one row per bucket and attribution, sorted (every writer takes row
    locks in the same order, so concurrent shippers cannot deadlock each other)."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for r in records:
        dims = tuple((getattr(r, name) or "")[: 64 if name.endswith("_id") else 200] for name in SPEND_DIMENSIONS)
        values = (
            1,
            0 if r.cost_known else 1,
            r.input_tokens,
            r.output_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.reasoning_tokens,
            r.cost_usd,
        )
        for bucket in BUCKETS:
            key = (bucket, bucket_start(r.at, bucket), *dims)
            found = sums.get(key)
            if found is None:
                sums[key] = list(values)
            else:
                for i, value in enumerate(values):
                    found[i] += value
    return [
        {**dict(zip(_ROLLUP_KEY, key, strict=True)), **dict(zip(_ROLLUP_SUMS, sums[key], strict=True))}
        for key in sorted(sums, key=lambda k: (k[0], k[1].timestamp(), *k[2:]))
    ]


async def _add_to_rollups(conn: AsyncConnection, is_sqlite: bool, records: list[SpendRecord]) -> None:
    statement = _insert(is_sqlite, spend_rollups)
    statement = statement.on_conflict_do_update(
        index_elements=list(_ROLLUP_KEY),
        set_={name: spend_rollups.c[name] + statement.excluded[name] for name in _ROLLUP_SUMS},
    )
    await conn.execute(statement, rollup_rows(records))


def zero_sums() -> dict[str, Any]:
    """The sums of no requests (``cost_usd`` a ``Decimal``)."""
    return {name: Decimal(0) if name == "cost_usd" else 0 for name in _ROLLUP_SUMS}
