"""Identity change notifications over a real Redis: another replica's message triggers a refresh, our own does
not; the subscriber reconnects after its connection is killed (and refreshes, since messages may have been lost);
a Redis that is down never makes ``publish`` raise or ``start`` hang."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis
from gateway_process import free_port

from wardgate.identity.notify import IdentityNotifier

REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def channel() -> str:
    return f"wardgate:test:{os.urandom(6).hex()}"  # isolated from gateways running elsewhere on this Redis


@pytest.fixture
async def pair(channel: str) -> AsyncIterator[tuple[IdentityNotifier, Counter, IdentityNotifier, Counter]]:
    first, second = Counter(), Counter()
    a = IdentityNotifier(REDIS_URL, first, channel=channel, max_backoff=0.2)
    b = IdentityNotifier(REDIS_URL, second, channel=channel, max_backoff=0.2)
    await a.start()
    await b.start()
    try:
        yield a, first, b, second
    finally:
        await a.close()
        await b.close()


async def test_a_message_from_another_replica_refreshes(
    pair: tuple[IdentityNotifier, Counter, IdentityNotifier, Counter],
) -> None:
    a, on_a, b, on_b = pair
    assert a.subscribed and b.subscribed
    assert on_a.calls == 1 and on_b.calls == 1  # one refresh when the subscription starts
    await a.publish()
    await eventually(lambda: on_b.calls == 2)
    await asyncio.sleep(0.1)
    assert on_a.calls == 1  # its own message: the local refresh already ran
    assert a.published == 1 and b.received == 1 and a.received == 0


async def test_the_subscriber_reconnects(pair: tuple[IdentityNotifier, Counter, IdentityNotifier, Counter]) -> None:
    a, _, b, on_b = pair
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        clients = await admin.client_list()
        (victim,) = [c["id"] for c in clients if c.get("name") == b.client_name]
        await admin.client_kill_filter(_id=victim)
    finally:
        await admin.aclose()
    await eventually(lambda: on_b.calls >= 2 and b.subscribed)  # resubscribed and refreshed for what it missed
    calls = on_b.calls
    await a.publish()
    await eventually(lambda: on_b.calls == calls + 1)
    assert b.failures >= 1


async def test_a_redis_that_is_down_never_blocks_or_raises() -> None:
    refreshed = Counter()
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    notifier = IdentityNotifier(nobody, refreshed, publish_timeout=0.2, max_backoff=0.2)
    started = time.monotonic()
    await notifier.start(wait=0.3)
    await notifier.publish()
    elapsed = time.monotonic() - started
    await notifier.close()
    assert elapsed < 2.0
    assert not notifier.subscribed and refreshed.calls == 0
    assert notifier.failures >= 1 and notifier.published == 0
