"""The write-behind pipelines (spend ledger, audit trail) behind a real gateway process: every answered request has
its ledger row with the cost computed from the catalog (also for streams, whose usage the client never asked for),
the cost header on whole answers, and a SIGTERM under load loses neither a ledger row nor an audit record of a
request that got a response — what was not shipped before the exit is shipped by the next start — and neither does
a 30-second PostgreSQL outage (the audit chain still verifies afterwards)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import func, select
from tcp_proxy import ThreadedTcpProxy

from db_backends import PG_HOST, _truncate
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log, spend_ledger
from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-spend-master-key"
UPSTREAM_KEY = "sk-spend-upstream-0123456789"
HI = [{"role": "user", "content": "Tell me about ledgers."}]
# gpt-4o-mini list prices (USD per million tokens), as in src/wardgate/data/prices.yaml
INPUT, CACHED, OUTPUT = Decimal("0.15"), Decimal("0.075"), Decimal("0.60")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


def start(workdir: Path, fake_url: str, database: str) -> GatewayProcess:
    provider = {"type": "openai", "base_url": fake_url + "/v1", "api_key": "${TEST_UPSTREAM_KEY}"}
    config: dict[str, Any] = {
        "server": {"access_log": False, "breaker": {"enabled": False}},
        "providers": [{"name": "openai-main", **provider}],
        "models": [{"name": "chat", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]}],
    }
    env = {"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "WARDGATE_DATABASE_URL": database}
    workdir.mkdir(parents=True, exist_ok=True)
    return GatewayProcess(workdir, config, master_key=MASTER, env=env).start()


def rows(database: str) -> list[Any]:
    async def fetch() -> list[Any]:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                return list((await conn.execute(select(spend_ledger))).all())
        finally:
            await db.close()

    return asyncio.run(fetch())


def count(database: str, table: Any = spend_ledger) -> int:
    async def fetch() -> int:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
        finally:
            await db.close()

    return asyncio.run(fetch())


def request_ids(database: str, table: Any) -> set[str]:
    async def fetch() -> set[str]:
        db = Database(database)
        try:
            async with db.engine.connect() as conn:
                return set((await conn.execute(select(table.c.request_id))).scalars())
        finally:
            await db.close()

    return asyncio.run(fetch())


def audit_verifies(database: str) -> bool:
    from wardgate.audit.verify import verify

    async def run() -> bool:
        db = Database(database)
        try:
            report = await verify(db)
        finally:
            await db.close()
        assert report.ok, [p.line() for p in report.problems]
        return report.ok

    return asyncio.run(run())


def until(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.1)


def test_each_request_is_priced_from_the_catalog_streams_included(fake: FakeOpenAI, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    gateway = start(tmp_path / "gw", fake.url, database)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0)
        fake.script(
            Behavior(
                usage={
                    "prompt_tokens": 1000,
                    "completion_tokens": 200,
                    "total_tokens": 1200,
                    "prompt_tokens_details": {"cached_tokens": 400},
                },
                match_model="gpt-4o-mini",
            )
        )
        raw = client.chat.completions.with_raw_response.create(
            model="chat",
            messages=HI,
            extra_headers={"x-wardgate-tags": "checkout, exp-7"},  # type: ignore[arg-type]
        )
        whole = (600 * INPUT + 400 * CACHED + 200 * OUTPUT) / 1_000_000  # by hand: 0.00009 + 0.00003 + 0.00012
        assert Decimal(raw.headers["x-wardgate-cost"]) == whole == Decimal("0.00024")
        stream = client.chat.completions.create(model="chat", messages=HI, stream=True)  # type: ignore[arg-type]
        chunks = list(stream)
        assert all(chunk.usage is None for chunk in chunks)
        until(lambda: count(database) == 2, 10)
        found = sorted(rows(database), key=lambda row: row.stream)
        first, streamed = found
        assert first.cost_usd == whole and first.tags in (["checkout", "exp-7"], '["checkout","exp-7"]')
        assert first.input_tokens == 1000 and first.cached_input_tokens == 400 and first.output_tokens == 200
        expected = (streamed.input_tokens * INPUT + streamed.output_tokens * OUTPUT) / 1_000_000
        assert streamed.output_tokens > 0 and streamed.cost_usd == expected
        assert first.key_id == "master" and first.deployment == "openai-main/gpt-4o-mini"
        report = httpx2.get(
            gateway.url + "/admin/v1/spend?since=1h&group_by=model",
            headers={"Authorization": f"Bearer {MASTER}"},
            timeout=10,
        ).json()
        assert Decimal(report["totals"]["cost_usd"]) == whole + expected
    finally:
        gateway.stop()


def test_sigterm_under_load_loses_no_ledger_row_or_audit_record(fake: FakeOpenAI, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    gateway = start(tmp_path / "gw", fake.url, database)
    answered = 0
    ids: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10)
        while not stop.is_set():
            try:
                raw = client.chat.completions.with_raw_response.create(model="chat", messages=HI)  # type: ignore[arg-type]
            except (openai.APIConnectionError, openai.APIStatusError):
                return
            with lock:
                answered += 1
                ids.add(raw.headers["x-request-id"])

    with ThreadPoolExecutor(16) as pool:
        for _ in range(16):
            pool.submit(load)
        until(lambda: answered >= 200, 30)
        gateway.stop()  # SIGTERM with requests in flight
        stop.set()
    assert answered >= 200
    survivors = count(database)
    restarted = start(tmp_path / "gw", fake.url, database)  # the next start ships what the spool kept
    try:
        until(lambda: count(database) >= answered, 15)
        until(lambda: ids <= request_ids(database, audit_log), 15)
    finally:
        restarted.stop()
    assert count(database) >= answered, (survivors, answered)
    assert ids <= request_ids(database, spend_ledger)
    assert len(ids) == answered and ids <= request_ids(database, audit_log)
    assert audit_verifies(database)


def test_a_30_second_postgresql_outage_loses_no_ledger_row_nor_audit_record(
    fake: FakeOpenAI, pg_template: str, tmp_path: Path
) -> None:
    direct = f"{PG_HOST}/{pg_template}"
    asyncio.run(_truncate(direct))
    proxy = ThreadedTcpProxy(5432)
    proxy.start()
    gateway = start(tmp_path / "gw", fake.url, f"postgresql://postgres@127.0.0.1:{proxy.port}/{pg_template}")
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10)
        for _ in range(20):
            client.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        until(lambda: count(direct) == 20 and count(direct, audit_log) == 20, 10)
        proxy.stop()  # the outage: every connection cut, new ones refused
        outage = time.monotonic()
        answered = 20
        while time.monotonic() - outage < 30:
            client.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
            answered += 1
            time.sleep(0.2)
        assert count(direct) == 20, "nothing can have reached the database during the outage"
        assert count(direct, audit_log) == 20
        proxy.start()
        until(lambda: count(direct) == answered, 45)  # the shipper's backoff is at most 30 s
        until(lambda: count(direct, audit_log) == answered, 15)
    finally:
        gateway.stop()
        proxy.close()
    assert count(direct) == answered and count(direct, audit_log) == answered
    assert audit_verifies(direct)
