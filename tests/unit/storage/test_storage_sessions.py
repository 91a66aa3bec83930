"""Sign-in state in SQL (``storage.sessions``) on SQLite and PostgreSQL: pending logins are single use (also across
replicas racing for the same state), expire, and store the state only as a hash; sessions store only the token's
hash, resolve to the person's current roles, stop at expiry, revocation and disabled users, and are purged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import Role
from wardgate.identity.oidc import LoginStart
from wardgate.storage import org, org_users
from wardgate.storage.database import Database
from wardgate.storage.schema import login_states, sessions
from wardgate.storage.sessions import (
    SessionStore,
    SqlPendingLogins,
    create_session,
    purge_expired,
    resolve_session,
    revoke_session,
    revoke_user_sessions,
)

TOKEN = "wgs_" + "a" * 43


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self.now = datetime.now(UTC).timestamp() if start is None else start

    def __call__(self) -> float:
        return self.now


def login(state: str = "state-" + "s" * 40, created_at: float | None = None) -> LoginStart:
    created = datetime.now(UTC).timestamp() if created_at is None else created_at
    return LoginStart(state, "nonce-1", "verifier-" + "v" * 50, created, "/ui/keys?tab=2", "https://idp/authorize?x")


@pytest.fixture
async def user(database: Database) -> dict[str, str]:
    """A user who is team_admin of "platform", viewer of "research" and an auditor."""
    async with database.engine.begin() as conn:
        platform = await org.create_team(conn, "platform")
        research = await org.create_team(conn, "research")
        person = await org_users.create_user(conn, "Alice@Example.com", name="Alice", org_role=Role.AUDITOR)
        await org_users.add_member(conn, platform["id"], person["id"], Role.TEAM_ADMIN)
        await org_users.add_member(conn, research["id"], person["id"], Role.VIEWER)
    return {"id": person["id"], "platform": platform["id"], "research": research["id"]}


@pytest.fixture
async def conn(database: Database) -> AsyncIterator[AsyncConnection]:
    async with database.engine.begin() as connection:
        yield connection


# --- pending logins ---------------------------------------------------------------------------------------------


async def test_a_pending_login_comes_back_once_and_only_its_state_hash_is_stored(database: Database) -> None:
    pending = SqlPendingLogins(database)
    started = login()
    await pending.put(started)
    async with database.engine.connect() as conn:
        keys = (await conn.execute(select(login_states.c.state))).scalars().all()
    assert keys == [hash_key(started.state)]
    taken = await pending.take(started.state)
    assert (taken.state, taken.nonce, taken.code_verifier) == (started.state, started.nonce, started.code_verifier)
    assert (taken.return_to, taken.created_at) == (started.return_to, started.created_at)
    with pytest.raises(AuthenticationError, match="unknown or was already used"):
        await pending.take(started.state)


async def test_an_unknown_state_is_refused(database: Database) -> None:
    with pytest.raises(AuthenticationError, match="unknown or was already used"):
        await SqlPendingLogins(database).take("never-issued")


async def test_an_expired_login_is_refused_and_gone(database: Database) -> None:
    clock = Clock()
    pending = SqlPendingLogins(database, ttl=600, clock=clock)
    started = login(created_at=clock.now)
    await pending.put(started)
    clock.now += 601
    with pytest.raises(AuthenticationError, match="expired"):
        await pending.take(started.state)
    with pytest.raises(AuthenticationError, match="already used"):
        await pending.take(started.state)


async def test_two_replicas_racing_for_one_state_let_only_one_win(database_url: str) -> None:
    replicas = [Database(database_url), Database(database_url)]
    try:
        started = login()
        await SqlPendingLogins(replicas[0]).put(started)
        results = await asyncio.gather(
            *(SqlPendingLogins(db).take(started.state) for db in replicas), return_exceptions=True
        )
    finally:
        for db in replicas:
            await db.close()
    assert sum(isinstance(result, LoginStart) for result in results) == 1
    assert sum(isinstance(result, AuthenticationError) for result in results) == 1


async def test_putting_a_login_purges_expired_ones(database: Database) -> None:
    clock = Clock()
    pending = SqlPendingLogins(database, ttl=60, clock=clock)
    await pending.put(login("old-state", created_at=clock.now))
    clock.now += 120
    await pending.put(login("new-state", created_at=clock.now))
    async with database.engine.connect() as conn:
        keys = set((await conn.execute(select(login_states.c.state))).scalars().all())
    assert keys == {hash_key("new-state")}


# --- sessions ---------------------------------------------------------------------------------------------------


async def test_a_session_resolves_to_the_person_with_current_roles(database: Database, user: dict[str, str]) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    async with database.engine.begin() as conn:
        await create_session(conn, TOKEN, user["id"], expires, {"issuer": "https://idp"})
        stored = (await conn.execute(select(sessions))).mappings().one()
    assert stored["token_hash"] == hash_key(TOKEN)
    assert TOKEN not in str(dict(stored))
    async with database.engine.connect() as conn:
        principal = await resolve_session(conn, TOKEN)
    assert principal is not None
    assert (principal.kind, principal.key_id, principal.user_id) == ("session", f"user:{user['id']}", user["id"])
    assert principal.org_role is Role.AUDITOR
    assert dict(principal.teams) == {user["platform"]: Role.TEAM_ADMIN, user["research"]: Role.VIEWER}
    assert principal.metadata == {"email": "alice@example.com", "name": "Alice"}
    assert principal.expires_at is not None and abs((principal.expires_at - expires).total_seconds()) < 1


async def test_unknown_expired_revoked_and_disabled_sessions_resolve_to_nothing(
    conn: AsyncConnection, user: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    assert await resolve_session(conn, TOKEN) is None
    await create_session(conn, TOKEN, user["id"], now + timedelta(hours=1))
    assert await resolve_session(conn, TOKEN, now=now + timedelta(hours=2)) is None
    assert await resolve_session(conn, TOKEN) is not None
    await org_users.disable_user(conn, user["id"])
    assert await resolve_session(conn, TOKEN) is None
    await org_users.update_user(conn, user["id"], {"disabled": False})
    assert await revoke_session(conn, TOKEN) is True
    assert await revoke_session(conn, TOKEN) is False
    assert await resolve_session(conn, TOKEN) is None


async def test_revoking_a_users_sessions_signs_them_out_everywhere(conn: AsyncConnection, user: dict[str, str]) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    other = "wgs_" + "b" * 43
    await create_session(conn, TOKEN, user["id"], later)
    await create_session(conn, other, user["id"], later)
    assert await revoke_user_sessions(conn, user["id"]) == 2
    assert await resolve_session(conn, TOKEN) is None and await resolve_session(conn, other) is None


async def test_purge_deletes_expired_sessions_and_logins_only(conn: AsyncConnection, user: dict[str, str]) -> None:
    now = datetime.now(UTC)
    await create_session(conn, TOKEN, user["id"], now - timedelta(minutes=1))
    await create_session(conn, "wgs_" + "c" * 43, user["id"], now + timedelta(hours=1))
    await conn.execute(login_states.insert().values(state="x" * 64, data="{}", expires_at=now - timedelta(seconds=1)))
    assert await purge_expired(conn) == 2
    left = (await conn.execute(select(sessions.c.token_hash))).scalars().all()
    assert left == [hash_key("wgs_" + "c" * 43)]


# --- the store on the request path -------------------------------------------------------------------------------


async def test_the_store_creates_tokens_and_revocation_is_immediate_here(
    database: Database, user: dict[str, str]
) -> None:
    store = SessionStore(database, ttl_seconds=3600)
    async with database.engine.begin() as conn:
        token = await store.create(conn, user["id"])
    assert token.startswith("wgs_") and len(token) > 40
    first = await store.resolve(token)
    assert first is not None and first.user_id == user["id"]
    statements = database.statements
    assert await store.resolve(token) is first  # cached: no SQL
    assert database.statements == statements
    assert await store.revoke(token) is True
    assert await store.resolve(token) is None


async def test_another_replica_notices_a_revocation_within_the_cache_time(
    database_url: str, user: dict[str, str]
) -> None:
    clock = Clock()
    here, there = Database(database_url), Database(database_url)
    try:
        local = SessionStore(here, ttl_seconds=3600, cache_seconds=2, clock=clock)
        remote = SessionStore(there, ttl_seconds=3600, cache_seconds=2, clock=clock)
        async with here.engine.begin() as conn:
            token = await local.create(conn, user["id"])
        assert await remote.resolve(token) is not None
        await local.revoke(token)
        assert await remote.resolve(token) is not None  # still cached over there
        clock.now += 2.1
        assert await remote.resolve(token) is None
    finally:
        await here.close()
        await there.close()


async def test_a_cached_session_still_ends_at_its_expiry(database: Database, user: dict[str, str]) -> None:
    clock = Clock()
    store = SessionStore(database, ttl_seconds=60, cache_seconds=3600, clock=clock)
    async with database.engine.begin() as conn:
        token = await store.create(conn, user["id"])
    assert await store.resolve(token) is not None
    clock.now += 61
    assert await store.resolve(token) is None


async def test_clearing_the_cache_shows_role_changes_at_once(database: Database, user: dict[str, str]) -> None:
    store = SessionStore(database, ttl_seconds=3600, cache_seconds=3600)
    async with database.engine.begin() as conn:
        token = await store.create(conn, user["id"])
    before = await store.resolve(token)
    assert before is not None and user["research"] in before.teams
    async with database.engine.begin() as conn:
        await org_users.remove_member(conn, user["research"], user["id"])
    assert await store.resolve(token) is before
    store.clear_cache()
    after = await store.resolve(token)
    assert after is not None and user["research"] not in after.teams


async def test_random_tokens_are_bounded_in_the_cache(database: Database) -> None:
    store = SessionStore(database, ttl_seconds=3600, cache_size=3)
    for index in range(10):
        assert await store.resolve(f"wgs_{index:043d}") is None
    assert len(store._cache) == 3


async def test_purging_runs_at_most_once_per_interval(database: Database, user: dict[str, str]) -> None:
    clock = Clock()
    store = SessionStore(database, ttl_seconds=60, purge_interval=600, clock=clock)
    async with database.engine.begin() as conn:
        await store.create(conn, user["id"])
    clock.now += 120
    assert await store.purge_now_and_then() == 1
    async with database.engine.begin() as conn:
        await store.create(conn, user["id"])
    clock.now += 120
    assert await store.purge_now_and_then() == 0  # too soon
    clock.now += 600
    assert await store.purge_now_and_then() == 1
