"""Gateway processes on one database (a SQLite file, and PostgreSQL): a virtual key works on each with the official
``openai`` SDK; revoked through replica A's admin API it is refused by replica B (Redis notifications, a poll too
slow to matter) within 0.5 s of A's answer, and by replica C (no Redis, 1 s poll) within 2 s of the revoke
request; a revocation written straight into the database reaches C through its poll alone."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import insert, update

from wardgate.core.keys import hash_key
from wardgate.storage.database import Database
from wardgate.storage.schema import orgs, teams, virtual_keys

pytestmark = pytest.mark.integration
MASTER_KEY = "wg-replicas-master-key"
REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
CONFIG = {
    "server": {"access_log": False},
    "providers": [{"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}],
    "models": [{"name": "simulated-chat", "deployments": [{"provider": "sim", "model": "simulated-chat"}]}],
}
KEY_IDS = ("key_replicas_admin", "key_replicas_direct")


async def _insert_keys(url: str, secrets: tuple[str, ...]) -> None:
    db = Database(url)
    at = datetime.now(UTC)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(insert(orgs).values(id="org_1", name="acme", metadata={}, created_at=at, updated_at=at))
            await conn.execute(
                insert(teams).values(
                    id="team_1", org_id="org_1", name="platform", metadata={}, created_at=at, updated_at=at
                )
            )
            for key_id, secret in zip(KEY_IDS, secrets, strict=True):
                await conn.execute(
                    insert(virtual_keys).values(
                        id=key_id,
                        key_hash=hash_key(secret),
                        key_prefix=secret[:8],
                        name=key_id,
                        team_id="team_1",
                        role="member",
                        enabled=True,
                        limits={},
                        budgets={},
                        metadata={},
                        created_by="test",
                        created_at=at,
                        updated_at=at,
                    )
                )
    finally:
        await db.close()


async def _revoke_row(url: str, key_id: str) -> None:
    db = Database(url)
    at = datetime.now(UTC)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                update(virtual_keys)
                .where(virtual_keys.c.id == key_id)
                .values(revoked_at=at, enabled=False, updated_at=at)
            )
    finally:
        await db.close()


@pytest.fixture
def secrets(database_url: str) -> tuple[str, ...]:
    keys = tuple("wg-" + os.urandom(24).hex() for _ in KEY_IDS)
    asyncio.run(_insert_keys(database_url, keys))
    return keys


@pytest.fixture
def replicas(tmp_path: Path, database_url: str, secrets: tuple[str, ...]) -> Iterator[dict[str, GatewayProcess]]:
    """A and B notify each other through Redis and poll only every 30 s (so only Redis can be fast); C has no
    Redis and polls every second, the bound without shared mode. Started in parallel."""
    common = {"WARDGATE_DATABASE_URL": database_url, "WARDGATE_SECRET_KEY": base64.b64encode(b"k" * 32).decode()}
    shared = {**common, "WARDGATE_REDIS_URL": REDIS_URL, "WARDGATE_IDENTITY_POLL_SECONDS": "30"}
    envs = {"a": shared, "b": shared, "c": {**common, "WARDGATE_IDENTITY_POLL_SECONDS": "1"}}
    processes = {}
    for name, env in envs.items():
        (tmp_path / name).mkdir()
        processes[name] = GatewayProcess(tmp_path / name, CONFIG, master_key=MASTER_KEY, env=env)
    try:
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(lambda process: process.start(timeout=60), processes.values()))  # slow on a busy host
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def client(gateway: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=10)


def chat(gateway: GatewayProcess, key: str) -> str:
    reply = client(gateway, key).chat.completions.create(
        model="simulated-chat", messages=[{"role": "user", "content": "hello"}]
    )
    return reply.choices[0].message.content or ""


def seconds_until_refused(gateway: GatewayProcess, key: str, started: float, limit: float) -> float:
    sdk = client(gateway, key)
    while True:
        try:
            sdk.chat.completions.create(model="simulated-chat", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as error:
            assert isinstance(error.body, dict) and error.body.get("code") == "invalid_api_key"
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"{gateway.url} still accepted the revoked key after {elapsed:.2f} s"
        time.sleep(0.02)


def revoke_through_admin_api(gateway: GatewayProcess) -> None:
    request = urllib.request.Request(
        f"{gateway.url}/admin/v1/keys/{KEY_IDS[0]}/revoke",
        method="POST",
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
        data=b"{}",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200 and json.loads(answer.read())["revoked_at"]


def test_a_revocation_on_one_replica_reaches_the_others(
    replicas: dict[str, GatewayProcess], secrets: tuple[str, ...], database_url: str
) -> None:
    a, b, c = replicas["a"], replicas["b"], replicas["c"]
    through_admin, written_directly = secrets
    for replica in (a, b, c):
        assert chat(replica, through_admin) and chat(replica, written_directly)

    started = time.monotonic()
    revoke_through_admin_api(a)
    answered = time.monotonic()
    with pytest.raises(openai.AuthenticationError):
        chat(a, through_admin)  # A refreshed before answering the revoke
    assert seconds_until_refused(b, through_admin, answered, limit=0.5) < 0.5  # Redis
    assert seconds_until_refused(c, through_admin, started, limit=2.0) < 2.0  # C's poll

    started = time.monotonic()  # no admin API, so no notification: the 1 s poll alone keeps the 2 s bound
    asyncio.run(_revoke_row(database_url, KEY_IDS[1]))
    assert seconds_until_refused(c, written_directly, started, limit=2.0) < 2.0
    assert chat(b, written_directly)  # B polls every 30 s here and was not notified: the poll is the fallback
