"""Integration fixtures: a fake OpenAI/Azure upstream in a thread and a real gateway process in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess, free_port

from wardgate.testing import FakeOpenAI, FakeServerThread

UPSTREAM_KEY = "sk-upstream-secret-0123456789"
AZURE_KEY = "azure-secret-abcdef012345"
MASTER_KEY = "wg-test-master-key"


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY, azure_api_key=AZURE_KEY, azure_deployments=["gpt4o-deploy"])
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


@pytest.fixture(autouse=True)
def _reset_fake(request: pytest.FixtureRequest) -> None:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()


def gateway_config(fake_url: str, **server: Any) -> dict[str, Any]:
    dead_port = free_port()
    timeouts = {"connect": 2, "first_byte": 2, "idle": 2}
    return {
        "server": {"reload_interval": 0.2, **server},
        "providers": [
            {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 100000},
            {
                "name": "openai-main",
                "type": "openai",
                "base_url": fake_url + "/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
            {
                "name": "azure-east",
                "type": "azure_openai",
                "base_url": fake_url,
                "api_key": "${TEST_AZURE_KEY}",
                "api_version": "2024-10-21",
                "timeouts": timeouts,
            },
            {
                "name": "local-vllm",
                "type": "openai_compatible",
                "preset": "vllm",
                "base_url": fake_url + "/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
            {
                "name": "openai-badkey",
                "type": "openai",
                "base_url": fake_url + "/v1",
                "api_key": "sk-wrong-key-987654",
                "timeouts": timeouts,
            },
            {
                "name": "openai-down",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{dead_port}/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
        ],
        "models": [
            {"name": "sim-chat", "deployments": [{"provider": "sim", "model": "sim-chat"}]},
            {"name": "sim-embed", "deployments": [{"provider": "sim", "model": "sim-embed"}]},
            {"name": "gpt-4o-mini", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]},
            {"name": "renamed", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini-2024-07-18"}]},
            {
                "name": "text-embedding-3-small",
                "deployments": [{"provider": "openai-main", "model": "text-embedding-3-small"}],
            },
            {"name": "azure-gpt", "deployments": [{"provider": "azure-east", "model": "gpt4o-deploy"}]},
            {"name": "azure-missing", "deployments": [{"provider": "azure-east", "model": "no-such-deploy"}]},
            {"name": "llama", "deployments": [{"provider": "local-vllm", "model": "meta-llama/Llama-3.1-8B"}]},
            {"name": "badkey", "deployments": [{"provider": "openai-badkey", "model": "gpt-4o-mini"}]},
            {"name": "down", "deployments": [{"provider": "openai-down", "model": "gpt-4o-mini"}]},
            {
                "name": "failover",
                "deployments": [
                    {"provider": "openai-down", "model": "gpt-4o-mini"},
                    {"provider": "openai-main", "model": "gpt-4o-mini"},
                ],
            },
        ],
    }


@pytest.fixture(scope="session")
def gateway(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("gateway")
    process = GatewayProcess(
        workdir,
        gateway_config(fake.url, max_body_bytes=64 * 1024),
        master_key=MASTER_KEY,
        env={"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "TEST_AZURE_KEY": AZURE_KEY},
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


@pytest.fixture
def aclient(gateway: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
