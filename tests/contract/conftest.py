"""Conformance battery fixtures: every provider's fake in a thread, one real gateway in front of all of them, and
the provider x feature matrix written to docs/providers.md when the whole battery passes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess
from matrix import DOC, Cell, Matrix
from setups import MASTER_KEY, PNG_BYTES, ImageServer, Setup, all_setups, gateway_config

SETUPS = {setup.name: setup for setup in all_setups()}
MATRIX = Matrix(providers=list(SETUPS))


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, Any]]:
    started: dict[str, Any] = {}
    runners = []
    try:
        for name, setup in SETUPS.items():
            fake = setup.make_fake()
            runners.append(fake.run_in_thread())
            started[name] = fake
        yield started
    finally:
        for runner in runners:
            runner.close()


@pytest.fixture(scope="session")
def image_url() -> Iterator[str]:
    """A PNG served on loopback (allow-listed for the gateway's image fetcher in this battery only)."""
    server = ImageServer(PNG_BYTES)
    try:
        yield server.url + "/cat.png"
    finally:
        server.close()


@pytest.fixture(scope="session")
def contract_gateway(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env: dict[str, str] = {}
    for setup in SETUPS.values():
        env.update(setup.env)
    gateway = GatewayProcess(
        tmp_path_factory.mktemp("contract"),
        gateway_config(list(SETUPS.values()), fakes),
        master_key=MASTER_KEY,
        env=env,
    ).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(params=list(SETUPS))
def setup(request: pytest.FixtureRequest) -> Setup:
    return SETUPS[request.param]


@pytest.fixture
def fake(setup: Setup, fakes: dict[str, Any]) -> Any:
    upstream = fakes[setup.name]
    upstream.reset()
    return upstream


@pytest.fixture
def client(contract_gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=contract_gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


@pytest.fixture
def aclient(contract_gateway: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=contract_gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


@pytest.fixture
def cell(request: pytest.FixtureRequest, setup: Setup) -> Iterator[Cell]:
    marker = request.node.get_closest_marker("feature")
    feature = marker.args[0] if marker else request.node.originalname
    current = Cell(feature, setup.name)
    yield current
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        MATRIX.set(current.feature, current.provider, current.value)
    else:
        MATRIX.set(current.feature, current.provider, "FAIL")
        MATRIX.failed = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if MATRIX.features and MATRIX.complete() and session.config.getoption("keyword") == "":
        DOC.write_text(MATRIX.render(), encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feature(name): the matrix row a battery test fills")
