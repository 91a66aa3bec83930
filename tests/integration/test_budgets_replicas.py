"""A team budget of $1.00 under 100 concurrent requests spread over three gateway processes that share one Redis and
one PostgreSQL: the spend recorded in the ledger stays within the budget plus one request's worst case, the rest are
refused with 429 ``insufficient_quota`` naming the budget, and each alert threshold is sent exactly once (to a
generic JSON webhook and a Slack-format one) however many replicas saw it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import func, select

from db_backends import PG_HOST, _truncate
from wardgate.storage.database import Database
from wardgate.storage.schema import spend_ledger
from wardgate.testing import FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-budget-master-key"
UPSTREAM_KEY = "sk-budget-upstream-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"
BUDGET = Decimal("1.00")
# $1,000 / $2,000 per million tokens: ~10 prompt + ~20 output tokens ≈ $0.05 a request; at most 40 output tokens
PRICES = {"models": {"budget-gpt": {"provider": "openai", "input": 1000, "output": 2000}}}
MAX_TOKENS = 40


class Webhooks:
    """Two webhook receivers (JSON and Slack format) that record what they get."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                hooks.received.append((self.path, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


@pytest.fixture
def pg_url(pg_template: str) -> str:
    url = f"{PG_HOST}/{pg_template}"
    asyncio.run(_truncate(url))
    return url


def recorded(database: str) -> tuple[int, Decimal]:
    async def fetch() -> tuple[int, Decimal]:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                row = (await conn.execute(select(func.count(), func.sum(spend_ledger.c.cost_usd)))).one()
                return int(row[0]), Decimal(row[1] or 0)
        finally:
            await db.close()

    return asyncio.run(fetch())


def test_a_team_budget_holds_across_three_replicas_and_alerts_once(
    fake: FakeOpenAI, pg_url: str, tmp_path: Path
) -> None:
    hooks = Webhooks()
    prefix = f"wgbudget-{uuid.uuid4().hex[:8]}"
    provider = {"type": "openai", "base_url": fake.url + "/v1", "api_key": "${TEST_UPSTREAM_KEY}"}
    config = {
        "server": {
            "access_log": False,
            "breaker": {"enabled": False},
            "limits": {"redis_prefix": prefix},
            "budgets": {
                "notify": [{"url": hooks.url + "/json"}, {"url": hooks.url + "/slack", "format": "slack"}],
                "retries": 1,
            },
        },
        "providers": [{"name": "openai-main", **provider}],
        "models": [{"name": "chat", "deployments": [{"provider": "openai-main", "model": "budget-gpt"}]}],
        "budgets": [{"name": "research-monthly", "scope": "team", "amount_usd": float(BUDGET)}],
        "prices": PRICES,
    }
    env = {"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "WARDGATE_DATABASE_URL": pg_url, "WARDGATE_REDIS_URL": REDIS_URL}
    gateways = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        gateways.append(GatewayProcess(tmp_path / name, config, master_key=MASTER, env=env).start())
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}
        httpx2.post(gateways[0].url + "/admin/v1/teams", json={"name": "research"}, headers=admin, timeout=10)
        key = httpx2.post(
            gateways[0].url + "/admin/v1/keys", json={"team": "research"}, headers=admin, timeout=10
        ).json()["key"]
        time.sleep(1.5)  # every replica learns of the key (Redis notification, else a 1 s poll)

        def one(index: int) -> tuple[str, str]:
            client = openai.OpenAI(base_url=gateways[index % 3].base_url, api_key=key, max_retries=0, timeout=20)
            try:
                client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS
                )
            except openai.RateLimitError as exc:
                return "refused", exc.message
            return "ok", ""

        with ThreadPoolExecutor(25) as pool:
            results = list(pool.map(one, range(100)))
        refusals = [message for outcome, message in results if outcome == "refused"]
        assert refusals and all("team budget `research-monthly` ($1.00 per month)" in m for m in refusals)
        answered = sum(1 for outcome, _ in results if outcome == "ok")
        deadline = time.monotonic() + 15
        while recorded(pg_url)[0] < 100 and time.monotonic() < deadline:
            time.sleep(0.2)
        rows, total = recorded(pg_url)
        assert rows == 100, "every request, answered or refused, has its ledger row"
        worst = (Decimal(20) * 1000 + Decimal(MAX_TOKENS) * 2000) / 1_000_000  # a generous prompt + max output
        assert Decimal(0) < total <= BUDGET + worst, (total, answered)
        time.sleep(1.0)  # alerts are sent in the background
        for path in ("/json", "/slack"):
            got = [body for hook, body in hooks.received if hook == path]
            assert len(got) == 2, f"{path}: one alert per threshold, not one per replica: {got}"
        thresholds = sorted(body["threshold"] for hook, body in hooks.received if hook == "/json")
        assert thresholds == [0.8, 1.0]
        assert all("research-monthly" in body["text"] for hook, body in hooks.received if hook == "/slack")
    finally:
        for gateway in gateways:
            gateway.stop()
        hooks.close()
