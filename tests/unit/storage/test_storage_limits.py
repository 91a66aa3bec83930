"""Limits and budgets on teams and projects (``storage.org``) on SQLite and PostgreSQL: created, read back, updated
(``updated_at`` moves, so the identity cache sees it) and cleared; and migration 0002 adding the columns to a
database at 0001 that already holds a team and a project (they read back as ``{}``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db_backends import PG_HOST, _admin
from wardgate.storage import org
from wardgate.storage.database import Database
from wardgate.storage.migrate import current, head_revision, upgrade
from wardgate.storage.schema import orgs, projects, teams

LIMITS = {"tokens_per_minute": 200_000, "mode": "audit"}


@pytest.fixture
async def conn(database: Database) -> AsyncIterator[AsyncConnection]:
    async with database.engine.connect() as connection:
        yield connection


async def test_team_limits_and_budgets_round_trip(conn: AsyncConnection) -> None:
    plain = await org.create_team(conn, "plain")
    assert (plain["limits"], plain["budgets"]) == ({}, {})
    team = await org.create_team(conn, "platform", {"cc": "1"}, limits=LIMITS, budgets={"usd_per_month": 100})
    await conn.commit()
    stored = await org.get_team(conn, team["id"])
    assert stored is not None
    assert (stored["limits"], stored["budgets"], stored["metadata"]) == (LIMITS, {"usd_per_month": 100}, {"cc": "1"})
    assert await org.get_team(conn, plain["id"]) == plain

    await asyncio.sleep(0.01)
    changed = await org.update_team(conn, team["id"], {"limits": {"concurrent": 5}})
    assert changed is not None
    assert (changed["limits"], changed["budgets"]) == ({"concurrent": 5}, {"usd_per_month": 100})
    assert changed["updated_at"] > stored["updated_at"]
    cleared = await org.update_team(conn, team["id"], {"limits": {}, "budgets": {}})
    assert cleared is not None and (cleared["limits"], cleared["budgets"]) == ({}, {})
    listed = await org.list_teams(conn, name="platform")
    assert [(t["limits"], t["budgets"]) for t in listed] == [({}, {})]


async def test_project_limits_and_budgets_round_trip(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    project = await org.create_project(conn, team["id"], "bots", limits=LIMITS, budgets={"usd": 5})
    await conn.commit()
    stored = await org.get_project(conn, project["id"])
    assert stored is not None and (stored["limits"], stored["budgets"]) == (LIMITS, {"usd": 5})

    await asyncio.sleep(0.01)
    changed = await org.update_project(conn, project["id"], {"limits": {"requests_per_minute": 60}, "name": "bots2"})
    assert changed is not None
    assert (changed["limits"], changed["budgets"], changed["name"]) == (
        {"requests_per_minute": 60},
        {"usd": 5},
        "bots2",
    )
    assert changed["updated_at"] > stored["updated_at"]
    listed = await org.list_projects(conn, team["id"])
    assert [p["limits"] for p in listed] == [{"requests_per_minute": 60}]


async def test_unknown_columns_are_still_refused(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    with pytest.raises(ValueError, match="not updatable"):
        await org.update_team(conn, team["id"], {"limits": {}, "org_id": "x"})


# --- migration 0002 -------------------------------------------------------------------------------------------


async def _seed_at_0001(db: Database) -> None:
    assert await upgrade(db, "0001") == "0001"
    stamp = datetime.now(UTC)
    base = {"metadata": {}, "created_at": stamp, "updated_at": stamp}
    async with db.engine.begin() as conn:  # the 0001 columns only: the model's tables have more
        await conn.execute(insert(orgs).values(id="org_1", name="acme", **base))
        await conn.execute(
            text(
                "INSERT INTO teams (id, org_id, name, metadata, created_at, updated_at) "
                "VALUES ('team_old', 'org_1', 'old', '{}', :at, :at)"
            ),
            {"at": stamp},
        )
        await conn.execute(
            text(
                "INSERT INTO projects (id, team_id, name, metadata, created_at, updated_at) "
                "VALUES ('proj_old', 'team_old', 'bots', '{}', :at, :at)"
            ),
            {"at": stamp},
        )


async def _check_upgraded(db: Database) -> None:
    assert await upgrade(db) == head_revision()
    async with db.engine.connect() as conn:
        team = (await conn.execute(select(teams).where(teams.c.id == "team_old"))).mappings().one()
        project = (await conn.execute(select(projects).where(projects.c.id == "proj_old"))).mappings().one()
        assert (team["limits"], team["budgets"]) == ({}, {})
        assert (project["limits"], project["budgets"]) == ({}, {})
        fresh = await org.create_team(conn, "new", limits={"concurrent": 2})
        assert fresh["limits"] == {"concurrent": 2}
        changed = await org.update_team(conn, "team_old", {"limits": {"tokens_per_day": 10}})
        assert changed is not None and changed["limits"] == {"tokens_per_day": 10}


async def test_upgrade_from_0001_keeps_existing_teams_and_projects(tmp_path: Path) -> None:
    name = f"wg_mig_{uuid.uuid4().hex[:10]}"
    await _admin([f"CREATE DATABASE {name}"])
    try:
        for url in (f"sqlite:///{tmp_path / 'old.db'}", f"{PG_HOST}/{name}"):
            db = Database(url)
            try:
                await _seed_at_0001(db)
                assert await current(db) == "0001"
                await _check_upgraded(db)
            finally:
                await db.close()
    finally:
        await _admin([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
