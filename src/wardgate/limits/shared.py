"""Shared mode's engine: Redis while it answers, this process's own counters while it does not.

When a reservation cannot reach Redis the store is marked down and a background probe pings it every
``probe_interval`` seconds, so no request waits on a dead Redis; meanwhile each limit does what it was configured
to: ``on_unavailable: open`` (the default) counts in this process's memory — the same limits, held per replica —
and ``closed`` refuses with 503 ``rate_limiter_unavailable``. Outages, fallbacks and refusals are counted
(``stats``) and logged once per outage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from wardgate.limits.buckets import Decision, Reservation, Settlement
from wardgate.limits.memory import MemoryEngine
from wardgate.limits.redis_engine import LimitStoreUnavailable, RedisEngine

_log = logging.getLogger("wardgate.limits")


class StoreClosed(Exception):
    """A fail-closed demand met an unreachable store; ``name`` is the bucket key's limit name."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class SharedEngine:
    def __init__(self, remote: RedisEngine, local: MemoryEngine | None = None, *, probe_interval: float = 0.5):
        self.remote = remote
        self.local = local or MemoryEngine()
        self._probe_interval = probe_interval
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self.outages = 0
        self.fallbacks = 0
        self.refusals = 0

    @property
    def available(self) -> bool:
        return self._down_since is None

    async def reserve(self, reservation: Reservation) -> Decision:
        if self._down_since is None:
            try:
                return await self.remote.reserve(reservation)
            except LimitStoreUnavailable as exc:
                self._went_down(exc)
        for demand in reservation.required:
            if demand.fail_closed and demand.enforce:
                self.refusals += 1
                raise StoreClosed(demand.key)
        self.fallbacks += 1
        decision = self.local.reserve_now(reservation)
        return dataclasses.replace(decision, local=True)

    def settle(self, settlement: Settlement, local: bool = False) -> None:
        if local:
            self.local.settle_now(settlement)
        else:
            self.remote.settle_later(settlement)

    async def claim(self, key: str, ttl: float) -> bool:
        """Claimed in Redis; while it is down, in this process (another replica may then claim it too)."""
        if self._down_since is None:
            try:
                return await self.remote.claim(key, ttl)
            except LimitStoreUnavailable as exc:
                self._went_down(exc)
        return await self.local.claim(key, ttl)

    async def seed_window(self, key: str, spent: float, period: float) -> None:
        self.local.seed(key, spent, period)  # for a fallback while Redis is down
        if self._down_since is None:
            try:
                await self.remote.seed_window(key, spent, period)
            except LimitStoreUnavailable as exc:
                self._went_down(exc)

    def stats(self) -> dict[str, Any]:
        return {
            "store": "redis",
            "available": self.available,
            "down_for_seconds": None if self._down_since is None else round(time.monotonic() - self._down_since, 3),
            "outages": self.outages,
            "local_fallbacks": self.fallbacks,
            "fail_closed_refusals": self.refusals,
            "pending_settlements": self.remote.pending,
            "dropped_settlements": self.remote.dropped,
        }

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self.remote.close()

    def _went_down(self, error: Exception) -> None:
        self._down_since = time.monotonic()
        self.outages += 1
        _log.warning(
            "rate-limit store unreachable: limits fall back to their on_unavailable choice",
            extra={"fields": {"error": str(error)}},
        )
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up(), name="wardgate-limit-probe")

    async def _probe_until_up(self) -> None:
        while True:
            if await self.remote.ping():
                break
            await asyncio.sleep(self._probe_interval)
        down_for = time.monotonic() - (self._down_since or time.monotonic())
        self._down_since = None
        _log.warning("rate-limit store reachable again", extra={"fields": {"down_seconds": round(down_for, 3)}})
