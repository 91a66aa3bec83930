"""Per-deployment statistics kept in memory by each process: requests in flight, an EWMA of time to first byte
and of duration, counts and the most recent attempt outcomes. Strategies read it (``lowest_latency``,
``least_busy``); the admin API shows ``snapshot()``. Bounded: one entry per configured deployment (``retain``
drops the ones a reload removed) and a short ring of outcomes each."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

_ALPHA = 0.3
"""Weight of the newest sample in the moving averages (about the last five attempts dominate)."""
_RECENT = 20


class DeploymentHealth:
    """One deployment's numbers. Latencies are seconds; ``None`` until a first sample."""

    __slots__ = (
        "abandoned",
        "errors",
        "ewma_duration",
        "ewma_ttft",
        "failures",
        "in_flight",
        "last_error",
        "recent",
        "successes",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.successes = 0
        self.abandoned = 0
        self.failures = 0
        """Attempts that failed through the deployment's fault (what its breaker counts)."""
        self.errors = 0
        """Attempts that failed through no fault of the deployment (the request's own, or its deadline)."""
        self.ewma_ttft: float | None = None
        self.ewma_duration: float | None = None
        self.last_error: str | None = None
        self.recent: deque[tuple[float, int | None, str | None]] = deque(maxlen=_RECENT)

    def latency(self, stream: bool) -> float | None:
        """What ``lowest_latency`` compares: time to first byte for a stream, duration otherwise."""
        return self.ewma_ttft if stream else self.ewma_duration

    def view(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "successes": self.successes,
            "failures": self.failures,
            "errors": self.errors,
            "abandoned": self.abandoned,
            "ewma_ttft_ms": _ms(self.ewma_ttft),
            "ewma_duration_ms": _ms(self.ewma_duration),
            "last_error": self.last_error,
            "recent": [{"at": round(at, 3), "status": status, "error": error} for at, status, error in self.recent],
        }


class HealthRegistry:
    """Statistics by deployment id. Lives in ``AppState`` (through ``RoutingRuntime``): reloads keep it."""

    def __init__(self) -> None:
        self._by_id: dict[str, DeploymentHealth] = {}

    def get(self, deployment_id: str) -> DeploymentHealth:
        found = self._by_id.get(deployment_id)
        if found is None:
            found = self._by_id[deployment_id] = DeploymentHealth()
        return found

    def peek(self, deployment_id: str) -> DeploymentHealth | None:
        return self._by_id.get(deployment_id)

    def begin(self, deployment_id: str) -> DeploymentHealth:
        """An attempt starts: count it in flight until ``end``."""
        health = self.get(deployment_id)
        health.in_flight += 1
        return health

    @staticmethod
    def end(
        health: DeploymentHealth,
        *,
        status: int | None,
        error: str | None = None,
        fault: bool = False,
        ttft: float | None = None,
        duration: float | None = None,
    ) -> None:
        """An attempt ended (a stream: when it ended): a success without ``error``, else a failure (``fault``:
        the deployment's) or another error. Latencies feed the averages only from successes, so a fast failure
        never makes a broken deployment look quick."""
        health.in_flight -= 1
        if error is None:
            health.successes += 1
            if ttft is not None:
                health.ewma_ttft = (
                    ttft if health.ewma_ttft is None else health.ewma_ttft + _ALPHA * (ttft - health.ewma_ttft)
                )
            if duration is not None:
                health.ewma_duration = (
                    duration
                    if health.ewma_duration is None
                    else health.ewma_duration + _ALPHA * (duration - health.ewma_duration)
                )
        else:
            if fault:
                health.failures += 1
            else:
                health.errors += 1
            health.last_error = error
        health.recent.append((time.time(), status, error))

    @staticmethod
    def abandon(health: DeploymentHealth) -> None:
        """An attempt ended without an outcome (the client left, or the stream was closed unread)."""
        health.in_flight -= 1
        health.abandoned += 1
        health.recent.append((time.time(), 499, "client_disconnected"))

    def retain(self, deployment_ids: frozenset[str]) -> None:
        """Forget deployments the current config no longer has (their in-flight attempts finish unrecorded)."""
        for gone in [key for key in self._by_id if key not in deployment_ids]:
            del self._by_id[gone]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every deployment's numbers (JSON-ready), for the admin API."""
        return {deployment_id: health.view() for deployment_id, health in sorted(self._by_id.items())}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
