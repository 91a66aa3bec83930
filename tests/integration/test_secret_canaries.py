"""No secret leaves its vault: a canary provider key and a canary virtual key go through a real gateway that logs,
counts, traces, audits (content in full), forwards the trail to a file and a webhook, answers errors — including an
upstream error whose body echoes the provider key, and a near-miss of the virtual key — and exports the trail and
the spend ledger. Every sink is then searched for the full values and for every 8-character piece of them."""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess
from sqlalchemy import select, text

from wardgate.storage.database import Database
from wardgate.storage.schema import metadata
from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread
from wardgate.testing.fake_otlp import FakeOtlp

pytestmark = pytest.mark.integration
ALPHABET = string.ascii_letters + string.digits
PROVIDER_CANARY = "sk-" + "".join(secrets.choice(ALPHABET) for _ in range(40))
MASTER = "wg-canary-master-" + "".join(secrets.choice(ALPHABET) for _ in range(24))
ASK = [{"role": "user", "content": "Write a haiku about audit trails."}]


class Webhook(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/audit"


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=PROVIDER_CANARY)
    runner: FakeServerThread = fake.run_in_thread()
    try:
        yield fake
    finally:
        runner.close()


@pytest.fixture
def collector() -> Iterator[FakeOtlp]:
    otlp = FakeOtlp()
    runner = otlp.run_in_thread()
    try:
        yield otlp
    finally:
        runner.close()


def pieces(secret: str) -> set[str]:
    return {secret[i : i + 8] for i in range(len(secret) - 7)}


def leaks(sink: str, data: str, secret: str) -> list[str]:
    found = [piece for piece in pieces(secret) if piece in data]
    return [f"{sink}: {piece!r}" for piece in sorted(found)]


def dump_database(url: str) -> str:
    async def run() -> str:
        db = Database(url)
        try:
            out = []
            async with db.engine.connect() as conn:
                for table in metadata.sorted_tables:
                    out += [repr(tuple(row)) for row in await conn.execute(select(table))]
                out.append(str((await conn.execute(text("SELECT 1"))).scalar()))
            return "\n".join(out)
        finally:
            await db.close()

    return asyncio.run(run())


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wardgate", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def until(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.1)


def test_canary_keys_appear_in_no_sink(upstream: FakeOpenAI, collector: FakeOtlp, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    workdir = tmp_path / "gw"
    workdir.mkdir()
    webhook = Webhook()
    sink_file = tmp_path / "audit.jsonl"
    config = {
        "server": {"breaker": {"enabled": False}, "log_level": "debug"},
        "providers": [
            {"name": "main", "type": "openai", "base_url": upstream.url + "/v1", "api_key": "${CANARY_KEY}"},
        ],
        "models": [{"name": "chat", "deployments": [{"provider": "main", "model": "gpt-4o-mini"}]}],
        "audit": {
            "content": "full",
            "classify": ["phi", "pii"],
            "sinks": [
                {"name": "file", "type": "file", "path": str(sink_file), "start": "beginning"},
                {"name": "hook", "type": "webhook", "url": webhook.url, "start": "beginning"},
            ],
        },
        "observability": {
            "metrics": {"team_labels": True},
            "tracing": {
                "enabled": True,
                "endpoint": f"{collector.url}/v1/traces",
                "capture_content": True,
            },
        },
    }
    env = {"CANARY_KEY": PROVIDER_CANARY, "WARDGATE_DATABASE_URL": database}
    gateway = GatewayProcess(workdir, config, master_key=MASTER, env=env).start()
    bodies: list[str] = []
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}
        httpx2.post(gateway.url + "/admin/v1/teams", json={"name": "canaries"}, headers=admin, timeout=10)
        created = httpx2.post(gateway.url + "/admin/v1/keys", json={"team": "canaries"}, headers=admin, timeout=10)
        virtual = created.json()["key"]
        key_id = created.json()["id"]
        client = openai.OpenAI(base_url=gateway.base_url, api_key=virtual, max_retries=0)
        client.chat.completions.create(model="chat", messages=ASK)  # type: ignore[arg-type]
        list(client.chat.completions.create(model="chat", messages=ASK, stream=True))  # type: ignore[arg-type]
        for failure in (
            lambda: client.chat.completions.create(model="nope", messages=ASK),  # type: ignore[arg-type]
            lambda: openai.OpenAI(
                base_url=gateway.base_url, api_key=virtual[:-1] + "x", max_retries=0
            ).chat.completions.create(model="chat", messages=ASK),  # type: ignore[arg-type]
        ):
            with pytest.raises(openai.APIStatusError) as caught:
                failure()
            bodies.append(caught.value.response.text)
        echo = {"error": {"message": f"Incorrect API key provided: {PROVIDER_CANARY}", "type": "invalid_request_error"}}
        for status in (401, 500):
            upstream.script(Behavior(status=status, error_body=echo, times=10))  # more than the router retries
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model="chat", messages=ASK)  # type: ignore[arg-type]
            bodies.append(caught.value.response.text)
            upstream.reset()
        for path in ("/admin/v1/keys", f"/admin/v1/keys/{key_id}", "/admin/v1/audit", "/admin/v1/changes"):
            bodies.append(httpx2.get(gateway.url + path, headers=admin, timeout=10).text)
        metrics = httpx2.get(gateway.url + "/metrics", timeout=10).text
        until(lambda: len(webhook.bodies) > 0 and sink_file.exists() and sink_file.stat().st_size > 0, 20)
        collector.wait_for(lambda spans: len(spans) >= 5, within=20)
    finally:
        gateway.stop()
    cli_env = {"WARDGATE_DATABASE_URL": database, "WARDGATE_DATA_DIR": str(workdir / "data"), "PATH": ""}
    exports = {
        "audit export jsonl": cli("audit", "export", "--format", "jsonl", env=cli_env),
        "audit export csv": cli("audit", "export", "--format", "csv", env=cli_env),
        "audit verify": cli("audit", "verify", "--json", env=cli_env),
    }
    assert json.loads(exports["audit verify"])["ok"] is True
    sinks = {
        "gateway log": gateway.log(),
        "metrics": metrics,
        "traces": "\n".join(repr(request.body) for request in collector.requests)
        + "\n".join(repr(span) for span in collector.spans),
        "database (every table)": dump_database(database),
        "error and admin bodies": "\n".join(bodies),
        "file sink": sink_file.read_text(),
        "webhook sink": b"\n".join(webhook.bodies).decode(),
        **exports,
    }
    assert key_id in sinks["database (every table)"] and key_id in sinks["file sink"]  # the sinks are not empty
    found = [
        leak
        for name, data in sinks.items()
        for canary in (PROVIDER_CANARY, virtual)
        for leak in leaks(name, data, canary)
    ]
    assert not found, found
    webhook.shutdown()
