"""``IdentityCache`` against SQLite and PostgreSQL: the initial load, incremental refreshes (revoke, disable,
re-enable, new keys, late commits inside the overlap window), expiry at lookup time, the poller, fail-static on a
broken database, coalesced refreshes, team names and users for JWT mapping."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from wardgate.core.keys import hash_key
from wardgate.core.types import Role
from wardgate.identity.cache import IdentityCache
from wardgate.storage.database import Database
from wardgate.storage.schema import orgs, teams, users, virtual_keys


def now() -> datetime:
    return datetime.now(UTC)


async def add_team(db: Database, name: str = "platform", *, org: str = "org_1", at: datetime | None = None) -> str:
    at = at or now()
    team_id = f"team_{name}"
    async with db.engine.begin() as conn:
        if not (await conn.execute(orgs.select().where(orgs.c.id == org))).first():
            await conn.execute(insert(orgs).values(id=org, name=org, metadata={}, created_at=at, updated_at=at))
        await conn.execute(
            insert(teams).values(id=team_id, org_id=org, name=name, metadata={}, created_at=at, updated_at=at)
        )
    return team_id


async def add_key(db: Database, team_id: str, *, at: datetime | None = None, **values: Any) -> tuple[str, str]:
    """Insert a key row; returns (secret, id)."""
    at = at or now()
    secret = "wg-" + os.urandom(16).hex()
    key_id = "key_" + os.urandom(8).hex()
    row: dict[str, Any] = {
        "id": key_id,
        "key_hash": hash_key(secret),
        "key_prefix": secret[:8],
        "name": "test key",
        "team_id": team_id,
        "role": "member",
        "enabled": True,
        "limits": {},
        "budgets": {},
        "metadata": {"app": "billing"},
        "created_by": "test",
        "created_at": at,
        "updated_at": at,
        **values,
    }
    async with db.engine.begin() as conn:
        await conn.execute(insert(virtual_keys).values(**row))
    return secret, key_id


async def change_key(db: Database, key_id: str, *, at: datetime | None = None, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            update(virtual_keys).where(virtual_keys.c.id == key_id).values(updated_at=at or now(), **values)
        )


@pytest.fixture
async def cache(database: Database) -> AsyncIterator[IdentityCache]:
    identity = IdentityCache(poll_interval=0)  # no poller: the tests refresh explicitly
    yield identity
    await identity.close()


async def test_start_loads_keys_and_builds_principals(database: Database, cache: IdentityCache) -> None:
    team = await add_team(database)
    expiry = now() + timedelta(hours=1)
    secret, key_id = await add_key(
        database, team, role="team_admin", allowed_models=["gpt-4o", "fast"], expires_at=expiry, user_id=None
    )
    await cache.start(database)
    principal = cache.lookup(hash_key(secret))
    assert principal is not None
    assert principal.kind == "key" and principal.key_id == key_id
    assert dict(principal.teams) == {team: Role.TEAM_ADMIN}
    assert principal.team_id == team
    assert principal.allowed_models == frozenset({"gpt-4o", "fast"})
    assert principal.expires_at is not None and abs((principal.expires_at - expiry).total_seconds()) < 0.001
    assert principal.metadata == {"app": "billing"}
    assert principal.org_role is None
    assert cache.lookup(hash_key("wg-unknown")) is None
    assert cache.lookup(hash_key(secret)) is principal  # built once per record version


async def test_unrestricted_key_has_no_model_list(database: Database, cache: IdentityCache) -> None:
    secret, _ = await add_key(database, await add_team(database), allowed_models=None)
    await cache.start(database)
    principal = cache.lookup(hash_key(secret))
    assert principal is not None and principal.allowed_models is None and principal.expires_at is None


async def test_revoke_disable_and_reenable_are_seen_on_refresh(database: Database, cache: IdentityCache) -> None:
    team = await add_team(database)
    secret, key_id = await add_key(database, team)
    other, _ = await add_key(database, team)
    await cache.start(database)
    digest = hash_key(secret)
    assert cache.lookup(digest) is not None

    await change_key(database, key_id, enabled=False)
    assert cache.lookup(digest) is not None  # not yet refreshed: the request path never queries
    assert await cache.refresh()
    assert cache.lookup(digest) is None
    record = cache.record(digest)
    assert record is not None and record.enabled is False

    await change_key(database, key_id, enabled=True)
    await cache.refresh()
    assert cache.lookup(digest) is not None

    await change_key(database, key_id, enabled=False, revoked_at=now())
    await cache.refresh()
    assert cache.lookup(digest) is None
    record = cache.record(digest)
    assert record is not None and record.revoked_at is not None
    assert cache.lookup(hash_key(other)) is not None  # the other key is untouched


async def test_new_keys_appear_on_refresh(database: Database, cache: IdentityCache) -> None:
    team = await add_team(database)
    await cache.start(database)
    secret, _ = await add_key(database, team)
    assert cache.lookup(hash_key(secret)) is None
    await cache.refresh()
    assert cache.lookup(hash_key(secret)) is not None
    assert len(cache) == 1


async def test_expiry_is_checked_at_lookup_time(database: Database) -> None:
    clock = [time.time()]
    cache = IdentityCache(poll_interval=0, clock=lambda: clock[0])
    team = await add_team(database)
    secret, _ = await add_key(database, team, expires_at=now() + timedelta(seconds=60))
    past, _ = await add_key(database, team, expires_at=now() - timedelta(seconds=1))
    await cache.start(database)
    assert cache.lookup(hash_key(secret)) is not None
    assert cache.lookup(hash_key(past)) is None
    clock[0] += 61  # no refresh in between
    assert cache.lookup(hash_key(secret)) is None


async def test_a_late_commit_inside_the_overlap_window_is_not_missed(database: Database) -> None:
    """A change committed after a newer one was seen (a slow transaction, or a writer whose clock is behind) is
    still picked up by the next incremental refresh, as long as it is within ``overlap`` of the newest seen."""
    cache = IdentityCache(poll_interval=0, overlap=5.0)
    team = await add_team(database)
    await add_key(database, team, at=now())
    await cache.start(database)
    late, _ = await add_key(database, team, at=now() - timedelta(seconds=3))
    too_late, _ = await add_key(database, team, at=now() - timedelta(seconds=30))
    await cache.refresh()
    assert cache.lookup(hash_key(late)) is not None
    assert cache.lookup(hash_key(too_late)) is None  # older than the window: only a full reload finds it
    await cache.refresh(full=True)
    assert cache.lookup(hash_key(too_late)) is not None


async def test_unchanged_rows_keep_their_principal(database: Database, cache: IdentityCache) -> None:
    team = await add_team(database)
    secret, key_id = await add_key(database, team, allowed_models=["a"])
    await cache.start(database)
    first = cache.lookup(hash_key(secret))
    await cache.refresh()  # re-reads the row (inside the overlap window) without change
    assert cache.lookup(hash_key(secret)) is first
    await change_key(database, key_id, allowed_models=["a", "b"])
    await cache.refresh()
    second = cache.lookup(hash_key(secret))
    assert second is not first and second is not None and second.allowed_models == frozenset({"a", "b"})


async def test_a_stored_role_that_is_not_a_team_role_never_authenticates(
    database: Database, cache: IdentityCache
) -> None:
    secret, _ = await add_key(database, await add_team(database), role="org_admin")
    await cache.start(database)
    assert cache.lookup(hash_key(secret)) is None


async def test_the_poller_applies_a_revocation_without_being_asked(database: Database) -> None:
    cache = IdentityCache(poll_interval=0.05)
    secret, key_id = await add_key(database, await add_team(database))
    await cache.start(database)
    try:
        await change_key(database, key_id, enabled=False, revoked_at=now())
        started = time.monotonic()
        while cache.lookup(hash_key(secret)) is not None:
            assert time.monotonic() - started < 2.0, "the poller did not apply the revocation"
            await asyncio.sleep(0.01)
        assert cache.refreshes >= 2
    finally:
        await cache.close()


class BrokenEngine:
    def connect(self) -> Any:
        raise ConnectionError("database down")


async def test_a_failing_database_keeps_the_last_good_index(
    database: Database, cache: IdentityCache, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret, key_id = await add_key(database, await add_team(database))
    await cache.start(database)
    with monkeypatch.context() as patch:
        patch.setattr(database, "engine", BrokenEngine())
        assert await cache.refresh() is False
        assert await cache.refresh() is False
        assert cache.failures == 2 and cache.last_error is not None and "database down" in cache.last_error
        assert cache.lookup(hash_key(secret)) is not None  # fail static
    assert sum("identity cache refresh failed" in r.getMessage() for r in caplog.records) == 1  # once per outage
    await change_key(database, key_id, enabled=False)
    assert await cache.refresh() is True
    assert cache.last_error is None
    assert cache.lookup(hash_key(secret)) is None


async def test_concurrent_refreshes_coalesce(database: Database, cache: IdentityCache) -> None:
    await add_key(database, await add_team(database))
    await cache.start(database)
    before = cache.refreshes
    results = await asyncio.gather(*(cache.refresh() for _ in range(20)))
    assert all(results)
    assert 1 <= cache.refreshes - before <= 2  # one running, at most one more for the calls that queued behind it


async def test_teams_and_users_for_jwt_mapping(database: Database, cache: IdentityCache) -> None:
    platform = await add_team(database, "platform")
    await cache.start(database)
    assert dict(cache.team_ids) == {"platform": platform}
    version = cache.version
    research = await add_team(database, "research")
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(users).values(
                id="user_1",
                org_id="org_1",
                email="a@example.com",
                external_id="alice",
                disabled=False,
                metadata={},
                created_at=now(),
                updated_at=now(),
            )
        )
    await cache.refresh()
    assert dict(cache.team_ids) == {"platform": platform, "research": research}
    assert cache.version > version
    user = cache.user_by_external_id("alice")
    assert user is not None and user.id == "user_1" and not user.disabled
    version = cache.version
    await cache.refresh()
    assert cache.version == version  # nothing changed: derived caches stay valid
    async with database.engine.begin() as conn:
        await conn.execute(
            update(users).where(users.c.id == "user_1").values(external_id="alice2", disabled=True, updated_at=now())
        )
    await cache.refresh()
    assert cache.user_by_external_id("alice") is None
    moved = cache.user_by_external_id("alice2")
    assert moved is not None and moved.disabled and cache.version > version
