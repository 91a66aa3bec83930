"""The credential routes of the admin API in the real app on SQLite and PostgreSQL: the lifecycle as the master
key, validation, RBAC (org admins write, auditors read metadata, everyone else 403), change records with
fingerprints, and no secret in any answer, change record or log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from credentials_harness import (  # noqa: F401  (fixtures)
    KEY_ONE,
    KEY_TWO,
    MASTER,
    Gate,
    assert_no_secret,
    config,
    fake_fixture,
    start_fixture,
    vault_env_fixture,
)

from wardgate.vault import fingerprint

METADATA = {
    "object",
    "id",
    "name",
    "description",
    "fingerprint",
    "last4",
    "key_id",
    "version",
    "created_by",
    "created_at",
    "updated_at",
}


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in caplog.records)


async def test_lifecycle_as_master_key(start: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wardgate")
    gate: Gate = await start(config("http://127.0.0.1:9", api_key=None))
    created = await gate.admin("POST", "/credentials", {"name": "openai", "secret": KEY_ONE, "description": "main"})
    assert created.status == 201, created.body
    info = created.body
    assert set(info) == METADATA
    assert (info["name"], info["version"], info["description"]) == ("openai", 1, "main")
    assert info["fingerprint"] == fingerprint(KEY_ONE) and info["last4"] == KEY_ONE[-4:]
    assert info["created_by"] == "master" and info["key_id"] == gate.state.credentials.keyring.current.key_id  # type: ignore[union-attr]

    listed = await gate.admin("GET", "/credentials")
    assert listed.status == 200 and [row["name"] for row in listed.body["data"]] == ["openai"]
    assert listed.body["data"][0] == info
    one = await gate.admin("GET", "/credentials/openai")
    assert one.status == 200 and one.body == info

    rotated = await gate.admin("PUT", "/credentials/openai", {"secret": KEY_TWO})
    assert rotated.status == 200, rotated.body
    assert rotated.body["version"] == 2 and rotated.body["fingerprint"] == fingerprint(KEY_TWO)
    assert rotated.body["description"] == "main" and rotated.body["id"] == info["id"]
    described = await gate.admin("PUT", "/credentials/openai", {"secret": KEY_TWO, "description": None})
    assert described.body["version"] == 3 and described.body["description"] is None

    deleted = await gate.admin("DELETE", "/credentials/openai")
    assert deleted.status == 200 and deleted.body == {
        "object": "credential",
        "id": info["id"],
        "name": "openai",
        "deleted": True,
    }
    assert (await gate.admin("GET", "/credentials/openai")).status == 404
    assert (await gate.admin("PUT", "/credentials/openai", {"secret": KEY_ONE})).status == 404
    assert (await gate.admin("DELETE", "/credentials/openai")).status == 404

    changes = await gate.admin("GET", "/changes?object_kind=credential")
    records = list(reversed(changes.body["data"]))
    assert [r["action"] for r in records] == ["create", "rotate", "rotate", "delete"]
    assert all(r["object_id"] == info["id"] and r["actor_id"] == "master" for r in records)
    assert records[0]["before"] is None and records[0]["after"]["fingerprint"] == fingerprint(KEY_ONE)
    assert records[1]["before"]["fingerprint"] == fingerprint(KEY_ONE)
    assert records[1]["after"]["fingerprint"] == fingerprint(KEY_TWO) and records[1]["after"]["version"] == 2
    assert records[3]["before"]["name"] == "openai" and records[3]["after"] is None

    ready = await gate.call("GET", "/readyz")
    everything = "\n".join(gate.answers) + repr(gate.state.credentials) + log_text(caplog)
    assert ready.status == 200
    assert_no_secret(everything, KEY_ONE, KEY_TWO)


async def test_validation(start: Any) -> None:
    gate: Gate = await start(config("http://127.0.0.1:9", api_key=None))
    assert (await gate.admin("POST", "/credentials", {"name": "dup", "secret": KEY_ONE})).status == 201
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"name": "dup", "secret": KEY_TWO}, 409, None),
        ({"name": "has space", "secret": KEY_TWO}, 400, "name"),
        ({"name": "-leading", "secret": KEY_TWO}, 400, "name"),
        ({"name": "ok"}, 400, "secret"),
        ({"name": "ok", "secret": ""}, 400, "secret"),
        ({"name": "ok", "secret": "   "}, 400, "secret"),
        ({"name": "ok", "secret": KEY_TWO * 2400}, 400, "secret"),  # over 64 KiB
        ({"name": "ok", "secret": KEY_TWO, "value": KEY_TWO}, 400, "value"),
        ({"name": "ok", "secret": KEY_TWO, "version": 7}, 400, "version"),
    ]
    for body, status, param in cases:
        reply = await gate.admin("POST", "/credentials", body)
        assert reply.status == status, (body, reply.body)
        assert param is None or reply.body["error"]["param"] == param, (body, reply.body)
    assert (await gate.admin("PUT", "/credentials/dup", {"secret": KEY_TWO, "name": "x"})).status == 400
    assert (await gate.admin("GET", "/credentials/bad%20name")).status in (400, 404)
    listed = await gate.admin("GET", "/credentials")
    assert [row["name"] for row in listed.body["data"]] == ["dup"]
    assert_no_secret("\n".join(gate.answers), KEY_ONE, KEY_TWO)


async def test_paging(start: Any) -> None:
    gate: Gate = await start(config("http://127.0.0.1:9", api_key=None))
    for n in range(5):
        assert (await gate.admin("POST", "/credentials", {"name": f"c{n}", "secret": f"{KEY_ONE}{n}"})).status == 201
    first = (await gate.admin("GET", "/credentials?limit=3")).body
    rest = (await gate.admin("GET", f"/credentials?limit=3&after={first['last_id']}")).body
    assert first["has_more"] and not rest["has_more"]
    assert sorted(row["name"] for row in first["data"] + rest["data"]) == [f"c{n}" for n in range(5)]


async def test_rbac(start: Any) -> None:
    gate: Gate = await start(config("http://127.0.0.1:9", api_key=None))
    assert (await gate.admin("POST", "/credentials", {"name": "openai", "secret": KEY_ONE})).status == 201
    writes = [
        ("POST", "/credentials", {"name": "mine", "secret": KEY_TWO}),
        ("PUT", "/credentials/openai", {"secret": KEY_TWO}),
        ("DELETE", "/credentials/openai", None),
    ]
    reads = [("GET", "/credentials", None), ("GET", "/credentials/openai", None)]
    for method, path, body in reads:  # auditors read metadata
        reply = await gate.admin(method, path, body, who="as:auditor")
        assert reply.status == 200, reply.body
    for who in ("as:auditor", "as:team-admin", "as:member", "as:viewer"):
        for method, path, body in writes + (reads if who != "as:auditor" else []):
            reply = await gate.admin(method, path, body, who=who)
            assert reply.status == 403, (who, method, path, reply.body)
            assert reply.body["error"]["type"] == "permission_error"
    for method, path, body in writes + reads:
        reply = await gate.admin(method, path, body, who="wg-not-a-key")
        assert reply.status == 401, (method, path, reply.body)
    one = await gate.admin("GET", "/credentials/openai")
    assert one.body["version"] == 1  # nothing changed
    assert (await gate.admin("GET", "/credentials/mine")).status == 404
    assert_no_secret("\n".join(gate.answers), KEY_ONE, KEY_TWO)


async def test_delete_refused_while_the_active_config_references_it(start: Any, database_url: str) -> None:
    from credentials_harness import seed

    await seed(database_url, "openai", KEY_ONE)
    gate: Gate = await start(config(gate_url := "http://127.0.0.1:9"))
    refused = await gate.admin("DELETE", "/credentials/openai")
    assert refused.status == 409 and refused.body["error"]["code"] == "credential_in_use"
    assert "referenced by the active config" in refused.body["error"]["message"]
    assert (await gate.admin("GET", "/credentials/openai")).status == 200

    gate.state.credentials.apply_config(  # type: ignore[union-attr]
        gate.state, _loaded(config(gate_url, api_key=None))
    )
    assert (await gate.admin("DELETE", "/credentials/openai")).status == 200


async def test_vault_unavailable_is_a_clear_503(start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDGATE_SECRET_KEY", "too-short")
    gate: Gate = await start(config("http://127.0.0.1:9", api_key=None))
    assert (await gate.chat("sim-chat")).status == 200  # a gateway that uses no credentials still serves
    reply = await gate.admin("POST", "/credentials", {"name": "openai", "secret": KEY_ONE})
    assert reply.status == 503 and reply.body["error"]["code"] == "vault_unavailable"
    assert "WARDGATE_SECRET_KEY" in reply.body["error"]["message"]
    assert (await gate.admin("GET", "/credentials")).body["data"] == []
    assert "too-short" not in json.dumps(reply.body)


def _loaded(text: str) -> Any:
    from wardgate.config.loader import load_config_text

    return load_config_text(text, env={})
