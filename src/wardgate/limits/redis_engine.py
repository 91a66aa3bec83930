"""The Redis engine (shared mode): every demand of a request reserved in one ``EVALSHA`` of ``reserve.lua``;
settlements are queued and sent behind the requests in batches (``settle.lua``), never on the request path.

Bucket keys share one hash tag (``{prefix}``), so one script's keys live in one Redis Cluster slot; the script gets
one of them as its declared key and the demands as one JSON argument. Talks through ``resp.RespClient`` (see there
for why not redis-py). Raises ``LimitStoreUnavailable`` when Redis cannot answer in time; ``shared.SharedEngine``
decides what that means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources
from typing import Any

import orjson

from wardgate.limits.buckets import BLOCKED_NONE, Decision, Demand, Reservation, Settlement
from wardgate.limits.resp import RedisReplyError, RespClient

_log = logging.getLogger("wardgate.limits")
_BATCH = 512
_QUEUE = 200_000
"""Settlements waiting while Redis is down; beyond this the oldest are dropped (and counted): buckets then refill
on their own, so a lost refund costs capacity for at most one period, never correctness of a later reservation."""


class LimitStoreUnavailable(Exception):
    """The shared limit store did not answer."""


def _script(name: str) -> str:
    return resources.files("wardgate.limits").joinpath(name).read_text()


_FAILURES = (RedisReplyError, OSError, TimeoutError)


class RedisEngine:
    def __init__(self, client: RespClient, *, flush_interval: float = 0.005) -> None:
        self._client = client
        self._reserve = _script("reserve.lua")
        self._settle = _script("settle.lua")
        self._queue: list[Settlement] = []
        self._wake = asyncio.Event()
        self._interval = flush_interval
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.settle_errors = 0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.25) -> RedisEngine:
        return cls(RespClient(url, timeout=timeout))

    async def reserve(self, reservation: Reservation) -> Decision:
        anchor = next((d.key for d in (*reservation.required, *(d for o in reservation.alternatives for d in o))), "")
        try:
            reply = await self._client.script(self._reserve, anchor, _encode(reservation))
        except _FAILURES as exc:
            raise LimitStoreUnavailable(type(exc).__name__) from exc
        return _decode(reply)

    async def settle(self, settlement: Settlement) -> None:
        self.settle_later(settlement)

    def settle_later(self, settlement: Settlement) -> None:
        if not settlement:
            return
        if len(self._queue) >= _QUEUE:
            del self._queue[0]
            self.dropped += 1
        self._queue.append(settlement)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_forever(), name="wardgate-limit-settle")
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self) -> bool:
        """Send everything queued; False when Redis refused (the batch stays queued)."""
        while self._queue:
            batch = self._queue[:_BATCH]
            anchor, payload = _encode_settlements(batch)
            try:
                await self._client.script(self._settle, anchor, payload)
            except _FAILURES as exc:
                self.settle_errors += 1
                _log.warning("rate-limit settlement failed; kept for retry", extra={"fields": {"error": repr(exc)}})
                return False
            del self._queue[: len(batch)]
        return True

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._interval)  # let a burst of settlements share one script call
            if not await self.flush():
                await asyncio.sleep(1.0)
                self._wake.set()
            elif not self._queue:
                return

    async def claim(self, key: str, ttl: float) -> bool:
        """True for the first replica to claim ``key`` (``SET NX``)."""
        try:
            return await self._client.call("SET", key, "1", "NX", "EX", max(1, int(ttl) + 86_400)) is not None
        except _FAILURES as exc:
            raise LimitStoreUnavailable(type(exc).__name__) from exc

    async def seed_window(self, key: str, spent: float, period: float) -> None:
        """Create a missing budget bucket at ``spent`` (a live one already counts more: reservations in flight)."""
        try:
            if await self._client.call("HSETNX", key, "u", spent) and period > 0:
                await self._client.call("PEXPIRE", key, int((period + 86_400) * 1000))
        except _FAILURES as exc:
            raise LimitStoreUnavailable(type(exc).__name__) from exc

    async def ping(self) -> bool:
        return await self._client.ping()

    async def close(self) -> None:
        if self._queue:
            with contextlib.suppress(TimeoutError):  # what is not sent in time is given up: buckets refill alone
                async with asyncio.timeout(2.0):
                    await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.close()


def _encode(reservation: Reservation) -> bytes:
    return orjson.dumps(
        {
            "l": reservation.lease_id,
            "s": reservation.lease_seconds,
            "r": [_demand(d) for d in reservation.required],
            "a": [[_demand(d) for d in option] for option in reservation.alternatives],
            "p": "r" if reservation.most_room else "f",
            "t": reservation.tiers or [0] * len(reservation.alternatives),
        }
    )


def _demand(d: Demand) -> tuple[Any, ...]:
    return (d.key, d.kind, d.capacity, d.period, d.amount, 1 if d.enforce else 0)


def _decode(reply: list[int]) -> Decision:
    ok, blocked, retry_ms, chosen, n_audit = (int(v) for v in reply[:5])
    if not ok:
        return Decision(False, blocked, retry_ms / 1000)
    audit = tuple(int(v) for v in reply[5 : 5 + n_audit])
    rest = reply[5 + n_audit :]
    remaining = tuple(float(v) for v in rest[0::2])
    reset = tuple(int(v) / 1000 for v in rest[1::2])
    return Decision(True, BLOCKED_NONE, 0.0, chosen, audit, remaining, reset)


def _encode_settlements(batch: list[Settlement]) -> tuple[str, bytes]:
    refunds = [(d.key, d.capacity, d.period, units, d.kind) for s in batch for d, units in s.refunds]
    releases = [release for s in batch for release in s.releases]
    anchor = refunds[0][0] if refunds else releases[0][0] if releases else ""
    return anchor, orjson.dumps({"f": refunds, "r": releases})
