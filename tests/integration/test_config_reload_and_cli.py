"""Hot reload, the CLI (config check, version, serve on zero config) and first-start master key handling."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import gateway_config

from wardgate.testing import FakeOpenAI

HI = [{"role": "user", "content": "hi"}]


def wardgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wardgate", *args], capture_output=True, text=True, timeout=60, env=env
    )


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_hot_reload_applies_good_config_and_keeps_old_on_bad(tmp_path: Path, fake: FakeOpenAI) -> None:
    config = gateway_config(fake.url)
    env = {"TEST_UPSTREAM_KEY": "k", "TEST_AZURE_KEY": "k"}
    gateway = GatewayProcess(tmp_path, config, env=env).start()
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.master_key, max_retries=0)
        assert "sim-new" not in {m.id for m in client.models.list()}

        config["models"].append({"name": "sim-new", "deployments": [{"provider": "sim", "model": "x"}]})
        gateway.write_config(config)
        assert wait_for(lambda: "sim-new" in {m.id for m in client.models.list()})
        assert client.chat.completions.create(model="sim-new", messages=HI).choices[0].message.content

        gateway.write_config("providers:\n  - name: sim\n    type: simulated\n    bogus_key: 1\n")
        assert wait_for(lambda: "bogus_key" in gateway.log())
        assert client.chat.completions.create(model="sim-new", messages=HI).choices[0].message.content
        import json
        import urllib.request

        with urllib.request.urlopen(gateway.url + "/readyz") as response:
            ready = json.loads(response.read())
        assert "bogus_key" in ready["last_reload_error"]
    finally:
        gateway.stop()


def test_config_check_reports_every_problem_with_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers:\n"
        "  - name: a\n"
        "    type: openai\n"
        "    api_kee: x\n"
        "models:\n"
        "  - name: m\n"
        "    deployments:\n"
        "      - provider: a\n"
        "        model: m\n"
        "        weigth: 3\n"
    )
    result = wardgate("config", "check", str(bad))
    assert result.returncode != 0
    assert "line 4: providers[0].api_kee: unknown key 'api_kee'" in result.stderr
    assert "line 10: models[0].deployments[0].weigth: unknown key 'weigth'" in result.stderr
    assert "Traceback" not in result.stderr

    good = tmp_path / "good.yaml"
    good.write_text(
        "providers:\n  - {name: s, type: simulated}\nmodels:\n  - {name: m, deployments: [{provider: s, model: m}]}\n"
    )
    result = wardgate("config", "check", str(good))
    assert result.returncode == 0 and "OK (1 providers, 1 models)" in result.stdout


def test_serve_refuses_a_bad_config_with_reasons(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  - name: x\n    type: openai\n    api_key: ${NOT_SET_ANYWHERE_123}\n")
    result = wardgate("serve", "--config", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "environment variable NOT_SET_ANYWHERE_123 is not set" in result.stderr


def test_version() -> None:
    result = wardgate("version")
    assert result.returncode == 0 and result.stdout.startswith("wardgate ")


def test_first_start_generates_master_key_once_and_stores_only_hash(tmp_path: Path) -> None:
    first = GatewayProcess(tmp_path, None, master_key=None).start()
    try:
        log = first.log()
        keys = [word for word in log.split() if word.startswith("wg-")]
        assert len(keys) == 1
        key = keys[0]
        client = openai.OpenAI(base_url=first.base_url, api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="simulated-chat", messages=HI)
        assert reply.choices[0].message.content
    finally:
        first.stop()
    database = tmp_path / "data" / "wardgate.db"
    assert key.encode() not in database.read_bytes()
    rows = sqlite3.connect(database).execute("select value from gateway_meta").fetchall()
    assert len(rows) == 1 and key not in rows[0][0]

    second = GatewayProcess(tmp_path, None, master_key=None).start()
    try:
        assert "wg-" not in second.log()
        client = openai.OpenAI(base_url=second.base_url, api_key=key, max_retries=0)
        assert client.embeddings.create(model="simulated-embedding", input="x").data
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=second.base_url, api_key="wg-other", max_retries=0).models.list()
    finally:
        second.stop()
    assert "Application shutdown complete" in second.log()  # SIGTERM drains gracefully


def test_serve_with_two_workers(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path, None, extra_args=("--workers", "2")).start(timeout=40)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.master_key, max_retries=0)
        for _ in range(6):
            assert client.chat.completions.create(model="simulated-chat", messages=HI).choices
        deadline = time.monotonic() + 20
        while gateway.log().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gateway.log().count("Application startup complete") == 2
    finally:
        gateway.stop()
