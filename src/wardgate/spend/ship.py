"""Writing a batch of spend records to the database, exactly once per record id: the ids already stored are looked
up (when the batch may be a replay), the other rows are inserted with their tags, and exactly those rows are added
to the minute, hour and day rollups (``ON CONFLICT DO UPDATE SET sum = sum + excluded.sum``), all in one
transaction. A replayed batch (the spool delivers at least once) therefore changes nothing.

The statements go through the database driver itself (``executemany``), with the values SQLAlchemy would bind for
these columns (``storage.schema``: on SQLite DATETIME text, JSON text, 0/1 and nano-dollars): SQLAlchemy's per-row
parameter processing cost more than the database's work. Readers use SQLAlchemy as usual."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from wardgate.spend.record import SpendRecord
from wardgate.storage.database import Database
from wardgate.storage.driver import raw_connection, sqlite_datetime, stored_ids, transaction
from wardgate.storage.schema import SPEND_DIMENSIONS, SPEND_SUMS, spend_ledger, usd_value

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


async def write_batch(db: Database, records: Sequence[SpendRecord], *, replay: bool = True) -> int:
    """Store ``records`` (rows, tags, rollups) in one transaction; returns how many were new (the rest were
    already stored: a replay). ``replay=False`` (the shipper's batch of records no earlier process spooled, on a
    first attempt) skips looking for stored ids; a duplicate then fails the batch (``IntegrityError``)."""
    unique = [r if r.at.tzinfo is UTC else replace(r, at=_utc(r.at)) for r in {r.id: r for r in records}.values()]
    if not unique:
        return 0
    sqlite = db.is_sqlite
    statements = _SQLITE if sqlite else _POSTGRES
    async with raw_connection(db) as driver, transaction(driver, sqlite):
        if replay:
            stored = await stored_ids(driver, sqlite, "spend_ledger", [r.id for r in unique])
            unique = [r for r in unique if r.id not in stored]
        if unique:
            await driver.executemany(statements["ledger"], [_ledger_row(r, sqlite) for r in unique])
            tags = [(r.id, tag, sqlite_datetime(r.at) if sqlite else r.at) for r in unique for tag in _tags(r.tags)]
            if tags:
                await driver.executemany(statements["tags"], tags)
            await driver.executemany(statements["rollups"], rollup_rows(unique, sqlite))
    return len(unique)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ledger_row(r: SpendRecord, sqlite: bool) -> tuple[Any, ...]:
    """A record's ``spend_ledger`` values in ``LEDGER_COLUMNS`` order, text clipped to the column sizes rather than
    refused, as SQLAlchemy binds them (on SQLite: DATETIME text, 0/1, nano-dollars; JSON text on both)."""
    return (
        _clip(r.id, _ID),
        _clip(r.request_id, 128),
        sqlite_datetime(r.at) if sqlite else r.at,
        _clip(r.org_id, _ID),
        _clip(r.team_id, _ID),
        _clip(r.project_id, _ID),
        _clip(r.key_id, _ID),
        _clip(r.user_id, _ID),
        _clip(r.agent, _NAME),
        _clip(r.app, _NAME),
        _clip(r.model, _NAME),
        _clip(r.provider, _NAME),
        _clip(r.deployment, 300),
        _clip(r.upstream_model, _NAME),
        orjson.dumps(list(_tags(r.tags))).decode(),
        _clip(r.endpoint, 64),
        int(r.stream) if sqlite else r.stream,
        r.status,
        r.input_tokens,
        r.output_tokens,
        r.cached_input_tokens,
        r.cache_write_tokens,
        r.reasoning_tokens,
        usd_value(r.cost_usd, sqlite),
        int(r.cost_known) if sqlite else r.cost_known,
    )


LEDGER_COLUMNS = (
    "id", "request_id", "at", "org_id", "team_id", "project_id", "key_id", "user_id", "agent", "app", "model",
    "provider", "deployment", "upstream_model", "tags", "endpoint", "stream", "status", *SPEND_SUMS, "cost_usd",
    "cost_known",
)  # fmt: skip
_ID, _NAME = _LENGTHS["team_id"], _LENGTHS["model"]


def _clip(value: str | None, length: int | None) -> str | None:
    return value[:length] if value is not None and length is not None and len(value) > length else value


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tag[:200] for tag in tags if tag))


def rollup_rows(records: Iterable[SpendRecord], sqlite: bool) -> list[tuple[Any, ...]]:
    """The rollup increments of ``records`` (``ROLLUP_COLUMNS`` order, bound as SQLAlchemy would): one row per
    bucket and attribution, sorted (every writer takes row locks in the same order, so concurrent shippers cannot
    deadlock each other). Records are summed per minute first; hours and days from the minutes."""
    minutes: dict[tuple[datetime, tuple[str, ...]], list[Any]] = {}
    for r in records:
        key = (r.at.replace(second=0, microsecond=0), tuple([(getattr(r, n) or "")[:k] for n, k in _DIMENSIONS]))
        sums = minutes.get(key)
        if sums is None:
            sums = minutes[key] = [0, 0, 0, 0, 0, 0, 0, Decimal(0)]
        sums[0] += 1
        sums[1] += not r.cost_known
        sums[2] += r.input_tokens
        sums[3] += r.output_tokens
        sums[4] += r.cached_input_tokens
        sums[5] += r.cache_write_tokens
        sums[6] += r.reasoning_tokens
        sums[7] += r.cost_usd
    rows: dict[tuple[Any, ...], list[Any]] = {}  # (bucket, start, *dimensions) -> sums
    for (minute, dims), sums in minutes.items():
        for bucket in BUCKETS:
            row_key: tuple[Any, ...] = (bucket, bucket_start(minute, bucket), *dims)
            found = rows.get(row_key)
            rows[row_key] = list(sums) if found is None else [a + b for a, b in zip(found, sums, strict=True)]
    out = []
    for row_key in sorted(rows, key=lambda k: (k[0], k[1].timestamp(), *k[2:])):
        *counts, cost = rows[row_key]
        start = sqlite_datetime(row_key[1]) if sqlite else row_key[1]
        out.append((row_key[0], start, *row_key[2:], *counts, usd_value(cost, sqlite)))
    return out


ROLLUP_COLUMNS = (*_ROLLUP_KEY, *_ROLLUP_SUMS)
_DIMENSIONS = tuple((name, _LENGTHS[name] or 200) for name in SPEND_DIMENSIONS)


def _statements(placeholder: Callable[[int], str]) -> dict[str, str]:
    """The ledger, tag and rollup inserts (column names are constants: no value is formatted into them)."""
    rollup_set = ", ".join(f"{name} = spend_rollups.{name} + excluded.{name}" for name in _ROLLUP_SUMS)
    ledger, rollups = ", ".join(LEDGER_COLUMNS), ", ".join(ROLLUP_COLUMNS)

    def marks(n: int) -> str:
        return ", ".join(placeholder(i + 1) for i in range(n))

    return {
        "ledger": f"INSERT INTO spend_ledger ({ledger}) VALUES ({marks(len(LEDGER_COLUMNS))})",  # noqa: S608
        "tags": f"INSERT INTO spend_tags (record_id, tag, at) VALUES ({marks(3)}) ON CONFLICT DO NOTHING",  # noqa: S608
        "rollups": f"INSERT INTO spend_rollups ({rollups}) VALUES ({marks(len(ROLLUP_COLUMNS))}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET {rollup_set}",
    }


_SQLITE = _statements(lambda n: "?")
_POSTGRES = _statements(lambda n: f"${n}")


def zero_sums() -> dict[str, Any]:
    """The sums of no requests (``cost_usd`` a ``Decimal``)."""
    return {name: Decimal(0) if name == "cost_usd" else 0 for name in _ROLLUP_SUMS}
