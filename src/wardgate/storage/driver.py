"""Statements sent through the database driver itself (aiosqlite, asyncpg) on a pooled connection, for the
write-behind shippers: their batches cost more in SQLAlchemy's per-row parameter processing than in the database.
Everything else uses SQLAlchemy. The callers bind values exactly as SQLAlchemy would for their columns, so readers
see no difference.

``raw_connection`` lends the driver's connection (SQLAlchemy's pool resets it on return); ``transaction`` runs a
block in one transaction (on SQLite ``BEGIN IMMEDIATE``: the write lock is taken at once, so two writers queue
instead of failing on an upgrade); ``stored_ids`` says which of some ids a table holds already; ``sqlite_datetime``
is a time as SQLAlchemy binds a ``DateTime`` column on SQLite.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime
from typing import Any

from wardgate.storage.database import Database


@contextlib.asynccontextmanager
async def raw_connection(db: Database) -> AsyncIterator[Any]:
    async with db.engine.connect() as conn:
        yield (await conn.get_raw_connection()).driver_connection


@contextlib.asynccontextmanager
async def transaction(driver: Any, sqlite: bool) -> AsyncIterator[None]:
    if not sqlite:
        async with driver.transaction():
            yield
        return
    if driver.in_transaction:  # (the pool rolls back on return; this is only a safeguard)
        await driver.rollback()
    await driver.execute("BEGIN IMMEDIATE")
    try:
        yield
        await driver.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await driver.rollback()
        raise


async def stored_ids(driver: Any, sqlite: bool, table: str, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` are in ``table.id`` (``table``: a constant of the caller's, never input)."""
    if not ids:
        return set()
    if sqlite:
        marks = ", ".join("?" * len(ids))
        found = await driver.execute_fetchall(f"SELECT id FROM {table} WHERE id IN ({marks})", list(ids))  # noqa: S608
    else:
        found = await driver.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::varchar[])", list(ids))  # noqa: S608
    return {row[0] for row in found}


def sqlite_datetime(moment: datetime) -> str:
    """SQLAlchemy's SQLite ``DATETIME`` text: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")
