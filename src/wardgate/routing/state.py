"""``RoutingState``: what routing keeps for the life of the process, across config reloads — the breaker board,
per-deployment health, the retry budget, admission control and the random source of the strategies. It hangs off
``AppState`` (``state.routing``); each snapshot's router reads it on every request, so replacing the board (say,
by one shared through Redis) takes effect at once."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wardgate.config.routing_config import RoutingConfig
from wardgate.limits.buckets import LimitEngine
from wardgate.limits.memory import MemoryEngine
from wardgate.routing.admission import Admission
from wardgate.routing.breaker import BreakerBoard, OpenBoard
from wardgate.routing.health import HealthRegistry
from wardgate.routing.retry import RetryBudget

wall_clock = time.time
"""The breaker board's clock: wall time, so cool-downs mean the same on every replica."""


@dataclass(slots=True)
class RoutingState:
    breakers: BreakerBoard = field(default_factory=OpenBoard)
    health: HealthRegistry = field(default_factory=HealthRegistry)
    budget: RetryBudget = field(default_factory=RetryBudget)
    admission: Admission = field(default_factory=Admission)
    rng: random.Random = field(default_factory=random.Random)
    limits: LimitEngine = field(default_factory=MemoryEngine)
    """Rate-limit counters: in memory, or shared through Redis (``limits.shared``)."""
    listeners: list[Any] = field(default_factory=list)
    """Usage listeners (``execute.UsageListener``) every snapshot's router calls when a request is over."""
    limit_events: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    budget_alerts: Any = None
    """``limits.alerts.BudgetAlerts``: the process's budget notifications (owned here so reloads keep them)."""
    """(limit, scope, outcome) → how many requests a limit refused (or would have, in audit mode)."""

    def configure(self, config: RoutingConfig, deployment_ids: frozenset[str]) -> None:
        """Take a new config's limits (on start and on every reload) and forget removed deployments' stats."""
        self.budget.configure(config.retry_budget.ratio, config.retry_budget.minimum)
        admission = config.admission
        self.admission.configure(admission.max_in_flight, admission.queue, admission.queue_timeout_ms / 1000)
        self.health.retain(deployment_ids)

    def stats(self) -> dict[str, Any]:
        """Process-wide routing numbers (admission, retry budget), for the admin API and metrics."""
        budget = self.budget
        return {
            "admission": self.admission.stats(),
            "retry_budget": {
                "requests_in_flight": budget.requests,
                "retries_in_flight": budget.retries,
                "denied": budget.denied,
                "ratio": budget.ratio,
                "minimum": budget.minimum,
            },
        }
