"""Provider credentials end to end on SQLite and PostgreSQL, with real gateway processes in front of a FakeOpenAI
that checks the provider key: stored with ``wardgate secrets set`` (the secret on stdin), referenced from the config
as ``${credential:openai}``, rotated without a restart (the replica that took the write at once, a second replica on
the same database within 2 s), and the master key rotated with ``wardgate secrets rotate-master-key`` (the gateway
then starts with the new key alone). No answer, CLI output or gateway log holds any 8-character piece of a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess

from wardgate.testing import FakeOpenAI, FakeServerThread
from wardgate.vault import generate_key, parse_key

MASTER = "wg-credentials-master-key"
KEY_ONE = "sk-proj-Hd4Kx9Wq2Lz7Vb1Nc6Tr3Ym8"
KEY_TWO = "sk-proj-Ue5Gs0Ja8Pf3Xo6Ri1Qk4Wn9"
HI = [{"role": "user", "content": "hi"}]
PROPAGATION = 2.0

pytestmark = pytest.mark.integration


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=KEY_ONE)
    runner: FakeServerThread = fake.run_in_thread()
    try:
        yield fake
    finally:
        runner.close()


def gateway_config(fake_url: str, *, reference: bool) -> dict[str, Any]:
    providers: list[dict[str, Any]] = [{"name": "sim", "type": "simulated", "first_token_ms": 0}]
    models: list[dict[str, Any]] = [{"name": "sim-chat", "deployments": [{"provider": "sim", "model": "x"}]}]
    if reference:
        timeouts = {"connect": 2, "first_byte": 5, "idle": 5}
        openai_provider = {"name": "openai", "type": "openai", "base_url": fake_url + "/v1", "timeouts": timeouts}
        providers.append({**openai_provider, "api_key": "${credential:openai}"})
        models.append({"name": "gpt", "deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]})
    return {"server": {"reload_interval": 0.2}, "providers": providers, "models": models}


class Record:
    """Everything that left the gateways or the CLI, for the leak check."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def wardgate(self, *args: str, env: dict[str, str], secret: str | None = None) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WARDGATE_", "OPENAI_"))}
        result = subprocess.run(
            [sys.executable, "-m", "wardgate", *args],
            input=(secret + "\n") if secret is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
            env={**base, **env},
        )
        self.texts += [" ".join(args), result.stdout, result.stderr]
        return result

    def chat(self, gateway: GatewayProcess, model: str = "gpt") -> int:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=20)
        try:
            reply = client.chat.completions.with_raw_response.create(model=model, messages=HI)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            self.texts.append(exc.response.text)
            return exc.status_code
        self.texts.append(reply.text)
        return reply.status_code

    def get(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {MASTER}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        self.texts.append(text)
        return json.loads(text)

    def check(self, *gateways: GatewayProcess) -> None:
        everything = "\n".join(self.texts + [g.log() for g in gateways])
        for secret in (KEY_ONE, KEY_TWO):
            leaked = sorted(p for p in {secret[i : i + 8] for i in range(len(secret) - 7)} if p in everything)
            assert not leaked, f"pieces of a secret leaked: {leaked}"


def eventually(check: Any, timeout: float) -> float:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, "not within the time limit"
        time.sleep(0.05)
    return time.monotonic() - began


def store_and_reference(record: Record, gateway: GatewayProcess, fake_url: str, vault_env: dict[str, str]) -> None:
    """``wardgate secrets set openai`` (stdin) on a running gateway, then the config starts referencing it."""
    stored = record.wardgate(
        "secrets", "set", "openai", "--description", "main", "--json",
        env={**vault_env, "WARDGATE_URL": gateway.url, "WARDGATE_ADMIN_KEY": MASTER},
        secret=KEY_ONE,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    info = json.loads(stored.stdout)
    assert (info["name"], info["version"], info["last4"]) == ("openai", 1, KEY_ONE[-4:])
    gateway.write_config(gateway_config(fake_url, reference=True))
    eventually(lambda: record.chat(gateway) == 200, timeout=10)


def test_rotation_without_restart_on_two_replicas(tmp_path: Path, database_url: str, upstream: FakeOpenAI) -> None:
    vault_env = {"WARDGATE_DATABASE_URL": database_url, "WARDGATE_SECRET_KEY": generate_key()}
    record = Record()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = GatewayProcess(tmp_path / "a", gateway_config(upstream.url, reference=False), master_key=MASTER, env=vault_env)
    b = GatewayProcess(tmp_path / "b", gateway_config(upstream.url, reference=True), master_key=MASTER, env=vault_env)
    cli_env = {**vault_env, "WARDGATE_URL": a.url, "WARDGATE_ADMIN_KEY": MASTER}
    try:
        a.start()
        store_and_reference(record, a, upstream.url, vault_env)
        b.start()
        assert record.chat(b) == 200

        upstream.api_key = KEY_TWO  # the provider's key was rotated: the gateways' is now wrong
        assert record.chat(a) == 502 and record.chat(b) == 502
        rotated = record.wardgate("secrets", "set", "openai", "--json", env=cli_env, secret=KEY_TWO)
        assert rotated.returncode == 0, rotated.stderr
        assert json.loads(rotated.stdout)["version"] == 2
        assert record.chat(a) == 200  # the replica that took the write refreshed before answering
        assert eventually(lambda: record.chat(b) == 200, timeout=PROPAGATION) < PROPAGATION
        assert a.proc is not None and b.proc is not None and a.proc.poll() is None and b.proc.poll() is None

        listed = record.wardgate("secrets", "list", "--json", env=cli_env)
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)["data"]
        assert (row["name"], row["version"], row["description"]) == ("openai", 2, "main")
        table = record.wardgate("secrets", "list", env=cli_env)
        assert "openai" in table.stdout and KEY_TWO[-4:] in table.stdout
        refused = record.wardgate("secrets", "delete", "openai", env=cli_env)
        assert refused.returncode == 1 and "409" in refused.stderr and "referenced" in refused.stderr
        changes = record.get(a.url + "/admin/v1/changes?object_kind=credential")
        assert [c["action"] for c in changes["data"]] == ["rotate", "create"]
        for gateway in (a, b):
            assert record.get(gateway.url + "/readyz")["last_reload_error"] is None
    finally:
        a.stop()
        b.stop()
    record.check(a, b)


def test_master_key_rotation_through_the_cli(tmp_path: Path, database_url: str, upstream: FakeOpenAI) -> None:
    record = Record()
    generated = record.wardgate("secrets", "generate-key", env={})
    old_key, new_key = generate_key(), generated.stdout.strip()
    assert generated.returncode == 0 and parse_key(new_key, source="test").key_id
    with_old = {"WARDGATE_DATABASE_URL": database_url, "WARDGATE_SECRET_KEY": old_key}
    with_new = {"WARDGATE_DATABASE_URL": database_url, "WARDGATE_SECRET_KEY": new_key}
    rotating = {**with_new, "WARDGATE_SECRET_KEY_PREVIOUS": old_key, "WARDGATE_DATA_DIR": str(tmp_path / "cli")}
    gateways: list[GatewayProcess] = []

    def gateway(name: str, env: dict[str, str], *, reference: bool) -> GatewayProcess:
        (tmp_path / name).mkdir()
        process = GatewayProcess(tmp_path / name, gateway_config(upstream.url, reference=reference), env=env)
        process.master_key = MASTER
        gateways.append(process)
        return process

    try:
        first = gateway("first", with_old, reference=False).start()
        store_and_reference(record, first, upstream.url, with_old)
        first.stop()

        without_previous = record.wardgate("secrets", "rotate-master-key", env={**with_new, "WARDGATE_DATA_DIR": "x"})
        assert without_previous.returncode == 1 and "WARDGATE_SECRET_KEY_PREVIOUS" in without_previous.stderr
        rotated = record.wardgate("secrets", "rotate-master-key", env=rotating)
        assert rotated.returncode == 0, rotated.stderr
        new_id = parse_key(new_key, source="test").key_id
        assert rotated.stdout.strip() == f"re-wrapped 1 credential(s) under master key {new_id}"
        again = record.wardgate("secrets", "rotate-master-key", env=rotating)
        assert again.stdout.strip() == f"re-wrapped 0 credential(s) under master key {new_id}"

        stale = gateway("stale", with_old, reference=True)  # the old key alone no longer opens it
        with pytest.raises(RuntimeError):
            stale.start()
        assert "credential 'openai' cannot be opened: unknown master key id" in stale.log()

        fresh = gateway("fresh", with_new, reference=True).start()  # the new key alone: upstream calls work
        assert record.chat(fresh) == 200
        assert record.get(fresh.url + "/admin/v1/credentials/openai")["key_id"] == new_id
    finally:
        for process in gateways:
            process.stop()
    record.check(*gateways)
