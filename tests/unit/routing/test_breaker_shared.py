"""Breakers shared through a real Redis between boards in one process (each test on its own channel and keys):
open, probe, close, reset and cool-down reach the other replica; a late starter loads what is in force; window
counters add up across replicas; a Redis outage leaves each board working alone, is logged once, and the state in
force reaches the others once Redis is back."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as redis
from tcp_proxy import ThreadedTcpProxy

from wardgate.config.breaker_config import BreakerConfig
from wardgate.config.schema import GatewayConfig
from wardgate.routing.breaker import CircuitBreakerBoard, OpenBoard
from wardgate.routing.breaker_shared import SharedBreakers, open_breakers

REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
DEAD = "dead/gpt-4o"
LIVE = "live/gpt-4o-mini"
Start = Callable[..., Awaitable[SharedBreakers]]


async def redis_up() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"wardgate-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def start(prefix: str) -> AsyncIterator[Start]:
    """``await start(url=REDIS_URL, **config)`` → a started replica sharing ``prefix``; keys removed after."""
    if not await redis_up():
        pytest.fail("Redis must run on " + REDIS_URL + " (.ci/run starts it)")
    started: list[SharedBreakers] = []

    async def run(url: str = REDIS_URL, **settings: Any) -> SharedBreakers:
        board = CircuitBreakerBoard(BreakerConfig(**settings))
        shared = SharedBreakers(board, url, prefix=prefix, sync_interval=settings.get("sync_interval_seconds", 60))
        await shared.start()
        started.append(shared)
        return shared

    yield run
    for shared in started:
        await shared.close()
    client = redis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=prefix + ":*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the other replica never caught up"
        await asyncio.sleep(0.01)


def fail(shared: SharedBreakers, deployment: str, times: int) -> None:
    for _ in range(times):
        shared.board.record(deployment, False, time.time())


def state(shared: SharedBreakers, deployment: str) -> str:
    return str(shared.board.state(deployment)["state"])


async def test_open_probe_and_close_reach_the_other_replica(start: Start) -> None:
    a, b = await start(base_cooldown_seconds=0.3), await start(base_cooldown_seconds=0.3)
    assert a.subscribed and b.subscribed
    fail(a, DEAD, 5)
    await eventually(lambda: state(b, DEAD) == "open")
    assert b.board.select([DEAD, LIVE], time.time()) == [LIVE]  # B skips it without trying it
    assert b.board.state(DEAD)["last_change"] == "remote" and b.board.state(DEAD)["level"] == 1
    await asyncio.sleep(0.3)
    assert a.board.select([DEAD, LIVE], time.time()) == [DEAD, LIVE]  # A's probe
    await eventually(lambda: b.board.state(DEAD)["probe_in_flight"] is True)
    assert b.board.select([DEAD, LIVE], time.time()) == [LIVE]  # A's probe is out: B sends none
    a.board.record(DEAD, True, time.time())
    await eventually(lambda: state(b, DEAD) == "closed")
    assert b.board.select([DEAD, LIVE], time.time()) == [DEAD, LIVE]
    assert b.board.state(DEAD)["level"] == 0


async def test_a_failed_probe_reopens_everywhere_for_longer(start: Start) -> None:
    a, b = await start(base_cooldown_seconds=0.2), await start(base_cooldown_seconds=0.2)
    fail(a, DEAD, 5)
    await asyncio.sleep(0.2)
    assert a.board.select([DEAD], time.time()) == [DEAD]
    fail(a, DEAD, 1)
    await eventually(lambda: b.board.state(DEAD)["level"] == 2)
    assert state(b, DEAD) == "open"
    assert 0.25 < b.board.retry_after([DEAD], time.time()) <= 1.0  # 0.4 s, rounded up to a second
    assert b.board.state(DEAD)["retry_in"] > 0.25


async def test_reset_and_cool_down_reach_the_other_replica(start: Start) -> None:
    a, b = await start(), await start()
    fail(a, DEAD, 5)
    a.board.cool_down(LIVE, time.time() + 30)
    await eventually(lambda: state(b, DEAD) == "open" and b.board.state(LIVE)["cooldown_until"] is not None)
    assert b.board.select([DEAD, LIVE], time.time()) == []
    assert 29 <= b.board.retry_after([LIVE], time.time()) <= 30
    b.board.reset(DEAD)
    b.board.reset(LIVE)
    await eventually(lambda: a.board.select([DEAD, LIVE], time.time()) == [DEAD, LIVE])


async def test_a_late_starter_loads_what_is_in_force(start: Start, prefix: str) -> None:
    a = await start(base_cooldown_seconds=20)
    fail(a, DEAD, 5)
    a.board.cool_down(LIVE, time.time() + 10)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await eventually(lambda: a.sent >= 4)  # PUBLISH and SET for each
        assert 19_000 < await client.pttl(f"{prefix}:open:{DEAD}") <= 20_000
        assert 9_000 < await client.pttl(f"{prefix}:cool:{LIVE}") <= 10_000
    finally:
        await client.aclose()
    late = await start()
    assert state(late, DEAD) == "open" and late.board.state(DEAD)["level"] == 1
    assert 18 < late.board.retry_after([DEAD], time.time()) <= 20
    assert late.board.select([DEAD, LIVE], time.time()) == []


async def test_window_counters_add_up_across_replicas(start: Start) -> None:
    settings = {"consecutive_failures": 100, "sync_interval_seconds": 0.05}
    a, b = await start(**settings), await start(**settings)
    for shared in (a, b):  # 5 requests, 4 failed on each: below min_requests alone, 80 % of 10 together
        shared.board.record(DEAD, True, time.time())
        fail(shared, DEAD, 4)
    await eventually(lambda: state(a, DEAD) == "open" and state(b, DEAD) == "open")


async def test_an_outage_keeps_local_breakers_logs_once_and_resends_when_back(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate.routing")
    target = urlparse(REDIS_URL)
    proxy = ThreadedTcpProxy(target.port or 6379, target.hostname or "127.0.0.1")  # a Redis outage on demand
    proxy.start()
    try:
        a = await start(f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}", base_cooldown_seconds=30)
        b = await start()
        proxy.stop()
        await eventually(lambda: not a.subscribed)
        fail(a, DEAD, 5)  # decided while Redis is out of reach
        assert a.board.select([DEAD, LIVE], time.time()) == [LIVE]  # A keeps its own breaker
        await asyncio.sleep(0.5)  # several reconnects and sends fail meanwhile
        assert state(b, DEAD) == "closed"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()
        proxy.start()
        await eventually(lambda: state(b, DEAD) == "open", within=8)  # resent once Redis was back
        await eventually(lambda: a.subscribed, within=8)
        assert any("restored" in r.getMessage() for r in caplog.records)
    finally:
        proxy.close()


async def test_a_down_redis_never_blocks_start() -> None:
    board = CircuitBreakerBoard()
    shared = SharedBreakers(board, "redis://127.0.0.1:9/0", prefix="wardgate-test:none", timeout=0.2)
    began = time.monotonic()
    await shared.start(wait=0.3)
    assert time.monotonic() - began < 1 and not shared.subscribed
    board.record(DEAD, False, time.time())  # the request path never waits on Redis
    await shared.close()


def gateway(**breaker: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({"server": {"breaker": breaker}})


async def test_open_breakers_follows_the_config(prefix: str) -> None:
    off, none = await open_breakers(gateway(enabled=False), REDIS_URL)
    assert isinstance(off, OpenBoard) and none is None
    local, none = await open_breakers(gateway(), None)
    assert isinstance(local, CircuitBreakerBoard) and none is None
    unshared, none = await open_breakers(gateway(shared=False), REDIS_URL)
    assert isinstance(unshared, CircuitBreakerBoard) and none is None
    board, shared = await open_breakers(gateway(redis_prefix=prefix), "redis://127.0.0.1:9/0")
    assert shared is not None and shared.board is board and shared.channel == f"{prefix}:events"
    await shared.close()
