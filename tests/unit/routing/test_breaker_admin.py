"""The routing admin routes in the real app (its own startup on SQLite, called through ASGI): every deployment of
the active config with its breaker and health; org admins and auditors read, only org admins reset; a reset closes
the breaker and is recorded; with breakers off the board lets everything through and a reset is refused."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from wardgate.app import Gateway, create_app
from wardgate.core.types import Principal, Role
from wardgate.routing.breaker import CircuitBreakerBoard, OpenBoard
from wardgate.runtime import AppState
from wardgate.settings import Settings

MASTER = "wg-breaker-admin-master"
CALLERS: Mapping[str, Principal] = {
    "auditor": Principal(key_id="user:aud", kind="session", org_role=Role.AUDITOR, user_id="aud"),
    "team-admin": Principal(key_id="key_ta", kind="key", teams={"team_x": Role.TEAM_ADMIN}),
    "member": Principal(key_id="user:mem", kind="session", user_id="mem", teams={"team_x": Role.MEMBER}),
}
A, B = "sim/a-model", "backup"
Call = Callable[..., Awaitable[tuple[int, Any]]]


def config(**breaker: Any) -> str:
    sim = {"type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}
    backup = {"provider": "sim2", "model": "b", "id": B}
    data = {
        "server": {"access_log": False, "breaker": breaker},
        "providers": [{"name": "sim", **sim}, {"name": "sim2", **sim}],
        "models": [
            {"name": "chat", "deployments": [{"provider": "sim", "model": "a-model"}, backup]},
            {"name": "other", "deployments": [backup]},
        ],
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def callers(monkeypatch: pytest.MonkeyPatch) -> None:
    real = AppState.authenticate

    async def authenticate(self: AppState, headers: Mapping[str, str]) -> Principal:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        return CALLERS[token[3:]] if token.startswith("as:") else await real(self, headers)

    monkeypatch.setattr(AppState, "authenticate", authenticate)


@pytest.fixture
async def start(tmp_path: Path, callers: None) -> AsyncIterator[Callable[[str], Awaitable[Gateway]]]:
    started: list[Gateway] = []
    threshold = gc.get_threshold()

    async def run(text: str) -> Gateway:
        path = tmp_path / "wardgate.yaml"
        path.write_text(text)
        settings = Settings(
            config_path=path,
            data_dir=tmp_path / "data",
            master_key=MASTER,
            database_url=f"sqlite:///{tmp_path / 'wardgate.db'}",
        )
        gateway = create_app(settings)
        await gateway.startup()
        started.append(gateway)
        return gateway

    try:
        yield run
    finally:
        for gateway in started:
            await gateway.shutdown()
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def call(gateway: Gateway, method: str, path: str, *, who: str = MASTER) -> tuple[int, Any]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {who}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not sent:
            return {"type": "http.request", "body": b""}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await gateway(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body else None


def board_of(gateway: Gateway) -> CircuitBreakerBoard:
    assert gateway.state is not None
    board = gateway.state.routing.breakers
    assert isinstance(board, CircuitBreakerBoard)
    return board


async def test_lists_every_deployment_with_its_breaker_and_health(start: Callable[[str], Awaitable[Gateway]]) -> None:
    gateway = await start(config())
    board = board_of(gateway)
    for _ in range(5):
        board.record(A, False, time.time())
    status, body = await call(gateway, "GET", "/admin/v1/routing/deployments")
    assert status == 200, body
    assert body["breakers"] is True
    rows = {row["id"]: row for row in body["data"]}
    assert list(rows) == [A, B]
    assert rows[A]["provider"] == "sim" and rows[A]["model"] == "a-model" and rows[A]["served_models"] == ["chat"]
    assert rows[B]["served_models"] == ["chat", "other"]
    assert rows[A]["breaker"]["state"] == "open" and rows[A]["breaker"]["trips"] == 1
    assert rows[B]["breaker"]["state"] == "closed" and rows[B]["breaker"]["consecutive_failures"] == 0
    assert "health" in rows[A]
    status, body = await call(gateway, "GET", "/admin/v1/routing/deployments", who="as:auditor")
    assert status == 200 and len(body["data"]) == 2
    for who in ("as:team-admin", "as:member"):
        status, body = await call(gateway, "GET", "/admin/v1/routing/deployments", who=who)
        assert status == 403 and body["error"]["code"] == "permission_denied"


async def test_reset_closes_the_breaker_and_is_recorded(start: Callable[[str], Awaitable[Gateway]]) -> None:
    gateway = await start(config())
    board = board_of(gateway)
    for _ in range(5):
        board.record(A, False, time.time())
    board.cool_down(A, time.time() + 60)
    for who in ("as:auditor", "as:team-admin"):
        status, body = await call(gateway, "POST", f"/admin/v1/routing/deployments/{A}/reset", who=who)
        assert status == 403, body
    assert board.state(A)["state"] == "open"
    status, body = await call(gateway, "POST", f"/admin/v1/routing/deployments/{A}/reset")
    assert status == 200, body
    assert body["id"] == A and body["breaker"]["state"] == "closed" and body["breaker"]["cooldown_until"] is None
    assert body["breaker"]["last_change"] == "admin"
    assert board.select([A, B], time.time()) == [A, B]
    status, changes = await call(gateway, "GET", "/admin/v1/changes?object_kind=deployment")
    assert status == 200 and len(changes["data"]) == 1
    record = changes["data"][0]
    assert (record["action"], record["object_id"], record["actor_kind"]) == ("reset", A, "master")
    assert record["before"]["state"] == "open" and record["after"]["state"] == "closed"
    status, body = await call(gateway, "POST", "/admin/v1/routing/deployments/nope/gone/reset")
    assert status == 404, body


async def test_with_breakers_off_nothing_is_ejected_and_reset_is_refused(
    start: Callable[[str], Awaitable[Gateway]],
) -> None:
    gateway = await start(config(enabled=False))
    assert gateway.state is not None and isinstance(gateway.state.routing.breakers, OpenBoard)
    status, body = await call(gateway, "GET", "/admin/v1/routing/deployments")
    assert status == 200 and body["breakers"] is False
    assert {row["breaker"]["state"] for row in body["data"]} == {"closed"}
    status, body = await call(gateway, "POST", f"/admin/v1/routing/deployments/{B}/reset")
    assert status == 409 and body["error"]["code"] == "breakers_disabled"
