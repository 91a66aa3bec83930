"""``MetricsObserver``: counts every finished request (``observability.events``) into Prometheus families — requests,
latencies, tokens, cost, errors, cache use, policy decisions, upstream attempts.

Cardinality is bounded by design, never by what clients send: ``model`` is a model name or alias the config
defines (as the client sent it), anything else ``other`` (``none`` when the request named none); ``provider`` and
``deployment`` come from the config; ``status`` is an HTTP status; ``code`` an error code of the gateway's — or,
for an upstream's own codes, one of the first 128 distinct identifiers seen, ``other`` beyond; ``dialect`` and
``endpoint`` are fixed sets. ``team`` (a team id) is added to request, token and cost families only when
``observability.metrics.team_labels`` is on: one series per team.

Costs a few microseconds per request: one dict lookup and a few additions per family touched (``metrics_store``).
"""

from __future__ import annotations

import re
from typing import Any

from wardgate.core.types import RequestContext
from wardgate.observability.events import RequestEnd
from wardgate.observability.metrics_shared import shared_dir
from wardgate.observability.metrics_store import Store

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
"""Seconds, a cached answer's few milliseconds to a long generation's minutes."""
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60)
"""Seconds; finest where first tokens usually arrive (0.1-3 s)."""
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
"""Seconds: the gateway's own time, 100 µs to 100 ms."""
MAX_CODES = 128
OTHER = "other"
NONE = "none"

_STATUS = {status: str(status) for status in range(100, 600)}
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_REQUEST_LABELS = ("endpoint", "dialect", "model", "provider", "status", "outcome", "team")
_USAGE_LABELS = ("model", "provider", "team")


class MetricsObserver:
    """The request metrics of this process (``store``: shared by the workers when ``WARDGATE_METRICS_DIR`` is
    set). An ``Observer``: cheap, never blocks, never raises on a well-formed end."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store if store is not None else Store(shared_dir())
        self._define(self.store)
        self._snapshot: Any = None
        self._routes: Any = None
        self._teams = False
        self._codes: dict[str, str] = {}

    def _define(self, s: Store) -> None:
        self.requests = s.counter("wardgate_requests", "Requests by how they ended.", _REQUEST_LABELS)
        self.errors = s.counter(
            "wardgate_request_errors", "Requests that ended with an error.", ("model", "provider", "status", "code")
        )
        self.duration = s.histogram(
            "wardgate_request_duration_seconds",
            "From arrival to the end of the answer (a stream's last event).",
            ("model", "provider", "stream"),
            DURATION_BUCKETS,
        )
        self.ttft = s.histogram(
            "wardgate_time_to_first_token_seconds",
            "From arrival to the first byte of the answer that served the request (a stream's first event).",
            ("model", "provider", "stream"),
            TTFT_BUCKETS,
        )
        self.upstream = s.histogram(
            "wardgate_upstream_latency_seconds",
            "From the start of the first upstream attempt to the end of the last (retries and their waits included).",
            ("model", "provider"),
            DURATION_BUCKETS,
        )
        self.overhead = s.histogram(
            "wardgate_gateway_overhead_seconds",
            "The gateway's own time: total minus upstream latency, for requests that reached an upstream.",
            ("dialect", "stream"),
            OVERHEAD_BUCKETS,
        )
        self.input_tokens = s.counter("wardgate_input_tokens", "Input tokens, cached ones included.", _USAGE_LABELS)
        self.output_tokens = s.counter("wardgate_output_tokens", "Output tokens, reasoning included.", _USAGE_LABELS)
        self.cached_tokens = s.counter("wardgate_cached_input_tokens", "Input tokens read from a cache.", _USAGE_LABELS)
        self.cache_write_tokens = s.counter(
            "wardgate_cache_write_tokens", "Input tokens written to a provider's prompt cache.", _USAGE_LABELS
        )
        self.reasoning_tokens = s.counter("wardgate_reasoning_tokens", "Output tokens spent reasoning.", _USAGE_LABELS)
        self.cost = s.counter("wardgate_cost_usd", "What requests cost (USD), from the price catalog.", _USAGE_LABELS)
        self.unpriced = s.counter(
            "wardgate_unpriced_requests", "Requests with usage but no price for their model.", ("model", "provider")
        )
        self.cache = s.counter(
            "wardgate_cache_requests",
            "Answered requests: from the gateway's cache (hit) or from a provider (miss).",
            ("model", "result"),
        )
        self.decisions = s.counter(
            "wardgate_policy_decisions",
            "Rate-limit and budget decisions: refused, would_refuse (audit mode), downgraded.",
            ("policy", "name", "outcome"),
        )
        self.attempts = s.counter(
            "wardgate_upstream_requests",
            "Upstream attempts by the status each ended with (none: no answer).",
            ("provider", "deployment", "status"),
        )

    def started(self, ctx: RequestContext) -> None:
        return None

    def ended(self, end: RequestEnd) -> None:
        ctx, request = end.ctx, end.request
        if ctx.snapshot is not self._snapshot:
            self._configure(ctx.snapshot)
        model = self._model(request.model)
        attempts = ctx.attempts
        last = attempts[-1] if attempts else None
        provider = last.provider if last is not None else NONE
        principal = ctx.principal
        team = (principal.team_id or "") if self._teams and principal is not None else ""
        status, error = end.status, end.error
        status_label = _STATUS.get(status, OTHER)
        dialect = ctx.dialect
        self.requests.inc(
            (request.endpoint.value, dialect, model, provider, status_label, _outcome(status, error), team)
        )
        stream = "true" if request.stream else "false"
        duration = end.ended - ctx.started
        self.duration.observe((model, provider, stream), duration)
        if last is not None:
            self._upstream(end, model, provider, stream, duration)
        if error is not None:
            self.errors.inc((model, provider, status_label, self._code(error)))
        elif status < 400:
            self.cache.inc((model, "hit" if ctx.cache_hit else "miss"))
        usage = ctx.usage
        if usage is not None:
            self._usage(ctx, usage, (model, provider, team))
        for decision in ctx.decisions:
            self.decisions.inc((decision.policy, decision.name, decision.outcome))

    def _upstream(self, end: RequestEnd, model: str, provider: str, stream: str, duration: float) -> None:
        ctx = end.ctx
        attempts = ctx.attempts
        last = attempts[-1]
        if last.first_byte is not None:
            self.ttft.observe((model, provider, stream), last.first_byte - ctx.started)
        upstream = (last.finished or end.ended) - attempts[0].started
        self.upstream.observe((model, provider), upstream)
        self.overhead.observe((ctx.dialect, stream), max(0.0, duration - upstream))
        for attempt in attempts:
            status = attempt.status
            self.attempts.inc(
                (attempt.provider, attempt.deployment, NONE if status is None else _STATUS.get(status, OTHER))
            )

    def _usage(self, ctx: RequestContext, usage: Any, key: tuple[str, str, str]) -> None:
        if usage.input_tokens:
            self.input_tokens.inc(key, usage.input_tokens)
        if usage.output_tokens:
            self.output_tokens.inc(key, usage.output_tokens)
        if usage.cached_input_tokens:
            self.cached_tokens.inc(key, usage.cached_input_tokens)
        if usage.cache_write_tokens:
            self.cache_write_tokens.inc(key, usage.cache_write_tokens)
        if usage.reasoning_tokens:
            self.reasoning_tokens.inc(key, usage.reasoning_tokens)
        if not ctx.cost_known:
            if usage.input_tokens or usage.output_tokens:
                self.unpriced.inc(key[:2])
        elif ctx.cost_usd:
            self.cost.inc(key, float(ctx.cost_usd))

    def _configure(self, snapshot: Any) -> None:
        """A request of a snapshot not seen before (the first, or after a reload): take its model names and
        settings."""
        self._snapshot = snapshot
        self._routes = getattr(snapshot, "routes", None)
        config = getattr(snapshot, "config", None)
        self._teams = bool(config is not None and config.observability.metrics.team_labels)

    def _model(self, name: str) -> str:
        if not name:
            return NONE
        routes = self._routes
        return name if routes is not None and routes.get(name) is not None else OTHER

    def _code(self, code: str) -> str:
        found = self._codes.get(code)
        if found is not None:
            return found
        if len(self._codes) >= MAX_CODES or _CODE.match(code) is None:
            return OTHER
        self._codes[code] = code
        return code


def _outcome(status: int, error: str | None) -> str:
    """ok; cancelled (the client left); rejected (a 4xx: the request's or the caller's fault); failed (a 5xx, or
    a stream that broke after its first byte)."""
    if error is None:
        return "ok"
    if status == 499:
        return "cancelled"
    if 400 <= status < 500:
        return "rejected"
    return "failed"
