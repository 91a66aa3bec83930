"""The organisation repository (``storage.org``, ``storage.org_users``) on SQLite and PostgreSQL: the default org,
teams, projects, service principals, users, memberships and the SSO upsert; conflicts (409), deletes refused while
something still depends on the object, and ``updated_at`` moving on every write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.core.types import Role
from wardgate.storage import org, org_users
from wardgate.storage.database import Database
from wardgate.storage.ids import new_id
from wardgate.storage.schema import orgs, users, virtual_keys


@pytest.fixture
async def conn(database: Database) -> AsyncIterator[AsyncConnection]:
    """One connection; each test commits what it writes step by step through ``conn.commit()`` where it matters."""
    async with database.engine.connect() as connection:
        yield connection


def at(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None, stamp
    return parsed


async def add_key(conn: AsyncConnection, team_id: str, **refs: str | None) -> str:
    """A virtual key row written directly (the keys repository is not this module's business)."""
    key_id = new_id("key")
    stamp = datetime.now(UTC)
    await conn.execute(
        insert(virtual_keys).values(
            id=key_id,
            key_hash=new_id("h")[:64],
            key_prefix="wg-abc",
            name="k",
            team_id=team_id,
            role="member",
            enabled=True,
            limits={},
            budgets={},
            metadata={},
            created_by="master",
            created_at=stamp,
            updated_at=stamp,
            **refs,
        )
    )
    return key_id


def assert_conflict(exc: pytest.ExceptionInfo[GatewayError], *words: str) -> None:
    assert exc.value.http_status == 409
    assert exc.value.code == "conflict"
    for word in words:
        assert word in exc.value.message


async def test_the_default_org_is_created_once_and_survives_a_rename(conn: AsyncConnection) -> None:
    first = await org.ensure_default_org(conn)
    assert first["name"] == "default" and first["id"].startswith("org_")
    assert at(first["created_at"]) == at(first["updated_at"])
    assert (await org.ensure_default_org(conn))["id"] == first["id"]
    renamed = await org.update_org(conn, first["id"], {"name": "acme", "metadata": {"cost_center": "42"}})
    assert renamed is not None and renamed["name"] == "acme" and renamed["metadata"] == {"cost_center": "42"}
    assert (await org.ensure_default_org(conn))["id"] == first["id"]
    assert len((await conn.execute(select(orgs))).all()) == 1


async def test_a_second_replica_creating_the_org_at_once_is_absorbed(conn: AsyncConnection) -> None:
    first = await org.ensure_default_org(conn)
    stamp = datetime.now(UTC)
    values = {"id": new_id("org"), "name": "default", "metadata": {}, "created_at": stamp, "updated_at": stamp}
    await conn.execute(org.insert_ignoring_conflicts(conn, orgs, values))  # what a racing replica runs
    assert len((await conn.execute(select(orgs))).all()) == 1
    assert (await org.ensure_default_org(conn))["id"] == first["id"]


async def test_team_lifecycle(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform", {"cost_center": "cc-1"})
    assert team["id"].startswith("team_") and team["name"] == "platform"
    assert team["metadata"] == {"cost_center": "cc-1"}
    assert await org.get_team(conn, team["id"]) == team
    assert await org.get_team_by_name(conn, "platform") == team
    assert await org.get_team_by_name(conn, "nope") is None

    await asyncio.sleep(0.01)
    updated = await org.update_team(conn, team["id"], {"name": "platform-eng"})
    assert updated is not None and updated["name"] == "platform-eng"
    assert updated["created_at"] == team["created_at"]
    assert at(updated["updated_at"]) > at(team["updated_at"])
    assert await org.update_team(conn, "team_missing", {"name": "x"}) is None

    assert await org.delete_team(conn, team["id"]) == updated
    assert await org.get_team(conn, team["id"]) is None
    assert await org.delete_team(conn, team["id"]) is None


async def test_team_names_are_unique(conn: AsyncConnection) -> None:
    await org.create_team(conn, "platform")
    other = await org.create_team(conn, "search")
    with pytest.raises(GatewayError) as exc:
        await org.create_team(conn, "platform")
    assert_conflict(exc, "platform", "already exists")
    with pytest.raises(GatewayError) as exc:
        await org.update_team(conn, other["id"], {"name": "platform"})
    assert_conflict(exc, "platform")
    same = await org.update_team(conn, other["id"], {"name": "search"})  # keeping its own name is no clash
    assert same is not None and same["name"] == "search"


async def test_team_listing_filters_and_pages(conn: AsyncConnection) -> None:
    made = [await org.create_team(conn, f"t{i}") for i in range(5)]
    ids = sorted(t["id"] for t in made)
    assert [t["id"] for t in await org.list_teams(conn)] == ids
    page1 = await org.list_teams(conn, limit=2)
    page2 = await org.list_teams(conn, limit=2, after=page1[-1]["id"])
    assert [t["id"] for t in page1 + page2] == ids[:4]
    assert [t["name"] for t in await org.list_teams(conn, name="t3")] == ["t3"]
    some = {made[0]["id"], made[1]["id"]}
    assert {t["id"] for t in await org.list_teams(conn, team_ids=some)} == some
    assert await org.list_teams(conn, team_ids=set()) == []


async def test_a_team_with_projects_principals_or_keys_is_not_deleted(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    project = await org.create_project(conn, team["id"], "chatbot")
    with pytest.raises(GatewayError) as exc:
        await org.delete_team(conn, team["id"])
    assert_conflict(exc, "1 projects")
    await org.delete_project(conn, project["id"])
    principal = await org.create_service_principal(conn, team["id"], "bot", "agent")
    with pytest.raises(GatewayError) as exc:
        await org.delete_team(conn, team["id"])
    assert_conflict(exc, "1 service principals")
    await org.delete_service_principal(conn, principal["id"])
    await add_key(conn, team["id"])
    with pytest.raises(GatewayError) as exc:
        await org.delete_team(conn, team["id"])
    assert_conflict(exc, "1 keys")
    assert await org.get_team(conn, team["id"]) is not None


async def test_deleting_a_team_drops_its_memberships_and_touches_the_members(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    user = await org_users.create_user(conn, "ann@example.com")
    await org_users.add_member(conn, team["id"], user["id"], Role.MEMBER)
    before = await org_users.get_user(conn, user["id"])
    assert before is not None
    await asyncio.sleep(0.01)
    await org.delete_team(conn, team["id"])
    after = await org_users.get_user(conn, user["id"])
    assert after is not None and at(after["updated_at"]) > at(before["updated_at"])
    assert await org_users.team_roles(conn, user["id"]) == {}


async def test_projects(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    other = await org.create_team(conn, "search")
    project = await org.create_project(conn, team["id"], "chatbot", {"env": "prod"})
    assert project["id"].startswith("proj_") and project["team_id"] == team["id"]
    assert await org.get_project(conn, project["id"]) == project
    assert await org.list_projects(conn, team["id"]) == [project]
    assert await org.list_projects(conn, other["id"]) == []
    await org.create_project(conn, other["id"], "chatbot")  # names are unique per team only
    with pytest.raises(GatewayError) as exc:
        await org.create_project(conn, team["id"], "chatbot")
    assert_conflict(exc, "chatbot")
    with pytest.raises(GatewayError) as exc:  # moving next to a namesake clashes too
        await org.update_project(conn, project["id"], {"team_id": other["id"]})
    assert_conflict(exc, "chatbot")
    renamed = await org.update_project(conn, project["id"], {"name": "assistant", "team_id": other["id"]})
    assert renamed is not None and (renamed["name"], renamed["team_id"]) == ("assistant", other["id"])
    assert await org.delete_project(conn, project["id"]) == renamed
    assert await org.delete_project(conn, project["id"]) is None


async def test_a_project_in_use_neither_moves_nor_goes(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    other = await org.create_team(conn, "search")
    project = await org.create_project(conn, team["id"], "chatbot")
    principal = await org.create_service_principal(conn, team["id"], "bot", "app", project_id=project["id"])
    with pytest.raises(GatewayError) as exc:
        await org.update_project(conn, project["id"], {"team_id": other["id"]})
    assert_conflict(exc, "cannot move")
    with pytest.raises(GatewayError) as exc:
        await org.delete_project(conn, project["id"])
    assert_conflict(exc, "0 keys and 1 service principals")
    await org.update_service_principal(conn, principal["id"], {"project_id": None})
    await add_key(conn, team["id"], project_id=project["id"])
    with pytest.raises(GatewayError) as exc:
        await org.delete_project(conn, project["id"])
    assert_conflict(exc, "1 keys")


async def test_service_principals(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    other = await org.create_team(conn, "search")
    bot = await org.create_service_principal(conn, team["id"], "bot", "agent", metadata={"owner": "ann"})
    assert bot["id"].startswith("sp_") and (bot["kind"], bot["project_id"]) == ("agent", None)
    assert await org.get_service_principal(conn, bot["id"]) == bot
    assert await org.list_service_principals(conn, team["id"]) == [bot]
    with pytest.raises(InvalidRequestError):
        await org.create_service_principal(conn, team["id"], "x", "robot")
    with pytest.raises(GatewayError) as exc:
        await org.create_service_principal(conn, team["id"], "bot", "app")
    assert_conflict(exc, "bot")
    with pytest.raises(InvalidRequestError):
        await org.update_service_principal(conn, bot["id"], {"kind": "robot"})
    changed = await org.update_service_principal(conn, bot["id"], {"kind": "app", "name": "svc"})
    assert changed is not None and (changed["kind"], changed["name"]) == ("app", "svc")

    key_id = await add_key(conn, team["id"], service_principal_id=bot["id"])
    with pytest.raises(GatewayError) as exc:
        await org.update_service_principal(conn, bot["id"], {"team_id": other["id"]})
    assert_conflict(exc, "cannot move")
    with pytest.raises(GatewayError) as exc:
        await org.delete_service_principal(conn, bot["id"])
    assert_conflict(exc, "1 keys")
    await conn.execute(virtual_keys.delete().where(virtual_keys.c.id == key_id))
    moved = await org.update_service_principal(conn, bot["id"], {"team_id": other["id"]})
    assert moved is not None and moved["team_id"] == other["id"]
    assert await org.delete_service_principal(conn, bot["id"]) == moved
    assert await org.update_service_principal(conn, bot["id"], {"name": "x"}) is None


async def test_users(conn: AsyncConnection) -> None:
    ann = await org_users.create_user(conn, " Ann@Example.COM ", name="Ann", org_role=Role.AUDITOR)
    expected = {"email": "ann@example.com", "name": "Ann", "org_role": "auditor", "disabled": False}
    assert {k: ann[k] for k in expected} == expected
    assert ann["id"].startswith("user_") and ann["org_id"] == (await org.ensure_default_org(conn))["id"]
    assert await org_users.get_user(conn, ann["id"]) == ann
    assert await org_users.get_user_by_email(conn, "ANN@example.com") == ann
    with pytest.raises(GatewayError) as exc:
        await org_users.create_user(conn, "ann@EXAMPLE.com")
    assert_conflict(exc, "ann@example.com")

    bob = await org_users.create_user(conn, "bob@example.com")
    with pytest.raises(GatewayError) as exc:
        await org_users.update_user(conn, bob["id"], {"email": "ANN@example.com"})
    assert_conflict(exc, "ann@example.com")
    promoted = await org_users.update_user(conn, bob["id"], {"org_role": Role.ORG_ADMIN, "name": "Bob"})
    assert promoted is not None and (promoted["org_role"], promoted["name"]) == ("org_admin", "Bob")
    demoted = await org_users.update_user(conn, bob["id"], {"org_role": None})
    assert demoted is not None and demoted["org_role"] is None
    disabled = await org_users.disable_user(conn, bob["id"])
    assert disabled is not None and disabled["disabled"] is True
    assert await org_users.disable_user(conn, "user_missing") is None

    assert [u["id"] for u in await org_users.list_users(conn)] == sorted([ann["id"], bob["id"]])
    assert await org_users.list_users(conn, email="BOB@example.com") == [disabled]
    assert await org_users.list_users(conn, user_ids={ann["id"]}) == [ann]
    assert len(await org_users.list_users(conn, limit=1)) == 1


async def test_memberships(conn: AsyncConnection) -> None:
    team = await org.create_team(conn, "platform")
    ann = await org_users.create_user(conn, "ann@example.com", name="Ann")
    member = await org_users.add_member(conn, team["id"], ann["id"], Role.MEMBER)
    expected: dict[str, Any] = {"team_id": team["id"], "user_id": ann["id"], "role": "member"}
    assert {k: member[k] for k in expected} == expected
    assert (member["email"], member["name"], member["disabled"]) == ("ann@example.com", "Ann", False)
    with pytest.raises(GatewayError) as exc:
        await org_users.add_member(conn, team["id"], ann["id"], Role.VIEWER)
    assert_conflict(exc, "already a member")
    assert await org_users.list_members(conn, team["id"]) == [member]
    assert await org_users.team_roles(conn, ann["id"]) == {team["id"]: Role.MEMBER}

    touched = await org_users.get_user(conn, ann["id"])
    assert touched is not None and at(touched["updated_at"]) >= at(ann["updated_at"])
    await asyncio.sleep(0.01)
    changed = await org_users.set_member_role(conn, team["id"], ann["id"], Role.TEAM_ADMIN)
    assert changed is not None and changed["role"] == "team_admin"
    after_role = await org_users.get_user(conn, ann["id"])
    assert after_role is not None and at(after_role["updated_at"]) > at(touched["updated_at"])
    assert await org_users.set_member_role(conn, team["id"], "user_missing", Role.MEMBER) is None

    assert await org_users.remove_member(conn, team["id"], ann["id"]) == changed
    assert await org_users.remove_member(conn, team["id"], ann["id"]) is None
    assert await org_users.team_roles(conn, ann["id"]) == {}


async def test_sso_sign_in_creates_then_follows_the_provider(conn: AsyncConnection) -> None:
    first = await org_users.upsert_user_from_sso(conn, "sub-1", "Ann@Example.com", "Ann")
    assert (first["external_id"], first["email"], first["name"], first["org_role"]) == (
        "sub-1",
        "ann@example.com",
        "Ann",
        None,
    )
    again = await org_users.upsert_user_from_sso(conn, "sub-1", "ann@example.com", "Ann")
    assert again == first  # nothing changed, nothing written
    renamed = await org_users.upsert_user_from_sso(conn, "sub-1", "ann@new.example", None)
    assert (renamed["id"], renamed["email"], renamed["name"]) == (first["id"], "ann@new.example", "Ann")


async def test_sso_links_a_precreated_user_by_email_once(conn: AsyncConnection) -> None:
    made = await org_users.create_user(conn, "bob@example.com", org_role=Role.AUDITOR)
    linked = await org_users.upsert_user_from_sso(conn, "sub-bob", "BOB@example.com", "Bob")
    assert (linked["id"], linked["external_id"], linked["org_role"]) == (made["id"], "sub-bob", "auditor")
    with pytest.raises(GatewayError) as exc:  # another subject claiming the same email
        await org_users.upsert_user_from_sso(conn, "sub-evil", "bob@example.com", "Mallory")
    assert_conflict(exc, "another identity")
    count = len((await conn.execute(select(users))).all())
    assert count == 1


async def test_sso_takes_the_row_of_a_replica_that_won_the_race(conn: AsyncConnection) -> None:
    winner = await org_users.upsert_user_from_sso(conn, "sub-1", "ann@example.com", "Ann")
    late = await org_users._insert_sso_user(conn, "sub-1", "ann@example.com", "Ann")
    assert late == winner
    with pytest.raises(GatewayError) as exc:  # a new subject whose email clashes
        await org_users._insert_sso_user(conn, "sub-2", "ann@example.com", "Ann")
    assert_conflict(exc, "ann@example.com")
