"""An in-process gateway for the organisation admin API tests: the real app (``create_app`` and its own startup:
migrations, master key, ``AppState``) over the real database of the ``database_url`` fixture (SQLite and
PostgreSQL), called through ASGI without a socket.

Callers other than the master key: virtual keys, JWTs and sessions are built by other parts of the gateway, so
these tests make their ``Principal``s directly. After startup the app's ``AppState`` is swapped for
``ActingState``, a subclass whose ``authenticate`` returns the principal named by the ``x-test-act-as`` header and
otherwise runs the real authentication (the master key). Nothing else is replaced: the routes, RBAC, repositories
and change records under test are the real ones. A test module imports the fixture (named ``admin_api``) with
``from admin_org_harness import admin_api_fixture  # noqa: F401``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wardgate.app import Gateway, create_app
from wardgate.core.types import Principal, Role
from wardgate.runtime import AppState
from wardgate.settings import Settings

MASTER = "wg-test-master-key"
ACT_AS = "x-test-act-as"


@dataclass
class ActingState(AppState):
    actors: dict[str, Principal] = field(default_factory=dict)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        name = headers.get(ACT_AS)
        if name is not None:
            return self.actors[name]
        return await AppState.authenticate(self, headers)


def acting(state: AppState) -> ActingState:
    fields = dataclasses.fields(state)
    made = ActingState(**{f.name: getattr(state, f.name) for f in fields if f.init})
    for f in fields:
        if not f.init:
            setattr(made, f.name, getattr(state, f.name))
    return made


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.body["error"]
        return error


class AdminApi:
    def __init__(self, gateway: Gateway, state: ActingState) -> None:
        self.gateway = gateway
        self.state = state

    def act_as(
        self,
        name: str,
        *,
        teams: Mapping[str, Role] | None = None,
        org_role: Role | None = None,
        kind: str = "session",
        user_id: str | None = None,
    ) -> str:
        """Register a caller (a person unless ``kind`` is "key") and return the name to pass as ``as_``."""
        person = kind != "key"
        self.state.actors[name] = Principal(
            key_id=f"user:{user_id or name}" if person else f"key_{name}",
            kind=kind,
            org_role=org_role,
            teams=dict(teams or {}),
            user_id=(user_id or name) if person else user_id,
        )
        return name

    async def call(
        self, method: str, path: str, body: Any = None, *, as_: str | None = None, key: str = MASTER
    ) -> Reply:
        """One request: as the principal registered under ``as_``, else with the bearer ``key`` (really checked)."""
        headers = [(b"content-type", b"application/json")]
        if as_ is not None:
            headers.append((ACT_AS.encode(), as_.encode()))
        else:
            headers.append((b"authorization", f"Bearer {key}".encode()))
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
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        incoming = [{"type": "http.request", "body": json.dumps(body).encode() if body is not None else b""}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.gateway(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(status, json.loads(raw) if raw else None)

    async def ok(self, method: str, path: str, body: Any = None, *, as_: str | None = None) -> Any:
        """The body of a call that must succeed (2xx)."""
        reply = await self.call(method, path, body, as_=as_)
        assert 200 <= reply.status < 300, (reply.status, reply.body)
        return reply.body

    async def changes(self, object_id: str) -> list[dict[str, Any]]:
        """The change records of one object, oldest first (read through the admin API as the master key)."""
        body = await self.ok("GET", f"/admin/v1/changes?object_id={object_id}")
        return list(reversed(body["data"]))


@pytest.fixture(name="admin_api")
async def admin_api_fixture(database_url: str, tmp_path: Path) -> AsyncIterator[AdminApi]:
    gateway = create_app(Settings(data_dir=tmp_path, master_key=MASTER, database_url=database_url))
    threshold = gc.get_threshold()
    await gateway.startup()
    assert gateway.state is not None
    state = acting(gateway.state)
    gateway.state = state
    try:
        yield AdminApi(gateway, state)
    finally:
        await gateway.shutdown()
        gc.unfreeze()  # startup tunes the collector for a serving process; give the test process its own back
        gc.set_threshold(*threshold)
