"""Scripted upstream faults behind a real gateway, seen through the official ``openai`` SDK (``max_retries=0``: only
the gateway retries): with a way out the app sees a success, without one the documented error — never a hang.

Each test uses its own upstream model names, so the fakes' scripts (``match_model``) and the deployments' breaker
and cool-down state never leak from one test into the next. Breakers are on but never trip here (their thresholds
are out of reach): provider cool-downs (``Retry-After``) are what these tests see of the board.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeAnthropic, FakeOpenAI

HI = [{"role": "user", "content": "hi"}]
KEY = "sk-fake-upstream-key"
TIMEOUTS = {"connect": 1, "first_byte": 0.5, "idle": 0.5}


def pair(name: str, first: str = "one", second: str = "two", **model: Any) -> dict[str, Any]:
    """A model served by two OpenAI-style deployments (upstream models ``<name>-a`` and ``<name>-b``)."""
    deployments = [{"provider": first, "model": f"{name}-a"}, {"provider": second, "model": f"{name}-b"}]
    return {"name": name, "deployments": deployments, **model}


def solo(name: str, provider: str = "one", **model: Any) -> dict[str, Any]:
    return {"name": name, "deployments": [{"provider": provider, "model": f"{name}-a"}], **model}


MODELS = [
    solo("retry-after"),
    solo("rate-limited", fallbacks=["claude"]),
    {"name": "claude", "deployments": [{"provider": "claude", "model": "claude-sonnet-4-5", "tags": ["sensitive_ok"]}]},
    pair("burst"),
    pair("slow-first-byte"),
    pair("reset"),
    pair("reset-stream"),
    pair("cut"),
    pair("malformed"),
    pair("loris"),
    solo("lonely"),
    solo("cooling"),
    solo("doomed", provider="two"),
    solo("busy", provider="patient"),
    solo("secret", fallbacks=["claude"]),
]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"one": FakeOpenAI(api_key=KEY), "two": FakeOpenAI(api_key=KEY), "claude": FakeAnthropic()}
    runners = [fake.run_in_thread() for fake in made.values()]
    try:
        yield made
    finally:
        for runner in runners:
            runner.close()


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {
            "access_log": False,
            "routing": {"admission": {"max_in_flight": 64, "queue": 0}},
            "breaker": {"consecutive_failures": 1000, "min_requests": 1_000_000},
        },
        "providers": [
            {"name": "one", "type": "openai", "base_url": fakes["one"].base_url, "api_key": KEY, "timeouts": TIMEOUTS},
            {"name": "two", "type": "openai", "base_url": fakes["two"].base_url, "api_key": KEY, "timeouts": TIMEOUTS},
            {
                "name": "claude",
                "type": "anthropic",
                "base_url": fakes["claude"].url,
                "api_key": KEY,
                "timeouts": TIMEOUTS,
            },
            {"name": "patient", "type": "openai", "base_url": fakes["two"].base_url, "api_key": KEY},
        ],
        "models": MODELS,
    }
    process = GatewayProcess(tmp_path_factory.mktemp("routing"), config, master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=10)


def calls(fake: Any, model: str) -> int:
    return sum(1 for r in fake.requests if isinstance(r.json, dict) and r.json.get("model") == model)


def create(client: openai.OpenAI, model: str, **options: Any) -> tuple[Any, dict[str, str]]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HI, **options)
    return raw.parse(), dict(raw.headers)


def raw_stream(gateway: GatewayProcess, model: str) -> tuple[int, list[str], dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    body = json.dumps({"model": model, "messages": HI, "stream": True})
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/chat/completions", body, headers)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    return response.status, events, {k.lower(): v for k, v in response.getheaders()}


def test_429_with_retry_after_then_success_on_the_same_deployment(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    fakes["one"].script(Behavior(status=429, headers={"Retry-After": "1"}, match_model="retry-after-a"))
    started = time.monotonic()
    reply, headers = create(client, "retry-after")
    assert reply.choices[0].message.content
    assert time.monotonic() - started >= 1.0  # the provider's wait was honoured
    assert calls(fakes["one"], "retry-after-a") == 2
    assert headers["x-wardgate-deployment"] == "one/retry-after-a" and headers["x-wardgate-attempts"] == "2"


def test_429_goes_to_the_fallback_at_once_and_the_deployment_cools_down(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    fakes["one"].script(Behavior(status=429, headers={"Retry-After": "5"}, match_model="rate-limited-a"))
    started = time.monotonic()
    reply, headers = create(client, "rate-limited")
    assert reply.choices[0].message.content and time.monotonic() - started < 1.0
    assert headers["x-wardgate-deployment"] == "claude/claude-sonnet-4-5" and headers["x-wardgate-attempts"] == "2"
    _, headers = create(client, "rate-limited")  # while it cools down, nobody waits on it
    assert headers["x-wardgate-deployment"] == "claude/claude-sonnet-4-5" and headers["x-wardgate-attempts"] == "1"
    assert calls(fakes["one"], "rate-limited-a") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_5xx_bursts_are_absorbed_by_the_other_deployment(
    client: openai.OpenAI, fakes: dict[str, Any], status: int
) -> None:
    before = calls(fakes["two"], "burst-b")
    fakes["one"].script(Behavior(status=status, times=4, match_model="burst-a"))
    for _ in range(4):
        reply, headers = create(client, "burst")
        assert reply.choices[0].message.content and headers["x-wardgate-deployment"] == "two/burst-b"
    assert calls(fakes["two"], "burst-b") == before + 4


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_before_the_first_byte_falls_back(client: openai.OpenAI, fakes: dict[str, Any], stream: bool) -> None:
    fakes["one"].script(Behavior(latency=2.0, match_model="slow-first-byte-a"))
    started = time.monotonic()
    if stream:
        chunks = list(client.chat.completions.create(model="slow-first-byte", messages=HI, stream=True))
        assert chunks and chunks[-1].choices[0].finish_reason == "stop"
    else:
        _, headers = create(client, "slow-first-byte")
        assert headers["x-wardgate-deployment"] == "two/slow-first-byte-b"
    assert time.monotonic() - started < 1.5  # first_byte is 0.5 s: the slow one is abandoned, not waited for


@pytest.mark.parametrize(("model", "stream"), [("reset", False), ("reset-stream", True)])
def test_connection_reset_falls_back(client: openai.OpenAI, fakes: dict[str, Any], model: str, stream: bool) -> None:
    fakes["one"].script(Behavior(disconnect_after=0, match_model=f"{model}-a"))
    if stream:
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model=model, messages=HI, stream=True)
            if c.choices
        )
        assert text
    else:
        _, headers = create(client, model)
        assert headers["x-wardgate-deployment"] == f"two/{model}-b" and headers["x-wardgate-attempts"] == "2"
    assert calls(fakes["one"], f"{model}-a") == 1 and calls(fakes["two"], f"{model}-b") == 1


def test_a_cut_after_the_first_byte_ends_with_an_error_event_and_no_fallback(
    gateway: GatewayProcess, fakes: dict[str, Any]
) -> None:
    fakes["one"].script(Behavior(chunks=10, disconnect_after=4, match_model="cut-a"))
    status, events, headers = raw_stream(gateway, "cut")
    assert status == 200 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "stream_interrupted" and len(events) == 5
    assert headers["x-wardgate-deployment"] == "one/cut-a"
    assert calls(fakes["two"], "cut-b") == 0  # bytes already reached the client: no second answer spliced in


def test_malformed_upstream_json_falls_back(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    fakes["one"].script(Behavior(malformed=True, match_model="malformed-a"))
    reply, headers = create(client, "malformed")
    assert reply.choices[0].message.content and headers["x-wardgate-deployment"] == "two/malformed-b"


def test_a_slow_loris_upstream_ends_with_an_error_instead_of_hanging(
    gateway: GatewayProcess, fakes: dict[str, Any]
) -> None:
    fakes["one"].script(Behavior(chunks=5, chunk_interval=2.0, match_model="loris-a"))
    started = time.monotonic()
    status, events, _ = raw_stream(gateway, "loris")
    assert time.monotonic() - started < 2.0  # the idle timeout (0.5 s) ends it
    assert status == 200 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_timeout"


def test_without_a_fallback_the_last_error_is_returned(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    fakes["one"].script(Behavior(status=503, times=3, match_model="lonely-a"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="lonely", messages=HI)
    assert info.value.status_code == 503 and info.value.code == "upstream_unavailable"
    assert info.value.response.headers["x-wardgate-attempts"] == "3"
    assert info.value.response.headers["x-wardgate-deployment"] == "one/lonely-a"
    assert calls(fakes["one"], "lonely-a") == 3

    fakes["one"].script(Behavior(status=400, times=3, match_model="lonely-a"))
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="lonely", messages=HI)
    assert bad.value.response.headers["x-wardgate-attempts"] == "1"  # the request's own fault: never retried


def test_a_long_retry_after_is_returned_and_then_fails_fast(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    fakes["one"].script(Behavior(status=429, headers={"Retry-After": "30"}, match_model="cooling-a"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="cooling", messages=HI)
    assert (
        info.value.response.headers["retry-after"] == "30" and info.value.response.headers["x-wardgate-attempts"] == "1"
    )
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as fast:
        client.chat.completions.create(model="cooling", messages=HI)
    assert time.monotonic() - started < 0.5
    assert fast.value.status_code == 503 and fast.value.code == "no_healthy_deployment"
    assert 28 <= int(fast.value.response.headers["retry-after"]) <= 30
    assert calls(fakes["one"], "cooling-a") == 1  # the cooling deployment was not bothered again


def test_sensitive_requests_only_reach_tagged_deployments(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    _, headers = create(client, "secret", extra_headers={"x-wardgate-sensitive": "true"})
    assert headers["x-wardgate-deployment"] == "claude/claude-sonnet-4-5" and calls(fakes["one"], "secret-a") == 0
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="lonely", messages=HI, extra_headers={"x-wardgate-sensitive": "true"})
    assert info.value.code == "no_sensitive_deployment"


async def test_under_a_fault_that_fails_every_request_attempts_stay_within_the_retry_budget(
    gateway: GatewayProcess, fakes: dict[str, Any]
) -> None:
    """40 requests at once, every attempt fails after 0.2 s: retries in flight are capped at max(3, 20 % of the
    requests in flight), so most requests fail at once instead of trying three times."""
    fakes["two"].script(Behavior(status=500, latency=0.2, times=1000, match_model="doomed-a"))
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=10)
    sent = 40

    async def one() -> int:
        try:
            await client.chat.completions.create(model="doomed", messages=HI)
        except openai.APIStatusError as exc:
            return exc.status_code
        return 200

    statuses = await asyncio.gather(*(one() for _ in range(sent)))
    await client.close()
    attempts = calls(fakes["two"], "doomed-a")
    assert statuses == [502] * sent
    # 40 first attempts, 8 retries (20 % of 40 in flight), then 3 (the floor) when those fail: 51 here. Without the
    # budget: 120. The bound leaves room for a slower machine spreading the requests out.
    assert sent < attempts <= 1.5 * sent, attempts


async def test_overload_is_shed_with_a_fast_503(gateway: GatewayProcess, fakes: dict[str, Any]) -> None:
    fakes["two"].script(Behavior(latency=1.0, times=200, match_model="busy-a"))
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=10)

    async def one() -> tuple[int, float, str | None]:
        started = time.monotonic()
        try:
            await client.chat.completions.create(model="busy", messages=HI)
        except openai.APIStatusError as exc:
            return exc.status_code, time.monotonic() - started, exc.response.headers.get("retry-after")
        return 200, time.monotonic() - started, None

    results = await asyncio.gather(*(one() for _ in range(100)))
    await client.close()
    served = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    assert len(served) + len(shed) == 100 and len(served) >= 60 and len(shed) >= 20
    assert all(retry == "1" for _, _, retry in shed)
    # answered at once, not queued: every 503 is back before the first success (whose upstream takes 1 s)
    assert max(duration for _, duration, _ in shed) < min(duration for _, duration, _ in served)
