"""The virtual key repository on SQLite and PostgreSQL: minting (hash and prefix only), reading without secrets,
filters and paging, updates, revocation, rotation with and without grace, and ``updated_at`` on every write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.keys import hash_key
from wardgate.storage import keys
from wardgate.storage.database import Database
from wardgate.storage.schema import orgs, projects, service_principals, teams, users, virtual_keys

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def seed(conn: AsyncConnection) -> None:
    base = {"metadata": {}, "created_at": T0, "updated_at": T0}
    await conn.execute(insert(orgs).values(id="org_1", name="acme", **base))
    for team_id, name in (("team_a", "platform"), ("team_b", "search")):
        await conn.execute(insert(teams).values(id=team_id, org_id="org_1", name=name, **base))
    await conn.execute(insert(projects).values(id="proj_a", team_id="team_a", name="bots", **base))
    await conn.execute(insert(users).values(id="user_1", org_id="org_1", email="u@example.com", disabled=False, **base))
    await conn.execute(
        insert(service_principals).values(id="sp_a", team_id="team_a", name="crawler", kind="app", **base)
    )


@pytest.fixture
async def db(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await seed(conn)
    return database


async def make(db: Database, spec: keys.KeySpec, now: datetime = T0) -> keys.MintedKey:
    async with db.engine.begin() as conn:
        return await keys.create(conn, spec, created_by="master", now=now)


async def read(db: Database, key_id: str) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        row = await keys.get(conn, key_id)
    assert row is not None
    return row


async def test_create_stores_only_hash_and_prefix(db: Database) -> None:
    spec = keys.KeySpec(
        team_id="team_a",
        name="ci",
        project_id="proj_a",
        user_id="user_1",
        service_principal_id="sp_a",
        allowed_models=["m2", "m1", "m2"],
        expires_at=datetime(2031, 1, 1, tzinfo=UTC),
        limits={"rpm": 10},
        budgets={"usd": 5},
        metadata={"cost_center": "42"},
    )
    minted = await make(db, spec)
    secret, key = minted.secret, minted.key
    assert secret.startswith("wg-") and len(secret) == 3 + 43
    assert key["prefix"] == secret[:7] and key["id"].startswith("key_")
    assert "key_hash" not in key and secret not in repr(minted) and secret not in str(key)
    assert key == await read(db, key["id"])
    assert key["allowed_models"] == ["m1", "m2"]
    assert key["status"] == "active" and key["enabled"] is True and key["revoked_at"] is None
    assert key["created_at"] == key["updated_at"] == T0
    assert key["expires_at"] == datetime(2031, 1, 1, tzinfo=UTC) and key["expires_at"].tzinfo is not None
    assert (key["limits"], key["budgets"], key["metadata"]) == ({"rpm": 10}, {"usd": 5}, {"cost_center": "42"})
    async with db.engine.connect() as conn:
        stored = (await conn.execute(select(virtual_keys).where(virtual_keys.c.id == key["id"]))).mappings().one()
    assert stored["key_hash"] == hash_key(secret)
    assert secret not in {str(value) for value in stored.values()}


async def test_keys_are_distinct_and_named_after_their_prefix_by_default(db: Database) -> None:
    first, second = [await make(db, keys.KeySpec(team_id="team_a")) for _ in range(2)]
    assert first.secret != second.secret and first.key["id"] != second.key["id"]
    assert first.key["name"] == first.key["prefix"]
    assert first.key["allowed_models"] is None and first.key["role"] == "member"


async def test_list_filters_and_pages(db: Database) -> None:
    made = [
        await make(db, keys.KeySpec(team_id="team_a", project_id="proj_a")),
        await make(db, keys.KeySpec(team_id="team_a", user_id="user_1")),
        await make(db, keys.KeySpec(team_id="team_a", service_principal_id="sp_a", enabled=False)),
        await make(db, keys.KeySpec(team_id="team_b")),
    ]
    ids = [m.key["id"] for m in made]
    async with db.engine.begin() as conn:
        await keys.revoke(conn, ids[1])

    async def listed(**filters: Any) -> list[str]:
        async with db.engine.connect() as conn:
            return [row["id"] for row in await keys.list_keys(conn, **filters)]

    assert await listed() == sorted(ids)
    assert await listed(teams={"team_b"}) == [ids[3]]
    assert await listed(teams=set()) == []
    assert await listed(team_id="team_a") == sorted(ids[:3])
    assert await listed(teams={"team_b"}, team_id="team_a") == []
    assert await listed(project_id="proj_a") == [ids[0]]
    assert await listed(user_id="user_1") == [ids[1]]
    assert await listed(service_principal_id="sp_a") == [ids[2]]
    assert await listed(enabled=False) == sorted(ids[1:3])
    assert await listed(revoked=True) == [ids[1]]
    assert await listed(revoked=False) == sorted([ids[0], ids[2], ids[3]])
    first_page = await listed(limit=3)
    assert first_page == sorted(ids)[:3]
    assert await listed(limit=3, after=first_page[-1]) == sorted(ids)[3:]


async def test_update_changes_fields_and_bumps_updated_at(db: Database) -> None:
    key = (await make(db, keys.KeySpec(team_id="team_a"))).key
    later = T0 + timedelta(minutes=5)
    values = {
        "name": "renamed",
        "allowed_models": ["b", "a"],
        "enabled": False,
        "expires_at": datetime(2032, 6, 1, 8, 0, tzinfo=UTC),
        "limits": {"rpm": 1},
        "budgets": {"usd": 2},
        "metadata": {"x": "y"},
        "project_id": "proj_a",
        "role": "team_admin",
    }
    async with db.engine.begin() as conn:
        updated = await keys.update(conn, key["id"], values, now=later)
    assert updated is not None
    assert {name: updated[name] for name in values} == {**values, "allowed_models": ["a", "b"]}
    assert updated["updated_at"] == later and updated["created_at"] == T0 and updated["status"] == "disabled"
    assert updated == await read(db, key["id"])
    async with db.engine.begin() as conn:
        assert await keys.update(conn, "key_missing", {"name": "x"}) is None
        with pytest.raises(ValueError, match="key_hash, revoked_at"):
            await keys.update(conn, key["id"], {"revoked_at": later, "key_hash": "x"})
        cleared = await keys.update(conn, key["id"], {"allowed_models": None, "expires_at": None, "project_id": None})
    assert cleared is not None and cleared["allowed_models"] is None and cleared["expires_at"] is None


async def test_revoke_is_final_and_idempotent(db: Database) -> None:
    key = (await make(db, keys.KeySpec(team_id="team_a"))).key
    at = T0 + timedelta(hours=1)
    async with db.engine.begin() as conn:
        revoked = await keys.revoke(conn, key["id"], now=at)
        again = await keys.revoke(conn, key["id"], now=at + timedelta(hours=1))
        assert await keys.revoke(conn, "key_missing") is None
    assert revoked is not None and again == revoked
    assert revoked["revoked_at"] == at and revoked["updated_at"] == at
    assert revoked["enabled"] is False and revoked["status"] == "revoked"


async def test_rotate_with_grace_keeps_both_until_it_ends(db: Database) -> None:
    spec = keys.KeySpec(
        team_id="team_a", name="svc", role="team_admin", allowed_models=["m"], user_id="user_1", metadata={"a": 1}
    )
    old = await make(db, spec)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        rotated = await keys.rotate(conn, old.key["id"], 3600, created_by="user:user_1", now=now)
    assert rotated is not None
    before, new = rotated
    assert new.secret != old.secret and new.secret.startswith("wg-") and new.key["prefix"] == new.secret[:7]
    assert before["rotated_to"] == new.key["id"] and before["status"] == "rotating"
    assert before["expires_at"] == now + timedelta(hours=1) and before["updated_at"] == now
    carried = ("name", "team_id", "role", "allowed_models", "user_id", "metadata", "expires_at", "enabled")
    assert {f: new.key[f] for f in carried} == {**{f: old.key[f] for f in carried}}
    assert new.key["created_by"] == "user:user_1" and new.key["status"] == "active"
    assert new.key["created_at"] == new.key["updated_at"] == now
    async with db.engine.begin() as conn:
        with pytest.raises(keys.KeyStateError):
            await keys.rotate(conn, old.key["id"], 0, created_by="master")
    async with db.engine.connect() as conn:  # the failed rotation left no key behind
        assert len(await keys.list_keys(conn)) == 2


async def test_rotate_without_grace_stops_the_old_key_now(db: Database) -> None:
    old = await make(db, keys.KeySpec(team_id="team_a"))
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        rotated = await keys.rotate(conn, old.key["id"], 0, created_by="master", now=now)
    assert rotated is not None
    assert rotated[0]["expires_at"] == now and rotated[0]["status"] == "expired"


async def test_rotate_keeps_an_earlier_expiry_and_refuses_revoked_keys(db: Database) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    old = await make(db, keys.KeySpec(team_id="team_a", expires_at=soon))
    async with db.engine.begin() as conn:
        rotated = await keys.rotate(conn, old.key["id"], 86_400, created_by="master")
        assert rotated is not None and rotated[0]["expires_at"] == soon and rotated[1].key["expires_at"] == soon
        assert await keys.rotate(conn, "key_missing", 0, created_by="master") is None
        with pytest.raises(ValueError, match="grace"):
            await keys.rotate(conn, rotated[1].key["id"], -1, created_by="master")
    revoked = await make(db, keys.KeySpec(team_id="team_a"))
    async with db.engine.begin() as conn:
        await keys.revoke(conn, revoked.key["id"])
        with pytest.raises(keys.KeyStateError):
            await keys.rotate(conn, revoked.key["id"], 0, created_by="master")


def test_status_order() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    base: dict[str, Any] = {"revoked_at": None, "expires_at": None, "enabled": True, "rotated_to": None}
    assert keys.status(base, now) == "active"
    assert keys.status({**base, "rotated_to": "key_x", "expires_at": now + timedelta(seconds=1)}, now) == "rotating"
    assert keys.status({**base, "enabled": False, "rotated_to": "key_x"}, now) == "disabled"
    assert keys.status({**base, "enabled": False, "expires_at": now}, now) == "expired"
    assert keys.status({**base, "expires_at": datetime(2029, 12, 31)}, now) == "expired"  # naive = UTC
    assert keys.status({**base, "revoked_at": now, "enabled": False, "expires_at": now}, now) == "revoked"


async def test_references(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert await keys.find_teams(conn, "team_a") == ["team_a"]
        assert await keys.find_teams(conn, "search") == ["team_b"]
        assert await keys.find_teams(conn, "nope") == []
        ok = await keys.missing_refs(
            conn, team_id="team_a", project_id="proj_a", user_id="user_1", service_principal_id="sp_a"
        )
        assert ok == []
        wrong_team = await keys.missing_refs(conn, team_id="team_b", project_id="proj_a", service_principal_id="sp_a")
        assert wrong_team == ["project_id", "service_principal_id"]
        assert await keys.missing_refs(conn, team_id="team_a", user_id="user_nobody") == ["user_id"]
