"""``wardgate report soc2`` and ``wardgate report hipaa-access`` on what a real gateway process wrote: keys made,
rotated and revoked through the admin API, requests sent with the OpenAI SDK (one prompt with PHI, one without, one
refused by a rate limit) against the fake OpenAI server, classified on the request path; the reports, run as the
``wardgate`` command, name the people, keys and models, count the requests, and find the chain intact."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import func, select

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log, spend_ledger
from wardgate.testing import FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-report-master-key"
UPSTREAM_KEY = "sk-report-upstream-0123456789"
PHI_PROMPT = "Patient MRN: 4829301, DOB: 04/12/1961. Summarise the discharge note."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


def config(fake_url: str) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "openai", "type": "openai", "base_url": fake_url + "/v1", "api_key": "${TEST_UPSTREAM_KEY}"}
        ],
        "models": [{"name": "chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]}],
        "audit": {"classify": ["phi", "pii"], "seal_interval_seconds": 1, "teams": {"clinical": {"content": "full"}}},
    }


def count(database: str, table: Any, *where: Any) -> int:
    async def fetch() -> int:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())
        finally:
            await db.close()

    return asyncio.run(fetch())


def until(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.1)


def report(workdir: Path, database: str, *args: str) -> list[Path]:
    env = {"WARDGATE_DATABASE_URL": database, "WARDGATE_DATA_DIR": str(workdir / "data"), "PATH": ""}
    today = datetime.now(UTC)
    since = (today - timedelta(days=1)).strftime("%Y-%m-%d")  # a run across midnight stays in the period
    command = [sys.executable, "-m", "wardgate", "report", *args, "--from", since, "--to", today.strftime("%Y-%m-%d")]
    result = subprocess.run(
        [*command, "--output", str(workdir / "reports")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [Path(line) for line in result.stdout.split()]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_reports_on_what_a_gateway_wrote(fake: FakeOpenAI, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    workdir = tmp_path / "gw"
    workdir.mkdir()
    env = {"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "WARDGATE_DATABASE_URL": database}
    gateway = GatewayProcess(workdir, config(fake.url), master_key=MASTER, env=env).start()
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            answer = httpx2.request(method, gateway.url + "/admin/v1" + path, json=body, headers=admin, timeout=10)
            assert answer.status_code < 300, answer.text
            result: dict[str, Any] = answer.json()
            return result

        call("POST", "/teams", {"name": "clinical"})
        call("POST", "/teams", {"name": "support"})
        first = call("POST", "/keys", {"team": "clinical", "name": "ward-app"})
        rotated = call("POST", f"/keys/{first['id']}/rotate", {"grace_seconds": 0})
        limited = call("POST", "/keys", {"team": "support", "name": "helpdesk", "limits": {"requests_per_minute": 1}})
        clinical = openai.OpenAI(base_url=gateway.base_url, api_key=rotated["key"], max_retries=0)
        clinical.chat.completions.create(model="chat", messages=[{"role": "user", "content": PHI_PROMPT}])
        clinical.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Say hello."}])
        support = openai.OpenAI(base_url=gateway.base_url, api_key=limited["key"], max_retries=0)
        support.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi."}])
        with pytest.raises(openai.RateLimitError):
            support.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Again."}])
        call("POST", f"/keys/{limited['id']}/revoke")
        until(lambda: count(database, audit_log, audit_log.c.kind == "request") == 4, 15)
        until(lambda: count(database, spend_ledger) >= 3, 15)
    finally:
        gateway.stop()

    hipaa = report(workdir, database, "hipaa-access")
    assert hipaa[0].suffix == ".md" and all(p.is_file() for p in hipaa)
    (phi,) = rows(next(p for p in hipaa if p.name.endswith("-requests.csv")))
    assert phi["key"] == f"ward-app ({rotated['id']})" and phi["team"].startswith("clinical (")
    assert (phi["model"], phi["deployment"], phi["provider"]) == ("chat", "openai/gpt-4o-mini", "openai")
    assert phi["status"] == "200"
    assert phi["flags"] == "phi" and phi["content_kept"] == "full"
    assert "| Requests flagged PHI | 1 |" in hipaa[0].read_text()

    soc2 = report(workdir, database, "soc2")
    document = soc2[0].read_text()
    for text in (rotated["key"], limited["key"], first["prefix"], MASTER):
        assert all(text not in p.read_text() for p in soc2)
    assert "> Audit trail integrity: the hash chain is intact (" in document
    assert "| Requests (audit trail) | 4 |" in document
    assert "| Requests refused by a policy or with 401/403/429 | 1 |" in document
    inventory = {r["key_id"]: r for r in rows(next(p for p in soc2 if p.name.endswith("-key-inventory.csv")))}
    assert {k: r["state"] for k, r in inventory.items()} == {
        first["id"]: "rotated",
        rotated["id"]: "active",
        limited["id"]: "revoked",
    }
    assert inventory[rotated["id"]]["rotated_from"] == first["id"]
    (rotation,) = rows(next(p for p in soc2 if p.name.endswith("-key-rotations.csv")))
    assert (rotation["object_id"], rotation["replaced_by"]) == (first["id"], rotated["id"])
    assert rotation["actor"] == "master key"
    admin_changes = rows(next(p for p in soc2 if p.name.endswith("-admin-changes.csv")))
    changes = [(c["action"], c["object_kind"]) for c in admin_changes]
    assert changes == [
        ("create", "team"),
        ("create", "team"),
        ("create", "key"),
        ("rotate", "key"),
        ("create", "key"),
        ("create", "key"),
        ("revoke", "key"),
    ]
    access = {r["key"]: r for r in rows(next(p for p in soc2 if p.name.endswith("-access-by-principal.csv")))}
    assert access[f"ward-app ({rotated['id']})"]["requests"] == "2"
    helpdesk = access[f"helpdesk ({limited['id']})"]
    assert (helpdesk["requests"], helpdesk["errors"]) == ("2", "1")
    (violation,) = rows(next(p for p in soc2 if p.name.endswith("-policy-violations.csv")))
    assert (violation["status"], violation["policy"], violation["outcome"]) == ("429", "rate_limit", "refused")
    (usage,) = rows(next(p for p in soc2 if p.name.endswith("-provider-usage.csv")))[:1]
    assert (usage["provider"], usage["model"], usage["requests"]) == ("openai", "chat", "3")
