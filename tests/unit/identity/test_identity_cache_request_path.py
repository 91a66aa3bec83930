"""No SQL on the proxy request path: the real ``Gateway`` ASGI app (started as a server would, on SQLite and on
PostgreSQL) serves many requests with a virtual key — chat, streaming, embeddings, Anthropic messages, token
counts, the model list, refusals — and the database's statement counter does not move. The poller is stopped for
the measurement (it is the only thing that queries in steady state); a refresh afterwards proves the counter works.
Also: model restrictions end to end (403 through an alias, the filtered model list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from test_identity_cache import add_key, add_team, change_key, now

from wardgate.app import Gateway
from wardgate.settings import Settings
from wardgate.storage.database import Database

MASTER_KEY = "wg-request-path-master-key"
CONFIG = {
    "server": {"access_log": False},
    "providers": [{"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}],
    "models": [
        {"name": "chat-a", "aliases": ["team-default"], "deployments": [{"provider": "sim", "model": "chat-a"}]},
        {"name": "chat-b", "aliases": ["b-alias"], "deployments": [{"provider": "sim", "model": "chat-b"}]},
        {"name": "embed-a", "deployments": [{"provider": "sim", "model": "embed-a"}]},
    ],
}
CHAT = {"model": "chat-a", "messages": [{"role": "user", "content": "hi"}]}


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(app: Gateway, method: str, path: str, key: str, body: Any = None) -> Answer:
    raw = b"" if body is None else orjson.dumps(body)
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(raw)).encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    scope["client"] = ("127.0.0.1", 50000)
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await done.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    answer = Answer()
    try:
        await app(scope, receive, answer)
    finally:
        done.set()
    return answer


@pytest.fixture
async def gateway(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    config_path = tmp_path / "wardgate.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    settings = Settings(config_path=config_path, data_dir=tmp_path, master_key=MASTER_KEY, database_url=database_url)
    app = Gateway(settings)
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


def db_of(app: Gateway) -> Database:
    assert app.state is not None and app.state.db is not None
    return app.state.db


async def requests_with(app: Gateway, key: str) -> list[int]:
    statuses = []
    for _ in range(10):
        statuses.append((await call(app, "POST", "/v1/chat/completions", key, CHAT)).status)
    stream = await call(app, "POST", "/v1/chat/completions", key, {**CHAT, "stream": True})
    assert b"[DONE]" in stream.body
    statuses.append(stream.status)
    statuses.append((await call(app, "POST", "/v1/chat/completions", key, {**CHAT, "model": "team-default"})).status)
    statuses.append((await call(app, "POST", "/v1/embeddings", key, {"model": "embed-a", "input": "x"})).status)
    anthropic = {"model": "chat-a", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    statuses.append((await call(app, "POST", "/v1/messages", key, anthropic)).status)
    statuses.append((await call(app, "POST", "/v1/messages/count_tokens", key, anthropic)).status)
    statuses.append((await call(app, "GET", "/v1/models", key)).status)
    statuses.append((await call(app, "POST", "/v1/chat/completions", key, {**CHAT, "model": "chat-b"})).status)
    statuses.append((await call(app, "POST", "/v1/chat/completions", "wg-" + "9" * 40, CHAT)).status)
    return statuses


async def test_no_sql_statement_on_the_request_path(gateway: Gateway) -> None:
    db = db_of(gateway)
    team = await add_team(db)
    secret, _ = await add_key(db, team, allowed_models=["chat-a", "embed-a"])
    assert gateway.state is not None and gateway.state.identity is not None
    identity = gateway.state.identity
    await identity.refresh()
    await identity.close()  # the poller: the one thing that queries in steady state
    await requests_with(gateway, secret)  # warm-up (first use of each route)
    for shipper in (gateway._spend, gateway._audit):  # write-behind: off the request path, but on this database
        assert shipper is not None
        await shipper.close()

    before = db.statements
    statuses = await requests_with(gateway, secret)
    assert db.statements == before, f"{db.statements - before} SQL statements on the request path"
    assert statuses == [200] * 16 + [403, 401]
    for _ in range(3):
        assert (await call(gateway, "POST", "/v1/chat/completions", MASTER_KEY, CHAT)).status == 200
    assert db.statements == before

    assert await identity.refresh()
    assert db.statements > before  # the counter does count: a refresh runs its queries


async def test_model_restrictions_end_to_end(gateway: Gateway) -> None:
    db = db_of(gateway)
    secret, key_id = await add_key(db, await add_team(db), allowed_models=["team-default"])
    assert gateway.state is not None and gateway.state.identity is not None
    await gateway.state.identity.refresh()

    assert (await call(gateway, "POST", "/v1/chat/completions", secret, CHAT)).status == 200
    denied = await call(gateway, "POST", "/v1/chat/completions", secret, {**CHAT, "model": "b-alias"})
    assert denied.status == 403
    error = denied.json()["error"]
    assert error["code"] == "model_not_allowed" and "b-alias" in error["message"]
    assert "chat-a" not in error["message"] and "team-default" not in error["message"]
    unknown = await call(gateway, "POST", "/v1/chat/completions", secret, {**CHAT, "model": "nope"})
    assert unknown.status == 404

    listed = await call(gateway, "GET", "/v1/models", secret)
    assert [model["id"] for model in listed.json()["data"]] == ["chat-a"]
    assert (await call(gateway, "GET", "/v1/models/chat-b", secret)).status == 404
    assert (await call(gateway, "GET", "/v1/models/team-default", secret)).json()["id"] == "chat-a"
    counted = await call(gateway, "POST", "/v1/messages/count_tokens", secret, {"model": "chat-b", "messages": []})
    assert counted.status == 403
    everything = await call(gateway, "GET", "/v1/models", MASTER_KEY)
    assert [model["id"] for model in everything.json()["data"]] == ["chat-a", "chat-b", "embed-a"]

    await change_key(db, key_id, revoked_at=now(), enabled=False)
    await gateway.state.identity_changed()  # what every admin write calls after its commit
    assert (await call(gateway, "POST", "/v1/chat/completions", secret, CHAT)).status == 401
