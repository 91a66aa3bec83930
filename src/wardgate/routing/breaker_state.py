"""The state one circuit breaker keeps (``Breaker``), its sliding outcome window, and the transitions a board
reports to its listener (``Transition``: what ``routing.breaker_shared`` sends to the other replicas)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

State = Literal["closed", "open", "half_open"]
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"
TransitionKind = Literal["open", "half_open", "closed", "reset", "cool_down"]
_BUCKETS = 10


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one deployment's breaker, as durations (never absolute times: clocks differ between
    replicas). ``open``: open for ``duration`` seconds, ``level`` trips in a row; ``half_open``: a probe is out
    for at most ``duration`` seconds; ``closed``: a probe succeeded; ``reset``: closed by an admin (also ends a
    provider cool-down); ``cool_down``: the provider said to wait ``duration`` seconds."""

    deployment_id: str
    kind: TransitionKind
    duration: float = 0.0
    level: int = 0


class Window:
    """Outcomes of the last ``span`` seconds in ten buckets (so the window slides in tenths of its span), with
    running totals so reading it costs nothing."""

    __slots__ = ("_buckets", "_width", "failures", "requests")

    def __init__(self, span: float) -> None:
        self._width = span / _BUCKETS
        self._buckets: deque[list[int]] = deque()  # [slot, requests, failures]
        self.requests = 0
        self.failures = 0

    def add(self, now: float, requests: int, failures: int) -> None:
        slot = int(now // self._width)
        self._expire(slot)
        if self._buckets and self._buckets[-1][0] == slot:
            bucket = self._buckets[-1]
            bucket[1] += requests
            bucket[2] += failures
        else:
            self._buckets.append([slot, requests, failures])
        self.requests += requests
        self.failures += failures

    def counts(self, now: float) -> tuple[int, int]:
        """(requests, failures) within the window ending at ``now``."""
        self._expire(int(now // self._width))
        return self.requests, self.failures

    def peek(self) -> tuple[int, int]:
        """The totals as of the last update (for reports, which must not change state)."""
        return self.requests, self.failures

    def clear(self) -> None:
        self._buckets.clear()
        self.requests = self.failures = 0

    def _expire(self, slot: int) -> None:
        while self._buckets and self._buckets[0][0] <= slot - _BUCKETS:
            _, requests, failures = self._buckets.popleft()
            self.requests -= requests
            self.failures -= failures


@dataclass(slots=True)
class Breaker:
    """One deployment's breaker. ``state`` is what was last decided: an ``open`` breaker whose ``open_until`` has
    passed is half-open (the board notices lazily). ``probe_until`` > now means a probe is out (``probe_local``:
    sent by this replica, so the next outcome recorded here is its answer)."""

    window: Window
    state: State = CLOSED
    consecutive: int = 0
    level: int = 0
    """Trips since the last close: the cool-down doubles with each."""
    trips: int = 0
    opened_at: float | None = None
    open_until: float = 0.0
    cooldown_until: float = 0.0
    """The provider's ``Retry-After``: skipped until then, not a trip."""
    probe_until: float = 0.0
    probe_local: bool = False
    last_change: Literal["local", "remote", "admin"] | None = None
    unsent: list[int] = field(default_factory=lambda: [0, 0])
    """[requests, failures] recorded here while closed and not yet sent to the other replicas."""

    def effective(self, now: float) -> State:
        if self.state == OPEN and now >= self.open_until:
            return HALF_OPEN
        return self.state

    def probe_busy(self, now: float) -> bool:
        return self.probe_until > now

    def close(self) -> None:
        self.state = CLOSED
        self.consecutive = 0
        self.level = 0
        self.opened_at = None
        self.open_until = 0.0
        self.probe_until = 0.0
        self.probe_local = False
        self.window.clear()

    def eligible_at(self, now: float) -> float:
        """When this deployment may next be tried (``now`` or earlier: it may be tried now)."""
        at = self.cooldown_until
        state = self.effective(now)
        if state == OPEN:
            at = max(at, self.open_until)
        elif state == HALF_OPEN and self.probe_busy(now):
            at = max(at, self.probe_until)
        return at
