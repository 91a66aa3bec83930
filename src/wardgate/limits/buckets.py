"""The engine contract: demands on buckets (``Demand``), one reservation (``Reservation``: required demands that
must all fit, plus deployment alternatives of which the first that fits is taken), the engine's answer
(``Decision``) and what is given back afterwards (``Settlement``).

Bucket semantics, identical in both engines (the Lua script in ``reserve.lua`` and ``memory.py``):

* **rate** buckets hold ``level`` units (tokens or requests), at most ``capacity``, refilling ``capacity`` per
  ``period`` seconds; an absent bucket is full. A demand fits when ``level >= amount``; taking it lowers the level.
  An audit-mode demand never blocks and is taken even when it does not fit, so the level may go below zero, never
  below ``-capacity`` (one period of debt). A refund adds back (a negative refund charges more), capped at capacity.
* **concurrency** buckets hold leases (id → expiry); expired leases do not count. A demand fits when fewer than
  ``capacity`` leases are live; the lease is released on settlement or expires after ``lease_seconds``.

* **window** buckets (budgets) hold what was spent in one calendar window (the key names the window; ``period`` is
  the seconds left in it, 0 for a window that never ends). A demand fits when ``spent + amount <= capacity``; a
  refund lowers the spend (never below zero). Nothing refills: the next window is another key.

A reservation is all or nothing: when an enforced demand does not fit, nothing is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

RATE: Final = "r"
CONCURRENCY: Final = "c"
WINDOW: Final = "w"
BLOCKED_NONE = -1
BLOCKED_ALTERNATIVES = -2
"""``Decision.blocked`` when the required demands fit but no alternative did."""


@dataclass(frozen=True, slots=True)
class Demand:
    key: str
    """The bucket's storage key (the same on every replica)."""
    kind: Literal["r", "c", "w"]
    capacity: float
    period: float
    """Seconds to refill ``capacity`` (rate buckets)."""
    amount: float
    enforce: bool = True
    fail_closed: bool = False
    """When the shared store is unreachable: refuse (True) or fall back to this process's own counters."""


@dataclass(frozen=True, slots=True)
class Reservation:
    required: tuple[Demand, ...]
    alternatives: tuple[tuple[Demand, ...], ...] = ()
    lease_id: str = ""
    lease_seconds: float = 900.0
    most_room: bool = False
    """Take the alternative with the most headroom left (its tightest rate bucket's share) among those of the
    first tier that has room, instead of the first that fits."""
    tiers: tuple[int, ...] = ()
    """Each alternative's tier (priority); alternatives come in tier order."""

    @property
    def empty(self) -> bool:
        return not self.required and not self.alternatives


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    blocked: int = BLOCKED_NONE
    """Index into ``required`` of the enforced demand that did not fit, or ``BLOCKED_ALTERNATIVES``."""
    retry_after: float = 0.0
    """Seconds until the blocking demand would fit (0 when it never can: it exceeds the capacity)."""
    chosen: int = -1
    """Index of the alternative taken (-1: none offered or none fitted)."""
    audit: tuple[int, ...] = ()
    """Indices into ``required`` of audit-mode demands that did not fit (taken anyway)."""
    remaining: tuple[float, ...] = ()
    """After the reservation, per demand of ``required`` then of the chosen alternative: rate buckets' level,
    concurrency buckets' free slots."""
    reset: tuple[float, ...] = ()
    """Seconds until each of those buckets is full again (0 for concurrency)."""
    local: bool = False
    """Taken by this process's own counters because the shared store was unreachable (settle it there too)."""


@dataclass(slots=True)
class Settlement:
    """Given back after the call: ``refunds`` add units back to rate buckets (negative: charge more); ``releases``
    end concurrency leases."""

    refunds: list[tuple[Demand, float]] = field(default_factory=list)
    releases: list[tuple[str, str]] = field(default_factory=list)
    """(bucket key, lease id)"""

    def __bool__(self) -> bool:
        return bool(self.refunds or self.releases)


class LimitEngine(Protocol):
    """Where the buckets live: ``memory.MemoryEngine`` (embedded) or ``shared.SharedEngine`` (Redis)."""

    async def reserve(self, reservation: Reservation) -> Decision: ...

    def settle(self, settlement: Settlement, local: bool = False) -> None:
        """Give back (never waits: a shared store gets it behind the request)."""

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
