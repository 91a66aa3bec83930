"""Admission control saturated with asyncio tasks: a bounded number in flight, a short FIFO queue with a timeout,
a fast 503 ``overloaded`` with ``Retry-After: 1`` beyond, and no slot lost to a waiter that leaves."""

from __future__ import annotations

import asyncio
import time

import pytest

from wardgate.core.errors import OverloadedError
from wardgate.routing.admission import Admission


async def test_saturation_sheds_quickly_and_never_exceeds_the_limit() -> None:
    admission = Admission(max_in_flight=10, queue=5, queue_timeout=0.2)
    peak = 0
    outcomes: list[str] = []

    async def request() -> None:
        nonlocal peak
        started = time.perf_counter()
        try:
            await admission.acquire()
        except OverloadedError as exc:
            outcomes.append("rejected")
            assert exc.http_status == 503 and exc.code == "overloaded" and exc.headers == {"retry-after": "1"}
            assert time.perf_counter() - started < 0.3  # at most the queue timeout, never a pile-up
            return
        try:
            peak = max(peak, admission.in_flight)
            await asyncio.sleep(0.05)
            outcomes.append("served")
        finally:
            admission.release()

    await asyncio.gather(*(request() for _ in range(100)))
    assert peak == 10
    assert outcomes.count("served") >= 15  # ten at once, then the queued five take over the slots
    assert outcomes.count("rejected") >= 50
    assert admission.in_flight == 0 and admission.stats()["queued"] == 0
    assert admission.rejected == outcomes.count("rejected")


async def test_a_full_queue_rejects_at_once() -> None:
    admission = Admission(max_in_flight=1, queue=1, queue_timeout=5)
    await admission.acquire()
    waiter = asyncio.create_task(admission.acquire())
    await asyncio.sleep(0)
    started = time.perf_counter()
    with pytest.raises(OverloadedError):
        await admission.acquire()
    assert time.perf_counter() - started < 0.01
    admission.release()  # the slot goes straight to the waiter
    await waiter
    assert admission.in_flight == 1
    admission.release()
    assert admission.in_flight == 0


async def test_waiters_are_served_in_order() -> None:
    admission = Admission(max_in_flight=1, queue=10, queue_timeout=5)
    await admission.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await admission.acquire()
        order.append(n)
        admission.release()

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    await asyncio.sleep(0)
    admission.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and admission.in_flight == 0


async def test_a_queued_request_times_out_with_503() -> None:
    admission = Admission(max_in_flight=1, queue=10, queue_timeout=0.05)
    await admission.acquire()
    started = time.perf_counter()
    with pytest.raises(OverloadedError):
        await admission.acquire()
    assert 0.04 < time.perf_counter() - started < 0.5
    assert admission.stats()["queued"] == 0


async def test_a_waiter_that_leaves_loses_no_slot() -> None:
    admission = Admission(max_in_flight=1, queue=10, queue_timeout=5)
    await admission.acquire()
    gone = asyncio.create_task(admission.acquire())
    await asyncio.sleep(0)
    admission.release()  # handed to the waiter …
    gone.cancel()  # … which leaves before it runs
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert admission.in_flight == 0
    await admission.acquire()
    assert admission.in_flight == 1


async def test_no_queue_means_reject_when_full_and_a_reload_can_raise_the_limit() -> None:
    admission = Admission(max_in_flight=1, queue=0, queue_timeout=1)
    await admission.acquire()
    with pytest.raises(OverloadedError):
        await admission.acquire()
    admission.configure(2, 0, 1)
    await admission.acquire()
    assert admission.in_flight == 2


async def test_raising_the_limit_admits_waiters() -> None:
    admission = Admission(max_in_flight=1, queue=5, queue_timeout=5)
    await admission.acquire()
    waiters = [asyncio.create_task(admission.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    admission.configure(3, 5, 5)
    await asyncio.gather(*waiters)
    assert admission.in_flight == 3
