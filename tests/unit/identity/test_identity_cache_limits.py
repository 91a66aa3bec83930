"""Rate limits on principals, built by the ``IdentityCache`` on SQLite and PostgreSQL: a key's principal carries its
own, its team's and its project's ``LimitSet`` (only those that set a limit); a team or project limit change
reaches the key principals of that team or project after one refresh (and only theirs); a stored value that no
longer validates is logged once and ignored, never an authentication failure; people (JWT, session) in exactly one
team get that team's limits from the ``Authenticator``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update
from test_identity_authenticator import jwt_auth
from test_identity_cache import add_key, add_team, change_key, now

from wardgate.config.limits_config import LimitSet
from wardgate.core.keys import hash_key
from wardgate.core.types import Principal, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.storage.database import Database
from wardgate.storage.schema import projects, teams
from wardgate.testing.fake_oidc import FakeOidc

TEAM = {"tokens_per_minute": 1000, "mode": "audit"}


@pytest.fixture
async def cache(database: Database) -> AsyncIterator[IdentityCache]:
    identity = IdentityCache(poll_interval=0)
    yield identity
    await identity.close()


async def set_limits(db: Database, table: Any, object_id: str, limits: Any, *, seconds: float = 0) -> None:
    async with db.engine.begin() as conn:
        at = now() + timedelta(seconds=seconds)
        await conn.execute(update(table).where(table.c.id == object_id).values(limits=limits, updated_at=at))


async def add_project(db: Database, team_id: str, name: str, limits: Any) -> str:
    at = now()
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(projects).values(
                id=f"proj_{name}", team_id=team_id, name=name, metadata={}, limits=limits, created_at=at, updated_at=at
            )
        )
    return f"proj_{name}"


def limits_of(cache: IdentityCache, secret: str) -> dict[str, LimitSet]:
    principal = cache.lookup(hash_key(secret))
    assert principal is not None
    return dict(principal.limits)


async def test_key_principals_carry_key_team_and_project_limits(database: Database, cache: IdentityCache) -> None:
    platform = await add_team(database, "platform")
    await set_limits(database, teams, platform, TEAM)
    plain = await add_team(database, "plain")
    bots = await add_project(database, platform, "bots", {"concurrent": 3})
    full, _ = await add_key(database, platform, project_id=bots, limits={"requests_per_minute": 60})
    team_only, _ = await add_key(database, platform)
    nothing, _ = await add_key(database, plain)
    await cache.start(database)

    assert limits_of(cache, full) == {
        "key": LimitSet(requests_per_minute=60),
        "team": LimitSet(tokens_per_minute=1000, mode="audit"),
        "project": LimitSet(concurrent=3),
    }
    assert limits_of(cache, team_only) == {"team": LimitSet(tokens_per_minute=1000, mode="audit")}
    assert limits_of(cache, nothing) == {}
    assert cache.team_limits(platform) == LimitSet(tokens_per_minute=1000, mode="audit")
    assert cache.team_limits(plain) is None


async def test_a_team_limit_change_reaches_its_keys_after_a_refresh(database: Database, cache: IdentityCache) -> None:
    platform, search = await add_team(database, "platform"), await add_team(database, "search")
    mine, _ = await add_key(database, platform)
    theirs, _ = await add_key(database, search)
    await cache.start(database)
    assert limits_of(cache, mine) == {}
    untouched = cache.lookup(hash_key(theirs))
    version = cache.version

    await set_limits(database, teams, platform, TEAM)
    assert await cache.refresh()
    assert limits_of(cache, mine) == {"team": LimitSet(tokens_per_minute=1000, mode="audit")}
    assert cache.lookup(hash_key(theirs)) is untouched  # other teams' principals are kept as they are
    assert cache.version > version  # JWT principals are re-mapped

    await set_limits(database, teams, platform, {"tokens_per_day": 5}, seconds=0.001)
    await cache.refresh()
    assert limits_of(cache, mine) == {"team": LimitSet(tokens_per_day=5)}
    await set_limits(database, teams, platform, {}, seconds=0.002)
    await cache.refresh()
    assert limits_of(cache, mine) == {}


async def test_project_and_key_limit_changes(database: Database, cache: IdentityCache) -> None:
    platform = await add_team(database, "platform")
    bots = await add_project(database, platform, "bots", {})
    secret, key_id = await add_key(database, platform, project_id=bots)
    other, _ = await add_key(database, platform)
    await cache.start(database)
    kept = cache.lookup(hash_key(other))

    await set_limits(database, projects, bots, {"requests_per_minute": 7})
    await change_key(database, key_id, limits={"concurrent": 1})
    await cache.refresh()
    assert limits_of(cache, secret) == {"project": LimitSet(requests_per_minute=7), "key": LimitSet(concurrent=1)}
    assert cache.lookup(hash_key(other)) is kept

    principal = cache.lookup(hash_key(secret))
    assert await cache.refresh(full=True)  # nothing changed: the same principal object
    assert cache.lookup(hash_key(secret)) is principal


async def test_limits_that_set_nothing_are_left_out(database: Database, cache: IdentityCache) -> None:
    platform = await add_team(database, "platform")
    await set_limits(database, teams, platform, {"mode": "audit"})
    secret, _ = await add_key(database, platform, limits={"count": "input"})
    await cache.start(database)
    assert limits_of(cache, secret) == {}


async def test_invalid_stored_limits_are_logged_once_and_ignored(
    database: Database, cache: IdentityCache, caplog: pytest.LogCaptureFixture
) -> None:
    platform = await add_team(database, "platform")
    await set_limits(database, teams, platform, {"rpm": 5})
    bots = await add_project(database, platform, "bots", ["not", "an", "object"])
    secret, _ = await add_key(database, platform, project_id=bots, limits={"requests_per_minute": -1})
    caplog.set_level(logging.WARNING, logger="wardgate.identity")
    await cache.start(database)
    assert limits_of(cache, secret) == {}  # the key still authenticates
    for _ in range(3):
        assert await cache.refresh(full=True)
        assert await cache.refresh()
    warned = [r for r in caplog.records if "limits are not valid" in r.getMessage()]
    assert sorted(r.fields["object"] for r in warned) == sorted(  # type: ignore[attr-defined]
        [f"team {platform}", f"project {bots}", f"key {cache.record(hash_key(secret)).id}"]  # type: ignore[union-attr]
    )

    await set_limits(database, teams, platform, {"requests_per_minute": 5})
    await cache.refresh()
    assert limits_of(cache, secret) == {"team": LimitSet(requests_per_minute=5)}


# --- people: JWT and sessions ---------------------------------------------------------------------------------


class Resolver:
    def __init__(self, answer: Principal) -> None:
        self.answer = answer

    async def __call__(self, token: str) -> Principal | None:
        return self.answer


SESSION = {"cookie": "wardgate_session=wgs_" + "a" * 43}


async def test_a_person_in_one_team_gets_its_team_limits(database: Database, cache: IdentityCache) -> None:
    platform, search = await add_team(database, "platform"), await add_team(database, "search")
    await set_limits(database, teams, platform, TEAM)
    await cache.start(database)
    one = Principal(key_id="user:u1", kind="session", user_id="u1", teams={platform: Role.MEMBER})
    auth = Authenticator(hash_key("wg-master"), cache, session_resolver=Resolver(one))
    assert dict((await auth.authenticate(SESSION)).limits) == {"team": LimitSet(tokens_per_minute=1000, mode="audit")}

    two = Principal(key_id="user:u2", kind="session", teams={platform: Role.MEMBER, search: Role.MEMBER})
    auth.session_resolver = Resolver(two)
    assert await auth.authenticate(SESSION) is two and dict(two.limits) == {}
    unlimited = Principal(key_id="user:u3", kind="session", teams={search: Role.MEMBER})
    auth.session_resolver = Resolver(unlimited)
    assert await auth.authenticate(SESSION) is unlimited

    await set_limits(database, teams, platform, {}, seconds=0.001)
    await cache.refresh()
    auth.session_resolver = Resolver(one)
    assert await auth.authenticate(SESSION) is one


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as fake:
        yield fake


async def test_jwt_principals_follow_team_limit_changes(
    database: Database, cache: IdentityCache, idp: FakeOidc
) -> None:
    platform = await add_team(database, "platform")
    await add_team(database, "search")
    await set_limits(database, teams, platform, TEAM)
    await cache.start(database)
    auth = jwt_auth(idp, cache)
    try:
        token = idp.issue_token({"sub": "alice", "groups": ["platform"]})
        principal = await auth.authenticate({"authorization": f"Bearer {token}"})
        assert dict(principal.limits) == {"team": LimitSet(tokens_per_minute=1000, mode="audit")}
        assert await auth.authenticate({"authorization": f"Bearer {token}"}) is principal  # mapped once
        both = idp.issue_token({"sub": "bob", "groups": ["platform", "search"]})
        assert dict((await auth.authenticate({"authorization": f"Bearer {both}"})).limits) == {}

        await set_limits(database, teams, platform, {"concurrent": 4}, seconds=0.001)
        await cache.refresh()
        changed = await auth.authenticate({"authorization": f"Bearer {token}"})
        assert dict(changed.limits) == {"team": LimitSet(concurrent=4)}
    finally:
        await auth.close()
