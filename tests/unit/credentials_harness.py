"""An in-process gateway for the credential tests: the real app (``create_app`` and its own startup: migrations,
vault keyring, credential store, config watcher) on the ``database_url`` fixture's database (SQLite and PostgreSQL),
called through ASGI without a socket, in front of a ``FakeOpenAI`` that checks the provider key.

Callers other than the master key are made directly as ``Principal``s (virtual keys, JWTs and sessions belong to
other parts of the gateway): ``AppState.authenticate`` is patched so that ``Bearer as:<name>`` is the principal
``CALLERS[name]``; any other header runs the real authentication. Every answer is kept (``Gate.answers``) so a test
can check that no secret ever left the vault.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from wardgate.app import Gateway, create_app
from wardgate.core.types import Principal, Role
from wardgate.runtime import AppState
from wardgate.settings import Settings
from wardgate.storage.credentials import create_credential
from wardgate.storage.database import Database
from wardgate.testing import FakeOpenAI, FakeServerThread
from wardgate.vault import Keyring, generate_key, parse_key

MASTER = "wg-test-master-key"
VAULT_KEY = generate_key()
KEY_ONE = "sk-live-Fq3Nw8Zt1Ry6Ub9Xe4Hc7Jm2"
KEY_TWO = "sk-live-Pv5Ld0Gk7Ws2Ma8Tn3Qy6Bo1"
CALLERS: Mapping[str, Principal] = {
    "auditor": Principal(key_id="user:aud", kind="session", org_role=Role.AUDITOR, user_id="aud"),
    "team-admin": Principal(key_id="key_ta", kind="key", teams={"team_x": Role.TEAM_ADMIN}),
    "member": Principal(key_id="user:mem", kind="session", user_id="mem", teams={"team_x": Role.MEMBER}),
    "viewer": Principal(key_id="user:vw", kind="jwt", user_id="vw", teams={"team_x": Role.VIEWER}),
}
HI = [{"role": "user", "content": "hi"}]


def pieces(secret: str) -> set[str]:
    """Every 8-character piece of ``secret``: none may appear anywhere a secret must not be."""
    return {secret[i : i + 8] for i in range(len(secret) - 7)}


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        leaked = sorted(piece for piece in pieces(secret) if piece in text)
        assert not leaked, f"pieces of a secret leaked: {leaked}"


def keyring(*values: str) -> Keyring:
    keys = [parse_key(value, source="test") for value in values]
    return Keyring(keys[0], keys[1:])


def config(fake_url: str, *, api_key: str | None = "${credential:openai}") -> str:
    """Simulated provider always; an ``openai`` provider (model ``gpt``) on the fake when ``api_key`` is given."""
    providers: list[dict[str, Any]] = [{"name": "sim", "type": "simulated", "first_token_ms": 0}]
    models: list[dict[str, Any]] = [{"name": "sim-chat", "deployments": [{"provider": "sim", "model": "x"}]}]
    if api_key is not None:
        timeouts = {"connect": 2, "first_byte": 5, "idle": 5}
        providers.append(
            {"name": "openai", "type": "openai", "base_url": fake_url + "/v1", "api_key": api_key, "timeouts": timeouts}
        )
        models.append({"name": "gpt", "deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]})
    data = {"server": {"reload_interval": 0.1}, "providers": providers, "models": models}
    return yaml.safe_dump(data, sort_keys=False)


async def seed(database_url: str, name: str, secret: str, vault_key: str = VAULT_KEY) -> None:
    """Store a credential directly (what an earlier admin call would have done)."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await create_credential(
                conn, keyring(vault_key), name=name, secret=secret, description=None, created_by="seed"
            )
    finally:
        await db.close()


@dataclass
class Reply:
    status: int
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Gate:
    gateway: Gateway
    config_path: Path
    fake: FakeOpenAI
    answers: list[str] = field(default_factory=list)

    @property
    def state(self) -> AppState:
        assert self.gateway.state is not None
        return self.gateway.state

    async def call(self, method: str, path: str, body: Any = None, *, who: str = MASTER) -> Reply:
        headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {who}".encode())]
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
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop(0)
            await finished.wait()  # the client stays connected until the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished.set()

        await self.gateway(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
        self.answers.append(text)
        return Reply(status, text)

    async def admin(self, method: str, path: str, body: Any = None, *, who: str = MASTER) -> Reply:
        return await self.call(method, "/admin/v1" + path, body, who=who)

    async def chat(self, model: str = "gpt") -> Reply:
        return await self.call("POST", "/v1/chat/completions", {"model": model, "messages": HI})


@pytest.fixture(name="fake", scope="module")
def fake_fixture() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=KEY_ONE)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


@pytest.fixture(name="vault_env")
def vault_env_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vault key in the environment, and ``Bearer as:<name>`` callers."""
    for name in ("WARDGATE_SECRET_KEY_FILE", "WARDGATE_SECRET_KEY_PREVIOUS", "WARDGATE_SECRET_KEY_PREVIOUS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDGATE_SECRET_KEY", VAULT_KEY)
    real = AppState.authenticate

    async def authenticate(self: AppState, headers: Mapping[str, str]) -> Principal:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token.startswith("as:"):
            return CALLERS[token[3:]]
        return await real(self, headers)

    monkeypatch.setattr(AppState, "authenticate", authenticate)


@pytest.fixture(name="start")
async def start_fixture(database_url: str, tmp_path: Path, fake: FakeOpenAI, vault_env: None) -> AsyncIterator[Any]:
    """``await start(config_text)`` → a started :class:`Gate` (replicas: call it again); all shut down after."""
    fake.reset()
    fake.api_key = KEY_ONE
    started: list[Gateway] = []
    threshold = gc.get_threshold()

    async def run(text: str) -> Gate:
        workdir = tmp_path / f"replica-{len(list(tmp_path.glob('replica-*')))}"
        workdir.mkdir()
        path = workdir / "wardgate.yaml"
        path.write_text(text)
        gateway = create_app(
            Settings(config_path=path, data_dir=workdir / "data", master_key=MASTER, database_url=database_url)
        )
        await gateway.startup()
        started.append(gateway)
        return Gate(gateway, path, fake)

    try:
        yield run
    finally:
        for gateway in started:
            await gateway.shutdown()
        gc.unfreeze()  # startup tunes the collector for a serving process; give the test process its own back
        gc.set_threshold(*threshold)
