"""Who may do what with keys, in the real app on SQLite and PostgreSQL: virtual keys acting through the admin API
(a team admin key never mints more than it holds), people as members, team admins, viewers, auditors and org
admins, and team isolation (another team's keys answer 404, as if they did not exist)."""

from __future__ import annotations

from typing import Any

from test_admin_keys_harness import PLATFORM, SEARCH, Gate, gate_fixture  # noqa: F401

from wardgate.core.keys import hash_key


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


async def test_a_team_admin_key_mints_within_its_own_rights(gate: Gate) -> None:
    admin = (await gate.create(role="team_admin", allowed_models=["chat", "simulated-chat"], expires_in=3600))["key"]
    made = await gate.create(who=admin, allowed_models=["chat"], expires_in=600)
    assert made["team_id"] == PLATFORM and made["user_id"] is None and made["created_by"] == admin_id(gate, admin)
    assert await gate.me(made["key"]) == 200
    assert (await gate.create(who=admin, role="team_admin", allowed_models=["simulated-chat"], expires_in=60))["key"]

    broader = {"team": "platform", "allowed_models": ["simulated-reasoning"], "expires_in": 600}
    assert error(await gate.call("POST", "/keys", who=admin, json=broader), 403)["param"] == "allowed_models"
    unrestricted = {"team": "platform", "expires_in": 600}
    assert error(await gate.call("POST", "/keys", who=admin, json=unrestricted), 403)["param"] == "allowed_models"
    longer = {"team": "platform", "allowed_models": ["chat"], "expires_in": 7200}
    assert error(await gate.call("POST", "/keys", who=admin, json=longer), 403)["param"] == "expires_at"
    forever = {"team": "platform", "allowed_models": ["chat"]}
    assert error(await gate.call("POST", "/keys", who=admin, json=forever), 403)["param"] == "expires_at"
    elsewhere = {"team": "search", "allowed_models": ["chat"], "expires_in": 60}
    assert error(await gate.call("POST", "/keys", who=admin, json=elsewhere), 404)["param"] == "team"

    widen = await gate.call("PATCH", f"/keys/{made['id']}", who=admin, json={"allowed_models": ["simulated-reasoning"]})
    assert error(widen, 403)["param"] == "allowed_models"
    extend = await gate.call("PATCH", f"/keys/{made['id']}", who=admin, json={"expires_at": None})
    assert error(extend, 403)["param"] == "expires_at"
    narrowed = await gate.call("PATCH", f"/keys/{made['id']}", who=admin, json={"allowed_models": ["simulated-chat"]})
    assert narrowed.status_code == 200 and narrowed.json()["allowed_models"] == ["simulated-chat"]
    assert error(await gate.call("PATCH", f"/keys/{made['id']}", who=admin, json={"user_id": "user_bob"}), 403)

    broad = await gate.create(team="platform")  # made by the master key: every model, no expiry
    rotate = await gate.call("POST", f"/keys/{broad['id']}/rotate", who=admin)
    assert error(rotate, 403)["param"] == "allowed_models"  # a rotation mints a key as broad as the old one
    revoke = await gate.call("POST", f"/keys/{broad['id']}/revoke", who=admin)
    assert revoke.status_code == 200  # stopping a key grants nothing
    assert await gate.me(broad["key"]) == 401 and await gate.me(admin) == 200


def admin_id(gate: Gate, secret: str) -> str:
    assert gate.state.identity is not None
    record = gate.state.identity.record(hash_key(secret))
    assert record is not None
    return record.id


async def test_a_member_key_reads_its_team_but_mints_nothing(gate: Gate) -> None:
    member = await gate.create(allowed_models=["chat"])
    other = await gate.create()
    hidden = await gate.create(team="search")
    listed = await gate.call("GET", "/keys", who=member["key"])
    assert sorted(row["id"] for row in listed.json()["data"]) == sorted([member["id"], other["id"]])
    assert (await gate.call("GET", f"/keys/{other['id']}", who=member["key"])).status_code == 200
    error(
        await gate.call("POST", "/keys", who=member["key"], json={"team": "platform", "allowed_models": ["chat"]}), 403
    )
    for method, path in (("POST", "/revoke"), ("POST", "/rotate"), ("DELETE", "")):
        error(await gate.call(method, f"/keys/{other['id']}{path}", who=member["key"]), 403)
        error(await gate.call(method, f"/keys/{hidden['id']}{path}", who=member["key"]), 404)
    error(await gate.call("PATCH", f"/keys/{member['id']}", who=member["key"], json={"name": "mine"}), 403)
    error(await gate.call("GET", f"/keys/{hidden['id']}", who=member["key"]), 404)
    error(await gate.call("GET", "/keys", who=member["key"], params={"team": "search"}), 404)


async def test_a_member_person_manages_only_its_own_keys(gate: Gate) -> None:
    own = await gate.create(who="alice", name="laptop", allowed_models=["chat"])
    assert own["user_id"] == "user_alice" and own["created_by"] == "user_alice" and await gate.me(own["key"]) == 200
    bobs = await gate.create(who="bob")
    assert bobs["user_id"] == "user_bob"

    assert error(await gate.call("POST", "/keys", who="alice", json={"team": "platform", "role": "team_admin"}), 403)
    for owner in ("user_bob", None):
        error(await gate.call("POST", "/keys", who="alice", json={"team": "platform", "user_id": owner}), 403)
    error(await gate.call("POST", "/keys", who="alice", json={"team": "search"}), 404)

    renamed = await gate.call("PATCH", f"/keys/{own['id']}", who="alice", json={"name": "desktop", "enabled": False})
    assert renamed.status_code == 200 and renamed.json()["status"] == "disabled"
    forbidden = await gate.call("PATCH", f"/keys/{own['id']}", who="alice", json={"allowed_models": ["chat"]})
    assert error(forbidden, 403)["param"] == "allowed_models"
    several = await gate.call("PATCH", f"/keys/{own['id']}", who="alice", json={"role": "viewer", "project_id": None})
    assert "project_id, role" in error(several, 403)["message"]
    assert (await gate.call("GET", f"/keys/{own['id']}")).json()["name"] == "desktop"  # nothing half-applied
    error(await gate.call("PATCH", f"/keys/{bobs['id']}", who="alice", json={"name": "mine"}), 403)

    rotated = await gate.call("POST", f"/keys/{own['id']}/rotate", who="alice", json={"grace_seconds": 60})
    assert rotated.status_code == 200 and rotated.json()["user_id"] == "user_alice"
    error(await gate.call("POST", f"/keys/{bobs['id']}/rotate", who="alice"), 403)
    error(await gate.call("POST", f"/keys/{bobs['id']}/revoke", who="alice"), 403)
    assert (await gate.call("POST", f"/keys/{rotated.json()['id']}/revoke", who="alice")).status_code == 200
    assert (await gate.call("DELETE", f"/keys/{bobs['id']}", who="bob")).status_code == 200


async def test_a_team_admin_person_manages_every_key_of_its_team_only(gate: Gate) -> None:
    for_bob = await gate.create(who="carol", user_id="user_bob", role="team_admin")
    assert for_bob["user_id"] == "user_bob" and for_bob["created_by"] == "user_carol"
    nobodys = await gate.create(who="carol", user_id=None, service_principal_id="sp_ci")
    assert nobodys["user_id"] is None
    patched = await gate.call("PATCH", f"/keys/{for_bob['id']}", who="carol", json={"role": "member", "enabled": False})
    assert patched.status_code == 200 and patched.json()["role"] == "member"
    for field, value in (("user_id", "user_alice"), ("team_id", SEARCH), ("service_principal_id", None)):
        assert (
            error(await gate.call("PATCH", f"/keys/{for_bob['id']}", who="carol", json={field: value}), 403)["param"]
            == field
        )
    searchers = await gate.create(team="search")
    for method, path, body in (
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("POST", "/revoke", None),
        ("POST", "/rotate", None),
        ("DELETE", "", None),
    ):
        error(await gate.call(method, f"/keys/{searchers['id']}{path}", who="carol", json=body), 404)
    listed = (await gate.call("GET", "/keys", who="carol")).json()["data"]
    assert {row["team_id"] for row in listed} == {PLATFORM}


async def test_viewers_auditors_and_outsiders(gate: Gate) -> None:
    platform_key, search_key = await gate.create(), await gate.create(team="search")
    assert (await gate.call("GET", f"/keys/{platform_key['id']}", who="vera")).status_code == 200
    error(await gate.call("POST", "/keys", who="vera", json={"team": "platform", "role": "viewer"}), 403)
    error(await gate.call("POST", f"/keys/{platform_key['id']}/revoke", who="vera"), 403)

    everything = (await gate.call("GET", "/keys", who="audrey")).json()["data"]
    assert {row["id"] for row in everything} == {platform_key["id"], search_key["id"]}
    error(await gate.call("POST", "/keys", who="audrey", json={"team": "platform"}), 403)
    error(await gate.call("POST", f"/keys/{search_key['id']}/revoke", who="audrey"), 403)
    error(await gate.call("PATCH", f"/keys/{search_key['id']}", who="audrey", json={"name": "x"}), 403)

    assert (await gate.call("GET", "/keys", who="nobody")).json()["data"] == []
    error(await gate.call("GET", f"/keys/{platform_key['id']}", who="nobody"), 404)
    error(await gate.call("POST", "/keys", who="nobody", json={"team": "platform"}), 404)


async def test_an_org_admin_person_moves_keys_across_teams(gate: Gate) -> None:
    key = await gate.create(who="olga", project_id="proj_bots")
    assert key["user_id"] == "user_olga"
    stuck = await gate.call("PATCH", f"/keys/{key['id']}", who="olga", json={"team_id": "search"})
    assert error(stuck, 400)["param"] == "project_id"  # the project is platform's
    moved = await gate.call(
        "PATCH", f"/keys/{key['id']}", who="olga", json={"team_id": "search", "project_id": "proj_index"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["team_id"], moved.json()["project_id"]) == (SEARCH, "proj_index")
    assert (await gate.call("GET", "/me", who=key["key"])).json()["teams"] == {SEARCH: "member"}
    error(await gate.call("GET", f"/keys/{key['id']}", who="carol"), 404)
    assert (await gate.call("GET", f"/keys/{key['id']}", who="dave")).status_code == 200
