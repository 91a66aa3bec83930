"""Both SQL backends for tests: a fresh SQLite file per test, and a PostgreSQL database on 127.0.0.1:5432 migrated
once per session and emptied (every table truncated) before each test. The fixtures are registered for every test
in tests/conftest.py."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from wardgate.storage.database import Database
from wardgate.storage.migrate import upgrade
from wardgate.storage.schema import GENESIS_HASH, audit_head, metadata

PG_HOST = os.environ.get("WARDGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_TEMPLATE = f"wg_tmpl_{uuid.uuid4().hex[:10]}"
AUDIT_HEAD = {"id": 1, "seq": 0, "hash": GENESIS_HASH, "base_seq": 0, "base_hash": GENESIS_HASH}


async def _admin(statements: list[str]) -> None:
    engine = create_async_engine(f"{PG_HOST.replace('postgresql://', 'postgresql+asyncpg://')}/postgres")
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _make_template() -> None:
    await _admin([f"CREATE DATABASE {_TEMPLATE}"])
    db = Database(f"{PG_HOST}/{_TEMPLATE}")
    try:
        await upgrade(db)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """The session's PostgreSQL database, migrated once (the name is kept for the fixture's users)."""
    asyncio.run(_make_template())
    yield _TEMPLATE
    asyncio.run(_admin([f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)"]))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind; shared by every process a test starts."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wardgate.db'}"
        asyncio.run(_migrate(url))
        yield url
        return
    url = f"{PG_HOST}/{request.getfixturevalue('pg_template')}"
    asyncio.run(_truncate(url))
    yield url


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            await conn.execute(
                insert(audit_head).values(**AUDIT_HEAD, updated_at=datetime.now(UTC))
            )  # what migration 0004 seeds
    finally:
        await db.close()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()
