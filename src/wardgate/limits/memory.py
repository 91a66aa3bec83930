"""The in-memory engine (embedded mode, and the local fallback of shared mode): the bucket semantics of
``buckets`` on plain dicts. Single-threaded asyncio makes each reservation atomic without a lock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from wardgate.limits.buckets import (
    BLOCKED_ALTERNATIVES,
    BLOCKED_NONE,
    CONCURRENCY,
    WINDOW,
    Decision,
    Demand,
    Reservation,
    Settlement,
)

_SWEEP_EVERY = 4096
"""Reservations between sweeps of full (forgettable) buckets and empty lease sets, so memory stays bounded."""


class MemoryEngine:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rate: dict[str, list[float]] = {}
        """key → [level, updated, capacity, period]"""
        self._leases: dict[str, dict[str, float]] = {}
        """key → {lease id: expiry}"""
        self._ops = 0
        self._claims: dict[str, float] = {}
        self._spent: dict[str, list[float]] = {}
        """window key → [spent, forget after]"""

    async def reserve(self, reservation: Reservation) -> Decision:
        return self.reserve_now(reservation)

    def reserve_now(self, reservation: Reservation) -> Decision:
        now = self._clock()
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0:
            self._sweep(now)
        required = reservation.required
        blocked, wait, audit = self._check(required, now)
        if blocked != BLOCKED_NONE:
            return Decision(False, blocked, wait)
        chosen = -1
        if reservation.alternatives:
            chosen, wait = self._choose(reservation, now)
            if chosen < 0:
                return Decision(False, BLOCKED_ALTERNATIVES, wait)
        taken = [*required, *(reservation.alternatives[chosen] if chosen >= 0 else ())]
        remaining, reset = [], []
        for demand in taken:
            left, full_in = self._take(demand, now, reservation)
            remaining.append(left)
            reset.append(full_in)
        return Decision(True, BLOCKED_NONE, 0.0, chosen, tuple(audit), tuple(remaining), tuple(reset))

    def settle(self, settlement: Settlement, local: bool = False) -> None:
        self.settle_now(settlement)

    async def claim(self, key: str, ttl: float) -> bool:
        """True for the first claim of ``key`` (budget alerts: once per budget, window and threshold)."""
        now = self._clock()
        claims = self._claims
        if claims.get(key, 0.0) > now:
            return False
        claims[key] = now + ttl
        return True

    def stats(self) -> dict[str, object]:
        return {"store": "memory", "available": True, "buckets": len(self._rate), "lease_sets": len(self._leases)}

    def settle_now(self, settlement: Settlement) -> None:
        now = self._clock()
        for demand, units in settlement.refunds:
            if demand.kind == WINDOW:
                state = self._spent.get(demand.key)
                if state is not None:
                    state[0] = max(0.0, state[0] - units)
                continue
            level = self._level(demand, now)
            self._rate[demand.key] = [_bounded(level + units, demand.capacity), now, demand.capacity, demand.period]
        for key, lease in settlement.releases:
            leases = self._leases.get(key)
            if leases is not None:
                leases.pop(lease, None)

    async def close(self) -> None:
        return None

    def _choose(self, reservation: Reservation, now: float) -> tuple[int, float]:
        """(the alternative to take or -1, the shortest wait when none fits)."""
        tiers = reservation.tiers or (0,) * len(reservation.alternatives)
        chosen, best_room, waits = -1, -math.inf, []
        for index, option in enumerate(reservation.alternatives):
            if chosen >= 0 and (not reservation.most_room or tiers[index] != tiers[chosen]):
                break
            miss, wait, _ = self._check(option, now)
            if miss != BLOCKED_NONE:
                waits.append(wait)
                continue
            room = min(
                ((self._level(d, now) - d.amount) / d.capacity for d in option if d.kind != CONCURRENCY),
                default=math.inf,
            )
            if chosen < 0 or room > best_room:
                chosen, best_room = index, room
        positive = [w for w in waits if w > 0]
        return chosen, (min(positive) if positive else 0.0)

    def _check(self, demands: Sequence[Demand], now: float) -> tuple[int, float, list[int]]:
        """(index of the first enforced demand that does not fit or BLOCKED_NONE, its wait, audit misses)."""
        audit: list[int] = []
        for index, demand in enumerate(demands):
            wait = self._shortfall(demand, now)
            if wait is None:
                continue
            if demand.enforce:
                return index, wait, audit
            audit.append(index)
        return BLOCKED_NONE, 0.0, audit

    def _shortfall(self, demand: Demand, now: float) -> float | None:
        """None when the demand fits, else seconds until it would (0: never, it exceeds the capacity)."""
        if demand.kind == WINDOW:
            spent = self.spent(demand.key, now)
            if spent + demand.amount <= demand.capacity:
                return None
            return 0.0 if demand.amount > demand.capacity else demand.period
        if demand.kind == CONCURRENCY:
            live = self._live(demand.key, now)
            if len(live) < demand.capacity:
                return None
            return max(0.0, min(live.values()) - now) if demand.amount <= demand.capacity else 0.0
        level = self._level(demand, now)
        if level >= demand.amount:
            return None
        if demand.amount > demand.capacity:
            return 0.0
        return (demand.amount - level) * demand.period / demand.capacity

    def _take(self, demand: Demand, now: float, reservation: Reservation) -> tuple[float, float]:
        if demand.kind == WINDOW:
            spent = self.spent(demand.key, now) + demand.amount
            forget = now + demand.period + 86_400 if demand.period > 0 else math.inf
            self._spent[demand.key] = [spent, forget]
            return demand.capacity - spent, demand.period
        if demand.kind == CONCURRENCY:
            live = self._live(demand.key, now)
            live[reservation.lease_id] = now + reservation.lease_seconds
            self._leases[demand.key] = live
            return max(0.0, demand.capacity - len(live)), 0.0
        level = _bounded(self._level(demand, now) - demand.amount, demand.capacity)
        self._rate[demand.key] = [level, now, demand.capacity, demand.period]
        return math.floor(level), (demand.capacity - level) * demand.period / demand.capacity

    def spent(self, key: str, now: float | None = None) -> float:
        """What a window bucket holds (0 when absent or past its window)."""
        state = self._spent.get(key)
        if state is None:
            return 0.0
        if state[1] <= (self._clock() if now is None else now):
            del self._spent[key]
            return 0.0
        return state[0]

    async def seed_window(self, key: str, spent: float, period: float) -> None:
        self.seed(key, spent, period)

    def seed(self, key: str, spent: float, period: float) -> None:
        """Start a window bucket at what the ledger says was spent (never lowers one already counting)."""
        now = self._clock()
        if spent > self.spent(key, now):
            self._spent[key] = [spent, now + period + 86_400 if period > 0 else math.inf]

    def _level(self, demand: Demand, now: float) -> float:
        state = self._rate.get(demand.key)
        if state is None:
            return demand.capacity
        level, updated = state[0], state[1]
        return min(demand.capacity, level + max(0.0, now - updated) * demand.capacity / demand.period)

    def _live(self, key: str, now: float) -> dict[str, float]:
        leases = self._leases.get(key)
        if not leases:
            return {}
        return {lease: expiry for lease, expiry in leases.items() if expiry > now}

    def _sweep(self, now: float) -> None:
        """Forget buckets that are full by now (an absent bucket is full) and lease sets with no live lease."""
        self._leases = {key: live for key in list(self._leases) if (live := self._live(key, now))}
        stale = [
            key
            for key, (level, updated, capacity, period) in self._rate.items()
            if level + (now - updated) * capacity / period >= capacity
        ]
        for key in stale:
            del self._rate[key]


def _bounded(level: float, capacity: float) -> float:
    return max(-capacity, min(capacity, level))
