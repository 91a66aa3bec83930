"""Both SQL backends for tests: a SQLite file, and a fresh PostgreSQL database on 127.0.0.1:5432 (created from a
migrated template once per session, dropped after each test). Import the fixtures in a test module with
``from db_backends import database, database_url  # noqa: F401``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from wardgate.storage.database import Database
from wardgate.storage.migrate import upgrade

PG_HOST = os.environ.get("WARDGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_TEMPLATE = f"wg_tmpl_{uuid.uuid4().hex[:10]}"


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
    template = request.getfixturevalue("pg_template")
    name = f"wg_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin([f"CREATE DATABASE {name} TEMPLATE {template}"]))
    yield f"{PG_HOST}/{name}"
    asyncio.run(_admin([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]))


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
