"""What a sign-in writes (``storage.sso``) on SQLite and PostgreSQL: the user upsert, and the IdP staying
authoritative for exactly what it names — the org role and team roles its claims map are set (and overwrite), what an
earlier sign-in granted and the claims dropped is removed, what an admin granted outside the claims stays; every
grant is recorded as an admin change by ``sso``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.types import Role
from wardgate.storage import org, org_users
from wardgate.storage.database import Database
from wardgate.storage.org import Row
from wardgate.storage.schema import admin_changes
from wardgate.storage.sso import apply_sso_grants, sign_in_user, team_ids_by_name


@pytest.fixture
async def conn(database: Database) -> AsyncIterator[AsyncConnection]:
    async with database.engine.begin() as connection:
        yield connection


@pytest.fixture
async def team_ids(conn: AsyncConnection) -> dict[str, str]:
    return {name: (await org.create_team(conn, name))["id"] for name in ("platform", "research", "finance")}


async def signed_in(conn: AsyncConnection, subject: str = "sub-1") -> Row:
    user, _ = await sign_in_user(conn, subject, "alice@example.com", "Alice")
    return user


async def roles(conn: AsyncConnection, user_id: str) -> dict[str, Role]:
    return await org_users.team_roles(conn, user_id)


async def test_first_sign_in_creates_the_user_and_records_it(conn: AsyncConnection) -> None:
    user, created = await sign_in_user(conn, "sub-1", "Alice@Example.com", "Alice", request_id="req-1")
    assert created and user["external_id"] == "sub-1" and user["email"] == "alice@example.com"
    again, created_again = await sign_in_user(conn, "sub-1", "alice@example.com", "Alice")
    assert again["id"] == user["id"] and not created_again
    rows = (await conn.execute(select(admin_changes))).mappings().all()
    assert [(r["actor_kind"], r["action"], r["object_kind"], r["request_id"]) for r in rows] == [
        ("sso", "create", "user", "req-1")
    ]


async def test_team_names_resolve_including_keycloak_paths(conn: AsyncConnection, team_ids: dict[str, str]) -> None:
    found = await team_ids_by_name(conn, ["/platform", "research", "unknown", "/a/b"])
    assert found == {"platform": team_ids["platform"], "research": team_ids["research"]}
    assert await team_ids_by_name(conn, []) == {}


async def test_claims_grant_and_overwrite_team_roles(conn: AsyncConnection, team_ids: dict[str, str]) -> None:
    user = await signed_in(conn)
    await org_users.add_member(conn, team_ids["research"], user["id"], Role.VIEWER)  # an admin's grant
    made = await apply_sso_grants(
        conn, user, None, {team_ids["platform"]: Role.MEMBER, team_ids["research"]: Role.TEAM_ADMIN}
    )
    assert made == 2
    assert await roles(conn, user["id"]) == {team_ids["platform"]: Role.MEMBER, team_ids["research"]: Role.TEAM_ADMIN}
    user = await signed_in(conn)
    assert user["metadata"]["sso"] == {"org_role": None, "teams": sorted([team_ids["platform"], team_ids["research"]])}
    same = {team_ids["platform"]: Role.MEMBER, team_ids["research"]: Role.TEAM_ADMIN}
    assert await apply_sso_grants(conn, user, None, same) == 0


async def test_dropped_claims_remove_only_what_sign_in_granted(conn: AsyncConnection, team_ids: dict[str, str]) -> None:
    user = await signed_in(conn)
    await org_users.add_member(conn, team_ids["finance"], user["id"], Role.VIEWER)  # an admin's, never claimed
    await apply_sso_grants(conn, user, None, {team_ids["platform"]: Role.MEMBER, team_ids["research"]: Role.MEMBER})
    user = await signed_in(conn)
    made = await apply_sso_grants(conn, user, None, {team_ids["platform"]: Role.MEMBER})
    assert made == 1
    assert await roles(conn, user["id"]) == {team_ids["platform"]: Role.MEMBER, team_ids["finance"]: Role.VIEWER}


async def test_org_role_follows_the_claims_but_an_admins_choice_survives_silence(conn: AsyncConnection) -> None:
    user = await signed_in(conn)
    assert await apply_sso_grants(conn, user, Role.ORG_ADMIN, {}) == 1
    user = await signed_in(conn)
    assert user["org_role"] == "org_admin"
    assert await apply_sso_grants(conn, user, None, {}) == 1  # granted by sign-in, no longer claimed: removed
    user = await signed_in(conn)
    assert user["org_role"] is None
    await org_users.update_user(conn, user["id"], {"org_role": Role.AUDITOR})  # an admin's grant
    user = await signed_in(conn)
    assert await apply_sso_grants(conn, user, None, {}) == 0
    assert (await signed_in(conn))["org_role"] == "auditor"


async def test_every_grant_is_recorded_as_an_sso_change(conn: AsyncConnection, team_ids: dict[str, str]) -> None:
    user = await signed_in(conn)
    await apply_sso_grants(conn, user, Role.AUDITOR, {team_ids["platform"]: Role.MEMBER}, request_id="req-9")
    user = await signed_in(conn)
    await apply_sso_grants(conn, user, None, {}, request_id="req-10")
    rows = (await conn.execute(select(admin_changes).order_by(admin_changes.c.id))).mappings().all()
    seen = [(r["action"], r["object_kind"], r["team_id"], r["request_id"]) for r in rows if r["request_id"]]
    assert seen == [
        ("create", "membership", team_ids["platform"], "req-9"),
        ("update", "user", None, "req-9"),
        ("delete", "membership", team_ids["platform"], "req-10"),
        ("update", "user", None, "req-10"),
    ]
    assert all(r["actor_kind"] == "sso" and r["actor_id"] == user["id"] for r in rows)
