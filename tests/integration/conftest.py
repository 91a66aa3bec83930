"""Integration fixtures: a fake OpenAI/Azure upstream in a thread and a real gateway process in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import AZURE_KEY, MASTER_KEY, UPSTREAM_KEY, gateway_config

from wardgate.testing import FakeOpenAI, FakeServerThread


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
