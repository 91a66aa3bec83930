"""Migrations on SQLite and PostgreSQL: from empty to head, several replicas at once (the lock), a database made
before migrations existed, and the ``wardgate db`` commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import inspect, text

from db_backends import PG_HOST, _admin
from wardgate.storage.database import Database
from wardgate.storage.migrate import current, head_revision, upgrade
from wardgate.storage.schema import metadata

EXPECTED = set(metadata.tables)


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def fresh_pg() -> str:
    name = f"wg_mig_{uuid.uuid4().hex[:10]}"
    await _admin([f"CREATE DATABASE {name}"])
    return name


async def test_empty_to_head_on_both_backends(tmp_path: Path) -> None:
    name = await fresh_pg()
    try:
        for url in (f"sqlite:///{tmp_path / 'a.db'}", f"{PG_HOST}/{name}"):
            db = Database(url)
            try:
                assert await current(db) is None
                assert await upgrade(db) == head_revision()
                assert await tables(db) >= EXPECTED
                assert await upgrade(db) == head_revision()  # a second run is a no-op
            finally:
                await db.close()
    finally:
        await _admin([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


async def test_replicas_starting_at_once_migrate_once(tmp_path: Path) -> None:
    name = await fresh_pg()
    try:
        for url in (f"sqlite:///{tmp_path / 'b.db'}", f"{PG_HOST}/{name}"):
            dbs = [Database(url) for _ in range(4)]
            try:
                revisions = await asyncio.gather(*(upgrade(db) for db in dbs))
                assert revisions == [head_revision()] * 4
            finally:
                for db in dbs:
                    await db.close()
    finally:
        await _admin([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


async def test_a_database_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE gateway_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL, updated_at DATETIME)"
                )
            )
            await conn.execute(text("INSERT INTO gateway_meta VALUES ('master_key_sha256', 'abc', '2026-01-01')"))
        await upgrade(db)
        assert await tables(db) >= EXPECTED
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT value FROM gateway_meta"))).scalar_one() == "abc"
    finally:
        await db.close()


def test_db_commands(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WARDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "WARDGATE_DATA_DIR": str(tmp_path),
    }
    env.pop("WARDGATE_CONFIG", None)
    run = [sys.executable, "-m", "wardgate", "db"]
    before = subprocess.run([*run, "current"], env=env, capture_output=True, text=True, check=True)
    assert "(empty database)" in before.stdout and "needs `wardgate db upgrade`" in before.stdout
    upgraded = subprocess.run([*run, "upgrade"], env=env, capture_output=True, text=True, check=True)
    assert f"at revision {head_revision()}" in upgraded.stdout
    after = subprocess.run([*run, "current"], env=env, capture_output=True, text=True, check=True)
    assert "up to date" in after.stdout
    bad = subprocess.run(
        [*run, "current"],
        env={**env, "WARDGATE_DATABASE_URL": "postgresql://nobody:hunter2@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "error:" in bad.stderr
    assert "hunter2" not in bad.stderr and "Traceback" not in bad.stderr
