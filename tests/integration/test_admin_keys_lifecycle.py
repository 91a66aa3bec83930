"""Virtual keys end to end on SQLite and PostgreSQL: made through the admin API (and the CLI), used through the proxy
API with the official openai SDK against real gateway processes (the zero-config setup's simulated models):
create → use → revoke (another replica stops accepting it within 2 s), expiry, rotation with a grace period, and a
key restricted to one model refused the other."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import insert

from wardgate.storage.database import Database
from wardgate.storage.migrate import upgrade
from wardgate.storage.schema import orgs, teams

MASTER = "wg-lifecycle-master-key"
HI = [{"role": "user", "content": "hi"}]
PROPAGATION = 2.0
"""How long a change may take to reach another replica (the issue's bound)."""

pytestmark = pytest.mark.integration


async def _seed(url: str, *, migrate: bool = False) -> None:
    db = Database(url)
    now = datetime.now(UTC)
    base = {"metadata": {}, "created_at": now, "updated_at": now}
    try:
        if migrate:
            await upgrade(db)
        async with db.engine.begin() as conn:
            await conn.execute(insert(orgs).values(id="org_acme", name="acme", **base))
            await conn.execute(insert(teams).values(id="team_platform", org_id="org_acme", name="platform", **base))
    finally:
        await db.close()


def _start(workdir: Path, database_url: str) -> GatewayProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    return GatewayProcess(workdir, None, master_key=MASTER, env={"WARDGATE_DATABASE_URL": database_url}).start()


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayProcess]:
    asyncio.run(_seed(database_url))
    process = _start(tmp_path, database_url)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def sqlite_gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    """One gateway on SQLite only: for the CLI, which talks HTTP and never sees the backend."""
    url = f"sqlite:///{tmp_path / 'wardgate.db'}"
    asyncio.run(_seed(url, migrate=True))
    process = _start(tmp_path / "gateway", url)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateway processes sharing one database (no Redis: the second learns of changes by polling)."""
    asyncio.run(_seed(database_url))
    first = _start(tmp_path / "a", database_url)
    try:
        second = _start(tmp_path / "b", database_url)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def admin(gateway: GatewayProcess, method: str, path: str, body: Any = None) -> dict[str, Any]:
    response = httpx2.request(
        method, f"{gateway.url}/admin/v1{path}", json=body, headers={"Authorization": f"Bearer {MASTER}"}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def chat(gateway: GatewayProcess, key: str, model: str = "simulated-chat") -> int:
    """The status the proxy API answers this key with for one chat completion."""
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)
    try:
        reply = client.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    except openai.APIStatusError as exc:
        return exc.status_code
    assert reply.choices[0].message.content
    return 200


def until(predicate: Callable[[], bool], within: float) -> float:
    """Seconds until ``predicate()`` held; fails if it did not within ``within``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < within, f"not within {within} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_create_use_revoke_across_replicas(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = replicas
    created = admin(a, "POST", "/keys", {"team": "platform", "allowed_models": ["simulated-chat"]})
    key = created["key"]
    assert chat(a, key) == 200  # the replica that made it knows it at once
    until(lambda: chat(b, key) == 200, PROPAGATION)
    assert chat(a, key, "simulated-reasoning") == 403 and chat(b, key, "simulated-reasoning") == 403
    assert chat(a, "wg-" + "x" * 43) == 401

    admin(a, "POST", f"/keys/{created['id']}/revoke")
    assert chat(a, key) == 401
    until(lambda: chat(b, key) == 401, PROPAGATION)
    assert chat(b, MASTER) == 200
    assert key not in a.log() and key not in b.log()


def test_an_expired_key_is_refused(gateway: GatewayProcess) -> None:
    created = admin(gateway, "POST", "/keys", {"team": "platform", "expires_in": 2})
    assert chat(gateway, created["key"]) == 200
    waited = until(lambda: chat(gateway, created["key"]) == 401, 2 + PROPAGATION)
    assert waited > 0.5
    assert admin(gateway, "GET", f"/keys/{created['id']}")["status"] == "expired"


def test_rotation_with_grace_keeps_both_keys_until_it_ends(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = replicas
    old = admin(a, "POST", "/keys", {"team": "platform", "name": "service"})
    until(lambda: chat(b, old["key"]) == 200, PROPAGATION)
    rotated = admin(a, "POST", f"/keys/{old['id']}/rotate", {"grace_seconds": 4})
    started = time.monotonic()
    new = rotated["key"]
    assert chat(a, new) == 200 and chat(a, old["key"]) == 200
    until(lambda: chat(b, new) == 200, PROPAGATION)
    assert chat(b, old["key"]) == 200 or time.monotonic() - started >= 4
    until(lambda: chat(a, old["key"]) == 401 and chat(b, old["key"]) == 401, 4 + PROPAGATION)
    assert time.monotonic() - started >= 3.9
    assert chat(a, new) == 200 and chat(b, new) == 200

    again = admin(a, "POST", f"/keys/{rotated['id']}/rotate", {"grace_seconds": 0})
    assert chat(a, new) == 401 and chat(a, again["key"]) == 200


def wardgate(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
    env.update(WARDGATE_URL=gateway.url, WARDGATE_ADMIN_KEY=MASTER, COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "wardgate", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_the_cli_creates_lists_rotates_and_revokes(sqlite_gateway: GatewayProcess) -> None:
    a = sqlite_gateway
    made = wardgate(a, "keys", "create", "--team", "platform", "--models", "simulated-chat", "--name", "cli key")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("wg-") and "\n" not in key and "not shown again" in made.stderr
    assert chat(a, key) == 200 and chat(a, key, "simulated-reasoning") == 403

    listed = wardgate(a, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["data"]
    assert [row["name"] for row in rows] == ["cli key"] and key not in listed.stdout
    key_id = rows[0]["id"]
    table = wardgate(a, "keys", "list", "--team", "platform")
    assert table.returncode == 0 and key_id in table.stdout and "active" in table.stdout
    shown = wardgate(a, "keys", "show", key_id)
    assert shown.returncode == 0 and "simulated-chat" in shown.stdout and key not in shown.stdout

    updated = wardgate(a, "keys", "update", key_id, "--disable", "--json")
    assert updated.returncode == 0 and json.loads(updated.stdout)["status"] == "disabled"
    assert chat(a, key) == 401
    assert wardgate(a, "keys", "update", key_id, "--enable").returncode == 0 and chat(a, key) == 200

    rotated = wardgate(a, "keys", "rotate", key_id, "--grace", "1h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    answer = json.loads(rotated.stdout)
    assert answer["rotated_from"]["status"] == "rotating" and chat(a, answer["key"]) == 200 and chat(a, key) == 200

    revoked = wardgate(a, "keys", "revoke", answer["id"])
    assert revoked.returncode == 0 and "Revoked key" in revoked.stdout and chat(a, answer["key"]) == 401
    remaining = json.loads(wardgate(a, "keys", "list", "--json").stdout)["data"]
    assert [row["id"] for row in remaining] == [key_id]
    everything = json.loads(wardgate(a, "keys", "list", "--all", "--json").stdout)["data"]
    assert {row["id"]: row["status"] for row in everything} == {key_id: "rotating", answer["id"]: "revoked"}

    for secret in (key, answer["key"]):
        assert secret not in a.log()
    refused = wardgate(a, "keys", "create", "--team", "nope")
    assert refused.returncode == 1 and refused.stderr.startswith("error: 404") and "Traceback" not in refused.stderr
    bad = wardgate(a, "keys", "create", "--team", "platform", "--expires-in", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
