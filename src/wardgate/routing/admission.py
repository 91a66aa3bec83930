"""Admission control: at most ``max_in_flight`` proxy requests per process, a short FIFO queue of ``queue``
requests waiting at most ``queue_timeout_ms`` for a slot, and a fast 503 ``overloaded`` with ``Retry-After: 1``
for everything beyond — load is shed at the door instead of piling up in memory and latency.

Wired in ``api/proxy.run_proxy`` around the whole request (before the body is read, released when the answer,
a stream included, has been sent), so a slot can never leak: not a pipeline stage, because a stage cannot see the
end of a stream that is never iterated. A rejection is counted here (``stats``), not in the access log.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from typing import Any

from wardgate.core.errors import OverloadedError


class Admission:
    """Slots are handed from a finishing request straight to the oldest waiter (no thundering herd)."""

    __slots__ = ("_waiters", "admitted", "in_flight", "max_in_flight", "queue", "queue_timeout", "rejected")

    def __init__(self, max_in_flight: int = 2000, queue: int = 200, queue_timeout: float = 0.25) -> None:
        self.max_in_flight = max_in_flight
        self.queue = queue
        self.queue_timeout = queue_timeout
        self.in_flight = 0
        self.admitted = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def configure(self, max_in_flight: int, queue: int, queue_timeout: float) -> None:
        """New limits (a config reload); requests already admitted keep their slots."""
        self.max_in_flight, self.queue, self.queue_timeout = max_in_flight, queue, queue_timeout
        while self.in_flight < self.max_in_flight and self._hand_over():
            self.in_flight += 1

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if there is room; raises ``OverloadedError`` otherwise."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            self.admitted += 1
            return
        if len(self._waiters) >= self.queue or self.queue_timeout <= 0:
            raise self._reject()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except TimeoutError:
            if not _granted(waiter):
                self._forget(waiter)
                raise self._reject() from None
        except asyncio.CancelledError:
            if _granted(waiter):
                self.release()  # the slot arrived as the client left: pass it on
            else:
                self._forget(waiter)
            raise
        self.admitted += 1

    def release(self) -> None:
        if not self._hand_over():
            self.in_flight -= 1

    def _hand_over(self) -> bool:
        """Give the caller's slot to the oldest live waiter; False when nobody waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return True
        return False

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters.remove(waiter)

    def _reject(self) -> OverloadedError:
        self.rejected += 1
        return OverloadedError()

    def stats(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "queued": len(self._waiters),
            "max_in_flight": self.max_in_flight,
            "queue": self.queue,
            "admitted": self.admitted,
            "rejected": self.rejected,
        }


def _granted(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled()
