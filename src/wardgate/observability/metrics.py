"""Prometheus metrics: what ``GET /metrics`` serves (``Metrics``). Every family, its labels and the cardinality rule
are in ``docs/metrics.md``. Two kinds of source:

- requests, counted by ``metrics_observer.MetricsObserver`` when each one ends (requests, latency histograms,
  tokens, cost, errors, cache, policy decisions, upstream attempts by status);
- state the gateway keeps anyway, read at scrape time by ``GatewayCollector`` (the request path pays nothing):
  ``wardgate_upstream_attempts_total{deployment, outcome}`` (``success``, ``failure``: the deployment's fault,
  ``error``: the request's own, ``abandoned``: the client left), ``wardgate_upstream_in_flight{deployment}``,
  moving averages ``wardgate_upstream_ttft_seconds`` / ``_duration_seconds{deployment}``,
  ``wardgate_breaker_state{deployment, state}`` (1 for the current one of closed / open / half_open),
  ``wardgate_breaker_consecutive_failures{deployment}``, ``wardgate_rate_limit_decisions_total{limit, scope,
  outcome}``, the rate-limit store's ``_up`` / ``_outages_total`` / ``_local_fallbacks_total`` /
  ``_fail_closed_refusals_total``, admission (``wardgate_requests_in_flight``, ``_queued``,
  ``wardgate_admission_rejected_total``), ``wardgate_retry_budget_denied_total`` and ``wardgate_workers``.

One process: both are collected at scrape time. Several workers (``metrics_shared``): request families are
written to shared files as they change; each worker publishes its state every ``PUBLISH_SECONDS`` and right
before it answers a scrape; a scrape merges every worker's files — counters and histograms summed, gauges by
``GAUGE_MODES``.

Must not import ``api``, ``routing`` or ``providers``: the sources are callables the app hands in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from wardgate.observability.metrics_shared import GAUGE_MODES as MODES
from wardgate.observability.metrics_shared import encode, entry_key, replace_file
from wardgate.observability.metrics_store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "open", "half_open")
PUBLISH_SECONDS = 2.0
GAUGE_MODES: dict[str, str] = {
    "wardgate_upstream_in_flight": "livesum",
    "wardgate_requests_in_flight": "livesum",
    "wardgate_requests_queued": "livesum",
    "wardgate_workers": "livesum",
    "wardgate_write_behind_pending_bytes": "livesum",
    "wardgate_upstream_ttft_seconds": "livemax",
    "wardgate_upstream_duration_seconds": "livemax",
    "wardgate_breaker_state": "livemax",
    "wardgate_breaker_consecutive_failures": "livemax",
    "wardgate_rate_limit_store_up": "livemin",
}
"""How each state gauge merges across workers: in-flight counts add up; a breaker state or a moving average shows
the worst worker's (a breaker open on any worker reads 1); the store is up only if every worker reaches it."""

_log = logging.getLogger("wardgate.metrics")


def _nothing() -> Mapping[str, Any]:
    return {}


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
    routing: Callable[[], Mapping[str, Any]] = field(default=_nothing)
    """``RoutingState.stats()``: admission and retry budget."""
    write_behind: Callable[[], Mapping[str, Any]] = field(default=_nothing)
    """Pipeline name ("audit", "spend") → ``SpoolShipper.snapshot()``; "sinks" → the audit forwarder's
    ``stats()``; "observer_failures" → failed observer calls."""


class GatewayCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._deployments()
        yield from self._breakers()
        yield from self._limits()
        yield from self._routing()
        yield from self._write_behind()

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
            for outcome, name in (
                ("success", "successes"),
                ("failure", "failures"),
                ("error", "errors"),
                ("abandoned", "abandoned"),
            ):
                attempts.add_metric([deployment, outcome], float(view.get(name) or 0))
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
            "Rate-limit and budget refusals (and audit-mode would-be refusals).",
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

    def _routing(self) -> Iterator[Metric]:
        stats = self.sources.routing()
        admission = stats.get("admission") or {}
        budget = stats.get("retry_budget") or {}
        yield GaugeMetricFamily(
            "wardgate_requests_in_flight", "Proxy requests admitted and not over.", value=admission.get("in_flight", 0)
        )
        yield GaugeMetricFamily(
            "wardgate_requests_queued", "Proxy requests waiting for admission.", value=admission.get("queued", 0)
        )
        yield CounterMetricFamily(
            "wardgate_admission_rejected",
            "Proxy requests refused at once with 503 overloaded (in-flight limit and queue full).",
            value=float(admission.get("rejected") or 0),
        )
        yield CounterMetricFamily(
            "wardgate_retry_budget_denied", "Retries the retry budget refused.", value=float(budget.get("denied") or 0)
        )
        yield GaugeMetricFamily("wardgate_workers", "Worker processes serving (1 per process).", value=1.0)

    def _write_behind(self) -> Iterator[Metric]:
        """The audit trail's and the spend ledger's write-behind: records handed over, refused (backpressure: the
        spool was full — never silent), shipped, replayed, set aside; failed database writes; bytes waiting."""
        stats = self.sources.write_behind()
        records = CounterMetricFamily(
            "wardgate_write_behind_records",
            "Audit and spend records by what became of them: recorded (spooled), refused (spool full or closed), "
            "shipped, replayed (already stored), rejected (set aside).",
            labels=["pipeline", "outcome"],
        )
        failures = CounterMetricFamily(
            "wardgate_write_behind_failures", "Failed attempts to write a batch to the database.", labels=["pipeline"]
        )
        pending = GaugeMetricFamily(
            "wardgate_write_behind_pending_bytes", "Spooled bytes not yet in the database.", labels=["pipeline"]
        )
        for pipeline in ("audit", "spend"):
            snap = stats.get(pipeline)
            if not snap:
                continue
            for outcome in ("recorded", "refused", "shipped", "replayed", "rejected"):
                records.add_metric([pipeline, outcome], float(snap.get(outcome) or 0))
            failures.add_metric([pipeline], float(snap.get("failures") or 0))
            pending.add_metric([pipeline], float((snap.get("spool") or {}).get("unshipped_bytes") or 0))
        yield from (records, failures, pending)
        delivered = CounterMetricFamily(
            "wardgate_audit_sink_records", "Audit records delivered to each sink.", labels=["sink"]
        )
        sink_failures = CounterMetricFamily(
            "wardgate_audit_sink_failures", "Failed deliveries to each sink (retried).", labels=["sink"]
        )
        for name, sink in (stats.get("sinks") or {}).items():
            delivered.add_metric([name], float(sink.get("delivered") or 0))
            sink_failures.add_metric([name], float(sink.get("failures") or 0))
        yield from (delivered, sink_failures)
        yield CounterMetricFamily(
            "wardgate_observer_failures",
            "Failed calls of request observers (audit, metrics, traces, access log): logged, never fatal.",
            value=float(stats.get("observer_failures") or 0),
        )


class StatePublisher:
    """Several workers: writes this worker's ``GatewayCollector`` numbers to its state files — counters to
    ``counter_<token>-state.db``, gauges to ``gauge_<mode>_<pid>.db`` — every ``interval`` and on demand."""

    def __init__(
        self,
        collector: Collector,
        directory: Path,
        token: str,
        interval: float = PUBLISH_SECONDS,
        pid: int | None = None,
    ) -> None:
        self.collector = collector
        self.interval = interval
        pid = pid if pid is not None else os.getpid()
        self._paths = {"counter": directory / f"counter_{token}-state.db"}
        self._paths.update({mode: directory / f"gauge_{mode}_{pid}.db" for mode in MODES})
        self._keys: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self._logged = 0.0

    def files(self) -> dict[Path, bytes]:
        """This worker's state, encoded (on the event loop: the sources are the loop's)."""
        groups: dict[str, list[tuple[str, float]]] = {name: [] for name in self._paths}
        for family in self.collector.collect():
            target = "counter" if family.type == "counter" else GAUGE_MODES.get(family.name, "livemax")
            entries = groups[target]
            for sample in family.samples:
                entries.append((self._key(family, sample), sample.value))
        return {self._paths[name]: encode(entries) for name, entries in groups.items()}

    def _key(self, family: Metric, sample: Sample) -> str:
        labels = tuple(sorted(sample.labels.items()))
        found = self._keys.get((family.name, sample.name, labels))
        if found is None:
            if len(self._keys) >= 65_536:
                self._keys.clear()
            found = entry_key(family.name, sample.name, sample.labels, family.documentation)
            self._keys[(family.name, sample.name, labels)] = found
        return found

    async def publish(self) -> None:
        async with self._lock:  # one write at a time, in order: a counter never goes back
            files = self.files()
            await asyncio.to_thread(_write_all, files)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wardgate-metrics-publisher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception:  # the directory went away (the server is stopping) or a disk error: try again
                self.failures += 1
                if time.monotonic() - self._logged >= 60:
                    self._logged = time.monotonic()
                    _log.exception("publishing metrics failed (%d failures so far)", self.failures)
            await asyncio.sleep(self.interval)


def _write_all(files: Mapping[Path, bytes]) -> None:
    for path, data in files.items():
        replace_file(path, data)


class Metrics:
    """What ``GET /metrics`` renders: this process's families and state, or — ``store.directory`` set — the merge
    of every worker's files, after publishing this worker's state."""

    def __init__(self, sources: Sources, store: Store) -> None:
        self.store = store
        self.collector = GatewayCollector(sources)
        self.registry = CollectorRegistry(auto_describe=False)
        self.publisher: StatePublisher | None = None
        if store.directory is None:
            self.registry.register(store)
            self.registry.register(self.collector)
        else:
            self.publisher = StatePublisher(self.collector, store.directory, store.token)
            MultiProcessCollector(self.registry, str(store.directory))  # type: ignore[no-untyped-call]

    def start(self) -> None:
        """Start publishing this worker's state (several workers only; call on the event loop)."""
        if self.publisher is not None:
            self.publisher.start()

    async def render(self) -> bytes:
        if self.publisher is None:
            return generate_latest(self.registry)
        await self.publisher.publish()
        return await asyncio.to_thread(generate_latest, self.registry)

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()


def open_metrics(sources: Sources, store: Store) -> Metrics:
    metrics = Metrics(sources, store)
    metrics.start()
    return metrics
