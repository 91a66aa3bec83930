"""``Authenticator``: master key, virtual keys from the identity cache (valid, revoked, disabled, expired, unknown —
one generic answer), JWT bearer tokens against a fake OpenID Provider (team and user mapping, cached mapping), and
the session-cookie hook for SSO sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from test_identity_cache import add_key, add_team, change_key, now

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import Principal, Role
from wardgate.identity.authenticator import MASTER, Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.identity.jwt import JwtSettings, JwtVerifier
from wardgate.storage.database import Database
from wardgate.storage.schema import teams, users
from wardgate.testing.fake_oidc import FakeOidc

MASTER_KEY = "wg-master-key-for-tests-0123456789"


@pytest.fixture
async def cache(database: Database) -> AsyncIterator[IdentityCache]:
    identity = IdentityCache(poll_interval=0)
    yield identity
    await identity.close()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def refused(auth: Authenticator, headers: dict[str, str]) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(headers)
    assert info.value.http_status == 401
    return info.value


async def test_master_key_is_an_org_admin(database: Database, cache: IdentityCache) -> None:
    await cache.start(database)
    auth = Authenticator(hash_key(MASTER_KEY), cache)
    principal = await auth.authenticate({"x-api-key": MASTER_KEY})
    assert principal is MASTER
    assert principal.kind == "master" and principal.org_role is Role.ORG_ADMIN


async def test_virtual_key_in_every_header(database: Database, cache: IdentityCache) -> None:
    team = await add_team(database)
    secret, key_id = await add_key(database, team, allowed_models=["simulated-chat"])
    await cache.start(database)
    auth = Authenticator(hash_key(MASTER_KEY), cache)
    for headers in (bearer(secret), {"x-api-key": secret}, {"api-key": secret}):
        principal = await auth.authenticate(headers)
        assert principal.kind == "key" and principal.key_id == key_id
        assert dict(principal.teams) == {team: Role.MEMBER}
        assert principal.allowed_models == frozenset({"simulated-chat"})


@pytest.mark.parametrize("state", ["unknown", "revoked", "disabled", "expired", "rotated-past-grace"])
async def test_unusable_keys_get_one_generic_answer(database: Database, cache: IdentityCache, state: str) -> None:
    team = await add_team(database)
    secret, key_id = await add_key(database, team)
    past = now() - timedelta(seconds=1)
    changes = {
        "unknown": {},
        "revoked": {"revoked_at": now(), "enabled": False},
        "disabled": {"enabled": False},
        "expired": {"expires_at": past},
        "rotated-past-grace": {"expires_at": past, "rotated_to": "key_new"},
    }[state]
    if changes:
        await change_key(database, key_id, **changes)
    await cache.start(database)
    auth = Authenticator(hash_key(MASTER_KEY), cache)
    presented = "wg-" + "0" * 32 if state == "unknown" else secret
    error = await refused(auth, bearer(presented))
    assert error.code == "invalid_api_key"
    assert error.message == "Invalid API key."  # the same words whatever the reason: see the module docstring


async def test_revocation_takes_effect_after_a_refresh(database: Database, cache: IdentityCache) -> None:
    secret, key_id = await add_key(database, await add_team(database))
    await cache.start(database)
    auth = Authenticator(hash_key(MASTER_KEY), cache)
    assert (await auth.authenticate(bearer(secret))).key_id == key_id
    await change_key(database, key_id, revoked_at=now(), enabled=False)
    await cache.refresh()
    await refused(auth, bearer(secret))


async def test_without_a_cache_only_the_master_key_works() -> None:
    auth = Authenticator(hash_key(MASTER_KEY))
    assert await auth.authenticate(bearer(MASTER_KEY)) is MASTER
    assert (await refused(auth, bearer("wg-" + "1" * 40))).code == "invalid_api_key"


async def test_anything_else_is_refused_without_jwt_configured(database: Database, cache: IdentityCache) -> None:
    await cache.start(database)
    auth = Authenticator(hash_key(MASTER_KEY), cache)
    async with FakeOidc() as idp:
        token = idp.issue_token()
    assert (await refused(auth, bearer(token))).message == "Invalid API key."
    assert (await refused(auth, bearer("sk-not-ours"))).code == "invalid_api_key"
    assert (await refused(auth, {})).code == "missing_api_key"


# --- JWT bearer tokens ------------------------------------------------------------------------------------------


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as fake:
        yield fake


def jwt_auth(idp: FakeOidc, cache: IdentityCache) -> Authenticator:
    settings = JwtSettings(
        issuer=idp.url, audience=idp.client_id, role_map={"leads": "team_admin", "gw-admins": "org_admin"}
    )
    return Authenticator(hash_key(MASTER_KEY), cache, JwtVerifier(settings))


async def add_user(db: Database, external_id: str, *, disabled: bool = False) -> str:
    at = now()
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(users).values(
                id=f"user_{external_id}",
                org_id="org_1",
                external_id=external_id,
                disabled=disabled,
                metadata={},
                created_at=at,
                updated_at=at,
            )
        )
    return f"user_{external_id}"


async def test_jwt_maps_teams_roles_and_user(database: Database, cache: IdentityCache, idp: FakeOidc) -> None:
    platform = await add_team(database, "platform")
    user_id = await add_user(database, "alice")
    await cache.start(database)
    auth = jwt_auth(idp, cache)
    try:
        token = idp.issue_token({"sub": "alice", "groups": ["platform", "unknown-team"], "roles": ["leads"]})
        principal = await auth.authenticate(bearer(token))
        assert principal.kind == "jwt" and principal.key_id == "user:alice"
        assert dict(principal.teams) == {platform: Role.TEAM_ADMIN}
        assert principal.user_id == user_id and principal.org_role is None
        assert await auth.authenticate(bearer(token)) is principal  # verified and mapped once
        admin = await auth.authenticate(bearer(idp.issue_token({"sub": "bob", "roles": ["gw-admins"]})))
        assert admin.org_role is Role.ORG_ADMIN and admin.user_id is None and dict(admin.teams) == {}
    finally:
        await auth.close()


async def test_jwt_mapping_follows_team_changes(database: Database, cache: IdentityCache, idp: FakeOidc) -> None:
    await add_team(database, "platform")
    await cache.start(database)
    auth = jwt_auth(idp, cache)
    try:
        token = idp.issue_token({"groups": ["research"]})
        assert dict((await auth.authenticate(bearer(token))).teams) == {}
        research = await add_team(database, "research")
        await cache.refresh()
        assert dict((await auth.authenticate(bearer(token))).teams) == {research: Role.MEMBER}
        async with database.engine.begin() as conn:
            await conn.execute(update(teams).where(teams.c.id == research).values(name="science", updated_at=now()))
        await cache.refresh()
        assert dict((await auth.authenticate(bearer(token))).teams) == {}
    finally:
        await auth.close()


async def test_jwt_refusals(database: Database, cache: IdentityCache, idp: FakeOidc) -> None:
    await add_team(database, "platform")  # creates the org
    await add_user(database, "mallory", disabled=True)
    await cache.start(database)
    auth = jwt_auth(idp, cache)
    try:
        assert "expired" in (await refused(auth, bearer(idp.issue_token(expires_in=-120)))).message
        assert "audience" in (await refused(auth, bearer(idp.issue_token(audience="someone-else")))).message
        assert "disabled" in (await refused(auth, bearer(idp.issue_token({"sub": "mallory"})))).message
    finally:
        await auth.close()


# --- sessions (the SSO sign-in hook) ----------------------------------------------------------------------------

SESSION = "wgs_" + "a" * 43
PERSON = Principal(key_id="user:user_1", kind="session", user_id="user_1", teams={"team_x": Role.VIEWER})


class Resolver:
    def __init__(self, answer: Principal | None) -> None:
        self.answer = answer
        self.calls: list[str] = []

    async def __call__(self, token: str) -> Principal | None:
        self.calls.append(token)
        return self.answer


async def test_session_cookie_is_resolved_when_no_key_is_sent() -> None:
    resolver = Resolver(PERSON)
    auth = Authenticator(hash_key(MASTER_KEY), session_resolver=resolver)
    cookie = {"cookie": f"theme=dark; wardgate_session={SESSION}; other=1"}
    assert await auth.authenticate(cookie) is PERSON
    assert resolver.calls == [SESSION]
    assert await auth.authenticate({**cookie, **bearer(MASTER_KEY)}) is MASTER  # a key wins over the cookie
    assert resolver.calls == [SESSION]


async def test_session_refusals() -> None:
    resolver = Resolver(None)
    auth = Authenticator(hash_key(MASTER_KEY), session_resolver=resolver)
    assert (await refused(auth, {"cookie": f"wardgate_session={SESSION}"})).code == "invalid_session"
    assert (await refused(auth, {"cookie": "wardgate_session=not-a-session"})).code == "missing_api_key"
    assert (await refused(auth, {})).code == "missing_api_key"
    assert resolver.calls == [SESSION]
    no_hook = Authenticator(hash_key(MASTER_KEY))
    assert (await refused(no_hook, {"cookie": f"wardgate_session={SESSION}"})).code == "missing_api_key"
