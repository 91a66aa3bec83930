"""Prometheus metrics, all defined here. The request path pays nothing for them: what they report is state the
gateway keeps anyway (deployment health, circuit breakers, rate-limit counters), read when Prometheus scrapes.

Families (labels kept low-cardinality: deployment ids and limit names come from config, never from requests):

- ``wardgate_upstream_attempts_total{deployment, outcome}``: attempts by outcome — ``success``, ``failure`` (the
  deployment's fault: 5xx, 429, timeouts, connection errors), ``error`` (the request's own fault), ``abandoned``
  (the client left);
- ``wardgate_upstream_in_flight{deployment}``, ``wardgate_upstream_ttft_seconds{deployment}`` and
  ``wardgate_upstream_duration_seconds{deployment}`` (moving averages);
- ``wardgate_breaker_state{deployment, state}`` (1 for the current state of closed / open / half_open) and
  ``wardgate_breaker_consecutive_failures{deployment}``;
- ``wardgate_rate_limit_decisions_total{limit, scope, outcome}`` (``refused``, ``would_refuse`` in audit mode);
- ``wardgate_rate_limit_store_up`` (1 while the shared store answers), ``wardgate_rate_limit_store_outages_total``,
  ``wardgate_rate_limit_local_fallbacks_total``, ``wardgate_rate_limit_fail_closed_refusals_total``.

Per process: with several workers each worker reports its own (the scrape lands on one of them).
Must not import ``api``, ``routing`` or ``providers``: the sources are callables the app hands in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "open", "half_open")


@dataclass(frozen=True, slots=True)
class Sources:
    health: Callable[[], Mapping[str, Mapping[str, Any]]]
    """Deployment id → ``HealthRegistry`` view (successes, failures, errors, abandoned, in_flight, ewma_*_ms)."""
    breakers: Callable[[], Mapping[str, Mapping[str, Any]]]
    """Deployment id → breaker report (state, consecutive_failures)."""
    limit_events: Callable[[], Mapping[tuple[str, str, str], int]]
    """(limit, scope, outcome) → count."""
    limit_engine: Callable[[], Mapping[str, Any]]
    """The rate-limit engine's ``stats()``."""


class GatewayCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._deployments()
        yield from self._breakers()
        yield from self._limits()

    def _deployments(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "wardgate_upstream_attempts", "Upstream attempts by outcome.", labels=["deployment", "outcome"]
        )
        in_flight = GaugeMetricFamily("wardgate_upstream_in_flight", "Attempts in flight.", labels=["deployment"])
        ttft = GaugeMetricFamily(
            "wardgate_upstream_ttft_seconds", "Moving average time to first byte.", labels=["deployment"]
        )
        duration = GaugeMetricFamily(
            "wardgate_upstream_duration_seconds", "Moving average attempt duration.", labels=["deployment"]
        )
        for deployment, view in self.sources.health().items():
            for outcome, field in (
                ("success", "successes"),
                ("failure", "failures"),
                ("error", "errors"),
                ("abandoned", "abandoned"),
            ):
                attempts.add_metric([deployment, outcome], float(view.get(field) or 0))
            in_flight.add_metric([deployment], float(view.get("in_flight") or 0))
            if view.get("ewma_ttft_ms") is not None:
                ttft.add_metric([deployment], float(view["ewma_ttft_ms"]) / 1000)
            if view.get("ewma_duration_ms") is not None:
                duration.add_metric([deployment], float(view["ewma_duration_ms"]) / 1000)
        yield from (attempts, in_flight, ttft, duration)

    def _breakers(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "wardgate_breaker_state", "1 for the breaker's current state.", labels=["deployment", "state"]
        )
        failures = GaugeMetricFamily(
            "wardgate_breaker_consecutive_failures", "Consecutive failures.", labels=["deployment"]
        )
        for deployment, report in self.sources.breakers().items():
            current = report.get("state", "closed")
            for name in BREAKER_STATES:
                state.add_metric([deployment, name], 1.0 if name == current else 0.0)
            failures.add_metric([deployment], float(report.get("consecutive_failures") or 0))
        yield from (state, failures)

    def _limits(self) -> Iterator[Metric]:
        decisions = CounterMetricFamily(
            "wardgate_rate_limit_decisions",
            "Rate-limit refusals (and audit-mode would-be refusals).",
            labels=["limit", "scope", "outcome"],
        )
        for (limit, scope, outcome), count in self.sources.limit_events().items():
            decisions.add_metric([limit, scope, outcome], float(count))
        yield decisions
        stats = self.sources.limit_engine()
        yield GaugeMetricFamily(
            "wardgate_rate_limit_store_up",
            "1 while the rate-limit store answers.",
            value=1.0 if stats.get("available", True) else 0.0,
        )
        for key, name, text in (
            ("outages", "wardgate_rate_limit_store_outages", "Times the shared store became unreachable."),
            ("local_fallbacks", "wardgate_rate_limit_local_fallbacks", "Reservations counted locally (store down)."),
            ("fail_closed_refusals", "wardgate_rate_limit_fail_closed_refusals", "Refused: fail-closed, store down."),
        ):
            yield CounterMetricFamily(name, text, value=float(stats.get(key) or 0))


def registry_for(sources: Sources) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(sources))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
