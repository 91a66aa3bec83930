"""The key routes of the admin API as the master key, in the real app on SQLite and PostgreSQL: the secret shown
once, validation (each problem a 400 naming the field), listing and paging, updates, revocation and rotation
taking effect on the next request, and change records without secrets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from test_admin_keys_harness import MASTER, PLATFORM, SEARCH, Gate, gate_fixture  # noqa: F401

from wardgate.core.keys import hash_key


async def test_create_shows_the_secret_once(gate: Gate) -> None:
    created = await gate.create(
        name="ci bot", allowed_models=["simulated-chat", "chat"], expires_in=3600, metadata={"cost_center": "7"}
    )
    secret = created["key"]
    assert secret.startswith("wg-") and len(secret) >= 40 and created["prefix"] == secret[:7]
    assert created["team_id"] == PLATFORM and created["role"] == "member" and created["status"] == "active"
    assert created["allowed_models"] == ["chat", "simulated-chat"] and created["metadata"] == {"cost_center": "7"}
    assert created["user_id"] is None and created["created_by"] == "master"
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)

    read = await gate.call("GET", f"/keys/{created['id']}")
    listed = await gate.call("GET", "/keys")
    changes = await gate.call("GET", "/changes", params={"object_kind": "key"})
    for response in (read, listed, changes):
        assert response.status_code == 200
        assert secret not in response.text and hash_key(secret) not in response.text and '"key":' not in response.text
    assert read.json() == {k: v for k, v in created.items() if k != "key"}
    assert [row["id"] for row in listed.json()["data"]] == [created["id"]]

    me = await gate.call("GET", "/me", who=secret)  # usable at once: the change refreshed the identity cache
    assert me.status_code == 200 and me.json()["kind"] == "key" and me.json()["teams"] == {PLATFORM: "member"}


async def test_create_resolves_team_names_and_ids_and_references(gate: Gate) -> None:
    by_id = await gate.create(team=SEARCH, project_id="proj_index", role="team_admin")
    assert by_id["team_id"] == SEARCH and by_id["project_id"] == "proj_index" and by_id["role"] == "team_admin"
    full = await gate.create(
        service_principal_id="sp_ci",
        user_id="user_alice",
        limits={"requests_per_minute": 60},
        budgets={"amount_usd": 5, "period": "daily"},
    )
    assert (full["service_principal_id"], full["user_id"]) == ("sp_ci", "user_alice")
    limits, budgets = {"requests_per_minute": 60}, {"amount_usd": 5.0, "period": "daily"}
    assert (full["limits"], full["budgets"], full["name"]) == (limits, budgets, full["prefix"])


async def test_create_rejects_what_it_cannot_honour(gate: Gate) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = [
        ({"allowed_models": ["simulated-chat", "gpt-9", "nope"]}, "allowed_models", "gpt-9, nope"),
        ({"allowed_models": []}, "allowed_models", None),
        ({"expires_in": 60, "expires_at": future}, "expires_in", "not both"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "future"),
        ({"expires_in": 0}, "expires_in", None),
        ({"project_id": "proj_index"}, "project_id", "no such project"),
        ({"user_id": "user_ghost"}, "user_id", "no such user"),
        ({"service_principal_id": "sp_nope"}, "service_principal_id", None),
        ({"role": "org_admin"}, "role", None),
        ({"role": "superuser"}, "role", None),
        ({"key_hash": "x"}, "key_hash", "Unknown field"),
        ({"name": "no/slashes"}, "name", None),
    ]
    for extra, param, text in cases:
        response = await gate.call("POST", "/keys", json={"team": "platform", **extra})
        assert response.status_code == 400, (extra, response.text)
        error = response.json()["error"]
        assert error["param"] == param, (extra, error)
        assert text is None or text in error["message"], (extra, error)
    missing_team = await gate.call("POST", "/keys", json={"team": "nope"})
    assert missing_team.status_code == 404 and missing_team.json()["error"]["param"] == "team"
    assert (await gate.call("POST", "/keys", json={})).status_code == 400
    assert (await gate.call("POST", "/keys", json={"team": "platform"}, who="wg-not-a-key")).status_code == 401
    assert (await gate.call("GET", "/keys")).json()["data"] == []  # nothing was half-made


async def test_list_filters_and_pages(gate: Gate) -> None:
    made = [
        await gate.create(project_id="proj_bots"),
        await gate.create(user_id="user_bob"),
        await gate.create(service_principal_id="sp_ci"),
        await gate.create(team="search"),
    ]
    ids = [key["id"] for key in made]
    await gate.call("POST", f"/keys/{ids[2]}/revoke")

    async def listed(**params: object) -> list[str]:
        response = await gate.call("GET", "/keys", params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["data"]]

    assert await listed() == sorted(ids)
    assert await listed(team="platform") == sorted(ids[:3])
    assert await listed(team=SEARCH) == [ids[3]]
    assert await listed(project_id="proj_bots") == [ids[0]]
    assert await listed(user_id="user_bob") == [ids[1]]
    assert await listed(service_principal_id="sp_ci") == [ids[2]]
    assert await listed(revoked="true") == [ids[2]]
    assert await listed(revoked="false", enabled="true") == sorted([ids[0], ids[1], ids[3]])
    first = (await gate.call("GET", "/keys", params={"limit": 3})).json()
    assert first["has_more"] is True and len(first["data"]) == 3
    rest = await listed(limit=3, after=first["last_id"])
    assert [row["id"] for row in first["data"]] + rest == sorted(ids)
    assert (await gate.call("GET", "/keys", params={"team": "nope"})).status_code == 404
    assert (await gate.call("GET", "/keys", params={"limit": 0})).status_code == 400


async def test_update_applies_only_the_fields_sent(gate: Gate) -> None:
    created = await gate.create(allowed_models=["simulated-chat"], metadata={"a": 1})
    key_id, secret = created["id"], created["key"]
    patched = await gate.call(
        "PATCH", f"/keys/{key_id}", json={"name": "renamed", "allowed_models": ["chat", "simulated-reasoning"]}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "renamed" and body["allowed_models"] == ["chat", "simulated-reasoning"]
    assert body["metadata"] == {"a": 1} and body["updated_at"] > created["updated_at"]

    disabled = (await gate.call("PATCH", f"/keys/{key_id}", json={"enabled": False})).json()
    assert disabled["status"] == "disabled" and await gate.me(secret) == 401
    enabled = await gate.call("PATCH", f"/keys/{key_id}", json={"enabled": True, "allowed_models": None})
    assert enabled.json()["allowed_models"] is None and await gate.me(secret) == 200
    expiring = (await gate.call("PATCH", f"/keys/{key_id}", json={"expires_in": 120, "project_id": "proj_bots"})).json()
    assert expiring["project_id"] == "proj_bots" and expiring["expires_at"] is not None
    cleared = (await gate.call("PATCH", f"/keys/{key_id}", json={"expires_at": None, "project_id": None})).json()
    assert cleared["expires_at"] is None and cleared["project_id"] is None
    moved = (await gate.call("PATCH", f"/keys/{key_id}", json={"team_id": SEARCH})).json()
    assert moved["team_id"] == SEARCH

    for body_, param in (
        ({"revoked_at": None}, "revoked_at"),
        ({"name": None}, None),
        ({"allowed_models": ["gpt-9"]}, "allowed_models"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"project_id": "proj_bots"}, "project_id"),  # the key is in search now
        ({"role": "org_admin"}, "role"),
    ):
        response = await gate.call("PATCH", f"/keys/{key_id}", json=body_)
        assert response.status_code == 400, (body_, response.text)
        assert param is None or response.json()["error"]["param"] == param, (body_, response.text)
    assert (await gate.call("PATCH", "/keys/key_missing", json={"name": "x"})).status_code == 404


async def test_revoke_and_delete_stop_a_key_at_once(gate: Gate) -> None:
    first, second = await gate.create(), await gate.create()
    assert await gate.me(first["key"]) == 200
    revoked = await gate.call("POST", f"/keys/{first['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["enabled"] is False and await gate.me(first["key"]) == 401
    again = await gate.call("POST", f"/keys/{first['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    deleted = await gate.call("DELETE", f"/keys/{second['id']}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "revoked" and await gate.me(second["key"]) == 401
    assert (await gate.call("GET", f"/keys/{second['id']}")).json()["status"] == "revoked"  # the row stays
    for method, path, body in (
        ("PATCH", f"/keys/{first['id']}", {"enabled": True}),
        ("POST", f"/keys/{first['id']}/rotate", {}),
    ):
        response = await gate.call(method, path, json=body)
        assert response.status_code == 409 and response.json()["error"]["code"] == "key_revoked", response.text
    assert await gate.me(first["key"]) == 401
    assert (await gate.call("POST", "/keys/key_missing/revoke")).status_code == 404


async def test_rotate_without_grace_replaces_the_key_now(gate: Gate) -> None:
    old = await gate.create(name="svc", allowed_models=["chat"], metadata={"x": 1})
    response = await gate.call("POST", f"/keys/{old['id']}/rotate")
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["key"] != old["key"] and new["key"].startswith("wg-") and new["id"] != old["id"]
    for field in ("name", "team_id", "role", "allowed_models", "metadata", "expires_at"):
        assert new[field] == old[field], field
    assert new["rotated_from"]["id"] == old["id"] and new["rotated_from"]["rotated_to"] == new["id"]
    assert new["rotated_from"]["status"] == "expired" and "key" not in new["rotated_from"]
    assert await gate.me(old["key"]) == 401 and await gate.me(new["key"]) == 200
    again = await gate.call("POST", f"/keys/{old['id']}/rotate")
    assert again.status_code == 409, again.text


async def test_rotate_with_grace_keeps_both_until_it_ends(gate: Gate) -> None:
    old = await gate.create(expires_in=86_400)
    response = await gate.call("POST", f"/keys/{old['id']}/rotate", json={"grace_seconds": 2})
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["rotated_from"]["status"] == "rotating" and new["expires_at"] == old["expires_at"]
    assert await gate.me(old["key"]) == 200 and await gate.me(new["key"]) == 200
    await asyncio.sleep(2.1)  # expiry is checked on every lookup: no cache refresh needed
    assert await gate.me(old["key"]) == 401 and await gate.me(new["key"]) == 200
    assert (await gate.call("GET", f"/keys/{old['id']}")).json()["status"] == "expired"
    for grace in (-1, 30 * 86_400 + 1):
        bad = await gate.call("POST", f"/keys/{new['id']}/rotate", json={"grace_seconds": grace})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "grace_seconds"


async def test_rotating_an_expired_key_is_refused(gate: Gate) -> None:
    key = await gate.create(expires_in=1)
    await asyncio.sleep(1.1)
    response = await gate.call("POST", f"/keys/{key['id']}/rotate")
    assert response.status_code == 409 and response.json()["error"]["code"] == "key_expired"


async def test_every_change_is_recorded_without_secrets(gate: Gate) -> None:
    created = await gate.create(name="audited")
    await gate.call("PATCH", f"/keys/{created['id']}", json={"name": "renamed"})
    rotated = (await gate.call("POST", f"/keys/{created['id']}/rotate", json={"grace_seconds": 60})).json()
    await gate.call("POST", f"/keys/{rotated['id']}/revoke")
    response = await gate.call("GET", "/changes", params={"object_kind": "key"})
    changes = list(reversed(response.json()["data"]))
    assert [(c["action"], c["object_id"]) for c in changes] == [
        ("create", created["id"]),
        ("update", created["id"]),
        ("rotate", created["id"]),
        ("create", rotated["id"]),
        ("revoke", rotated["id"]),
    ]
    assert all(c["actor_kind"] == "master" and c["team_id"] == PLATFORM for c in changes)
    assert changes[1]["before"]["name"] == "audited" and changes[1]["after"]["name"] == "renamed"
    assert changes[2]["after"]["rotated_to"] == rotated["id"] and changes[3]["after"]["rotated_from"] == created["id"]
    assert changes[4]["after"]["status"] == "revoked"
    for secret in (created["key"], rotated["key"]):
        assert secret not in response.text and hash_key(secret) not in response.text
    assert MASTER not in response.text


async def test_allowed_models_are_names_clients_send_aliases_included(gate: Gate) -> None:
    async def chat(key: str, model: str) -> int:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        response = await gate.http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
        return response.status_code

    by_alias = (await gate.create(allowed_models=["chat"]))["key"]
    assert await chat(by_alias, "chat") == 200 and await chat(by_alias, "simulated-chat") == 200
    assert await chat(by_alias, "simulated-reasoning") == 403
    other = (await gate.create(allowed_models=["simulated-reasoning"]))["key"]
    assert await chat(other, "chat") == 403 and await chat(other, "simulated-reasoning") == 200
