"""Schema migrations (Alembic, scripts in ``storage/migrations``), applied at start under a lock so several
replicas can start at once: PostgreSQL takes a session advisory lock, SQLite an exclusive lock on a file beside the
database. The loser waits, then finds the schema current and does nothing. ``wardgate db upgrade|current`` runs the
same code."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.storage.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")
logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per start is noise; failures still raise
_PG_LOCK_KEY = 0x77617264  # "ward"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema to ``revision`` (the latest by default) and return the revision it is at."""
    async with _migration_lock(db):
        async with db.engine.begin() as conn:
            await conn.run_sync(_run_upgrade, revision)
        return await current(db)


async def current(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current_revision)


def _run_upgrade(connection: Any, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_revision(connection: Any) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.asynccontextmanager
async def _migration_lock(db: Database) -> AsyncIterator[None]:
    if db.is_sqlite:
        path = db.sqlite_path
        if path is None:  # an in-memory database belongs to one process
            yield
            return
        lock_path = path.with_name(path.name + ".migrate.lock")
        handle = await asyncio.to_thread(_flock, lock_path)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    async with db.engine.connect() as conn:
        await _pg_lock(conn)
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            await conn.commit()


async def _pg_lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
    await conn.commit()


def _flock(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle
