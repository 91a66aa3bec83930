"""The audit trail behind a real gateway process: every request — answered, streamed, refused, failed over — has
its record with the principal, attempts, latency breakdown, usage and cost; content follows the team's mode (off,
redacted, full); PHI-flagged prompts are flagged; admin changes are in the same chain; and `wardgate audit verify`
passes on what the gateway wrote and fails, naming the row, once a row is edited."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import select, update

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log
from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-audit-master-key"
UPSTREAM_KEY = "sk-audit-upstream-0123456789"
PHI_PROMPT = "Patient MRN: 4829301, DOB: 04/12/1961. Summarise the discharge note; reach me at jane.roe@example.com."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


def config(fake_url: str) -> dict[str, Any]:
    provider = {"type": "openai", "api_key": "${TEST_UPSTREAM_KEY}"}
    return {
        "server": {"breaker": {"enabled": False}},
        "providers": [
            {"name": "primary", "base_url": fake_url + "/v1", **provider},
            {"name": "backup", "base_url": fake_url + "/v1", **provider},
        ],
        "models": [
            {
                "name": "chat",
                "deployments": [
                    {"provider": "primary", "model": "gpt-4o-mini", "priority": 1},
                    {"provider": "backup", "model": "gpt-4o", "priority": 2},
                ],
            }
        ],
        "audit": {
            "classify": ["phi", "pii"],
            "seal_interval_seconds": 1,
            "teams": {"clinical": {"content": "full"}, "support": {"content": "redacted"}},
        },
    }


def records(database: str) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                rows = (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).mappings().all()
        finally:
            await db.close()
        return [{**orjson.loads(row["record"]), "_row": dict(row)} for row in rows]

    return asyncio.run(fetch())


def until(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.1)


def verify(workdir: Path, database: str) -> subprocess.CompletedProcess[str]:
    env = {"WARDGATE_DATABASE_URL": database, "WARDGATE_DATA_DIR": str(workdir / "data"), "PATH": ""}
    return subprocess.run(
        [sys.executable, "-m", "wardgate", "audit", "verify"], capture_output=True, text=True, env=env, timeout=60
    )


def test_each_request_and_admin_change_is_in_a_verifiable_trail(fake: FakeOpenAI, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    workdir = tmp_path / "gw"
    workdir.mkdir()
    env = {"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "WARDGATE_DATABASE_URL": database}
    gateway = GatewayProcess(workdir, config(fake.url), master_key=MASTER, env=env).start()
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}
        keys = {}
        for team in ("clinical", "support", "sales"):
            httpx2.post(gateway.url + "/admin/v1/teams", json={"name": team}, headers=admin, timeout=10)
            created = httpx2.post(gateway.url + "/admin/v1/keys", json={"team": team}, headers=admin, timeout=10)
            keys[team] = created.json()
        ask = [{"role": "user", "content": PHI_PROMPT}]
        clinical = openai.OpenAI(base_url=gateway.base_url, api_key=keys["clinical"]["key"], max_retries=0)
        whole = clinical.chat.completions.with_raw_response.create(
            model="chat", messages=ask, extra_headers={"user-agent": "audit-test/1.0"}
        )
        streamed = clinical.chat.completions.create(model="chat", messages=ask, stream=True)
        streamed_text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        support = openai.OpenAI(base_url=gateway.base_url, api_key=keys["support"]["key"], max_retries=0)
        support.chat.completions.create(model="chat", messages=ask)
        fake.script(Behavior(status=503, match_model="gpt-4o-mini", times=1))  # primary fails once: failover
        sales = openai.OpenAI(base_url=gateway.base_url, api_key=keys["sales"]["key"], max_retries=0)
        sales.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello"}])
        with pytest.raises(openai.NotFoundError):
            sales.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        until(lambda: len([r for r in records(database) if r["kind"] == "request"]) == 5, 15)
        found = records(database)
        metrics = httpx2.get(gateway.url + "/metrics", timeout=10).text
    finally:
        gateway.stop()

    written = [line for line in metrics.splitlines() if line.startswith("wardgate_write_behind_records_total")]
    assert 'wardgate_write_behind_records_total{outcome="shipped",pipeline="audit"} 5.0' in written, written
    assert 'wardgate_write_behind_records_total{outcome="refused",pipeline="audit"} 0.0' in written, written
    admin_records = [r for r in found if r["kind"] == "admin"]
    assert {(r["action"], r["object"]["kind"]) for r in admin_records} == {("create", "team"), ("create", "key")}
    assert all("key" not in (r["after"] or {}) and "key_hash" not in (r["after"] or {}) for r in admin_records)
    requests = [r for r in found if r["kind"] == "request"]
    first, stream, redacted, failover, missing = requests

    assert first["request_id"] == whole.headers["x-request-id"]
    assert first["principal"]["key_id"] == keys["clinical"]["id"] and first["principal"]["team_id"]
    assert first["client"] == {"address": "127.0.0.1", "user_agent": "audit-test/1.0"}
    assert (first["dialect"], first["endpoint"], first["model"], first["status"]) == (
        "openai",
        "chat.completions",
        "chat",
        200,
    )
    assert [a["deployment"] for a in first["attempts"]] == ["primary/gpt-4o-mini"]
    latency = first["latency_ms"]
    assert 0 < latency["before_upstream"] < latency["total"] and latency["upstream_total"] <= latency["total"]
    assert first["usage"]["input"] > 0 and first["usage"]["output"] > 0
    assert first["cost_usd"] == whole.headers["x-wardgate-cost"] and first["cost_known"] is True
    assert set(first["flags"]) == {"phi", "pii"} and first["_row"]["flags"] == "phi,pii"
    assert first["content"]["mode"] == "full"
    assert first["content"]["prompt"] == {"messages": ask}
    assert first["content"]["response"]["text"] == whole.parse().choices[0].message.content

    assert stream["stream"] is True and stream["content"]["response"]["text"] == streamed_text
    assert stream["usage"]["output"] > 0

    text = orjson.dumps(redacted["content"]).decode()
    assert redacted["content"]["mode"] == "redacted"
    assert "4829301" not in text and "jane.roe@example.com" not in text and "[REDACTED:" in text

    assert "content" not in failover  # team sales: content off (the default)
    assert [(a["deployment"], a["status"]) for a in failover["attempts"]] == [
        ("primary/gpt-4o-mini", 503),
        ("backup/gpt-4o", 200),
    ]
    assert failover["flags"] == []
    assert (missing["status"], missing["error"], missing["attempts"]) == (404, "model_not_found", [])

    result = verify(workdir, database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: the chain is intact" in result.stdout and "HMAC-verified" in result.stdout

    seq = first["_row"]["seq"]

    async def tamper() -> None:
        db = Database(database)
        try:
            async with db.engine.begin() as conn:
                edited = first["_row"]["record"].replace('"status":200', '"status":201')
                await conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(record=edited))
        finally:
            await db.close()

    asyncio.run(tamper())
    result = verify(workdir, database)
    assert result.returncode == 1
    assert f"seq {seq} ({first['id']}): edited" in result.stdout
