"""``MetricsObserver`` alone, over a real config snapshot: the labels each family gets (and the cardinality rule:
unknown models are "other", odd error codes "other"), which bucket an observation lands in, what is counted for a
whole answer, a failure, a cut stream and a refusal, and the opt-in team label."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.types import Attempt, Endpoint, PolicyDecision, Principal, ProxyRequest, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.observability.events import Observers, RequestEnd
from wardgate.observability.metrics_observer import MAX_CODES, MetricsObserver
from wardgate.observability.metrics_store import Store
from wardgate.providers.transport import Transport
from wardgate.runtime import Snapshot, build_snapshot
from wardgate.tokens.usage import Usage

T0 = 1000.0
SIM = {"name": "sim", "type": "simulated"}
MODELS = [
    {"name": "chat", "aliases": ["chat-latest"], "deployments": [{"provider": "sim", "model": "sim-chat"}]},
    {"name": "embed", "deployments": [{"provider": "sim", "model": "sim-embed"}]},
]


def snapshot(transport: Transport, team_labels: bool = False) -> Snapshot:
    config = GatewayConfig.model_validate(
        {
            "providers": [SIM],
            "models": MODELS,
            "observability": {"metrics": {"team_labels": team_labels}},
        }
    )
    return build_snapshot(LoadedConfig(config, "test"), transport, Authenticator("x" * 64), Observers())


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    shared = Transport()
    yield shared
    await shared.close()


@pytest.fixture
def snap(transport: Transport) -> Snapshot:
    return snapshot(transport)


def team_key() -> Principal:
    return Principal("key_1", kind="key", teams=MappingProxyType({"team_a": Role.MEMBER}))


def end(
    snap: Snapshot,
    *,
    model: str = "chat",
    status: int = 200,
    error: str | None = None,
    stream: bool = False,
    attempts: list[Attempt] | None = None,
    usage: Usage | None = None,
    cost: str | None = None,
    duration: float = 0.7,
    principal: Principal | None = None,
    decisions: list[PolicyDecision] | None = None,
    dialect: str = "openai",
) -> RequestEnd:
    request = ProxyRequest(Endpoint.CHAT, b"", model=model, stream=stream)
    ctx = RequestContext("req_1", snap, {}, "127.0.0.1", T0, dialect=dialect, principal=principal)
    ctx.attempts = attempts if attempts is not None else []
    ctx.usage = usage
    ctx.cost_usd = Decimal(cost) if cost is not None else None
    ctx.decisions = decisions or []
    ctx.status, ctx.error_code = status, error
    return RequestEnd(ctx, request, status, error, T0 + duration, 0.0)


def served(first_byte: float = 0.3, finished: float = 0.65, status: int = 200, start: float = 0.001) -> Attempt:
    return Attempt(
        "sim",
        "sim-chat",
        status=status,
        started=T0 + start,
        first_byte=T0 + first_byte,
        finished=T0 + finished,
        deployment="sim/sim-chat",
        route="chat",
    )


def scrape(observer: MetricsObserver) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(observer.store)
    text = generate_latest(registry).decode()
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    found = [v for name, have, v in families.get(family, []) if name == sample and have == labels]
    assert len(found) == 1, (sample, labels, families.get(family))
    return float(found[0])


def label_sets(families: dict[str, Any], family: str) -> Iterator[dict[str, str]]:
    return (labels for _, labels, _ in families.get(family, []))


def pick(labels: dict[str, str], *names: str) -> tuple[str, ...]:
    return tuple(labels[name] for name in names)


def test_a_whole_answer_is_counted_in_every_family_with_config_labels(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    usage = Usage(input_tokens=12, output_tokens=30, cached_input_tokens=4, reasoning_tokens=10)
    observer.ended(end(snap, attempts=[served()], usage=usage, cost="0.000330"))
    got = scrape(observer)
    request = dict(endpoint="chat.completions", dialect="openai", model="chat", provider="sim")
    assert value(got, "wardgate_requests", "wardgate_requests_total", **request, status="200", outcome="ok") == 1
    usage_labels = dict(model="chat", provider="sim")
    assert value(got, "wardgate_input_tokens", "wardgate_input_tokens_total", **usage_labels) == 12
    assert value(got, "wardgate_output_tokens", "wardgate_output_tokens_total", **usage_labels) == 30
    assert value(got, "wardgate_cached_input_tokens", "wardgate_cached_input_tokens_total", **usage_labels) == 4
    assert value(got, "wardgate_reasoning_tokens", "wardgate_reasoning_tokens_total", **usage_labels) == 10
    assert "wardgate_cache_write_tokens" not in got  # nothing written to a prompt cache: no series
    assert value(got, "wardgate_cost_usd", "wardgate_cost_usd_total", **usage_labels) == pytest.approx(0.00033)
    assert value(got, "wardgate_cache_requests", "wardgate_cache_requests_total", model="chat", result="miss") == 1
    attempt = dict(provider="sim", deployment="sim/sim-chat", status="200")
    assert value(got, "wardgate_upstream_requests", "wardgate_upstream_requests_total", **attempt) == 1
    assert "wardgate_request_errors" not in got
    histogram = dict(model="chat", provider="sim", stream="false")
    total = "wardgate_request_duration_seconds"
    assert value(got, total, total + "_sum", **histogram) == pytest.approx(0.7)
    assert value(got, total, total + "_count", **histogram) == 1
    ttft = "wardgate_time_to_first_token_seconds"
    assert value(got, ttft, ttft + "_sum", **histogram) == pytest.approx(0.3)
    upstream = "wardgate_upstream_latency_seconds"
    assert value(got, upstream, upstream + "_sum", model="chat", provider="sim") == pytest.approx(0.649)
    overhead = "wardgate_gateway_overhead_seconds"
    assert value(got, overhead, overhead + "_sum", dialect="openai", stream="false") == pytest.approx(0.051)


def test_observations_land_in_the_bucket_whose_bound_is_the_first_at_or_above_them(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    # total 1.0 s exactly (a bound: counted in le="1.0"), first byte at 0.25 s, 300 µs of gateway time
    observer.ended(end(snap, attempts=[served(first_byte=0.25, finished=0.9997, start=0.0)], duration=1.0))
    got = scrape(observer)
    labels = dict(model="chat", provider="sim", stream="false")
    total = "wardgate_request_duration_seconds"
    buckets = {s["le"]: v for name, s, v in got[total] if name == total + "_bucket"}
    assert buckets["0.5"] == 0 and buckets["1.0"] == 1 and buckets["+Inf"] == 1
    assert list(buckets)[:2] == ["0.005", "0.01"] and list(buckets)[-2:] == ["600.0", "+Inf"]  # ms to minutes
    ttft = "wardgate_time_to_first_token_seconds"
    ttft_buckets = {s["le"]: v for name, s, v in got[ttft] if name == ttft + "_bucket" and s["stream"] == "false"}
    assert ttft_buckets["0.2"] == 0 and ttft_buckets["0.35"] == 1
    overhead = "wardgate_gateway_overhead_seconds"
    steps = {s["le"]: v for name, s, v in got[overhead] if name == overhead + "_bucket"}
    bounds = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "+Inf"]
    assert list(steps) == bounds  # sub-millisecond to 100 ms
    assert steps["0.00025"] == 0 and steps["0.0005"] == 1
    assert value(got, total, total + "_count", **labels) == 1


def test_only_models_the_config_defines_become_labels(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    for model in ("chat-latest", "gpt-made-up-1", "gpt-made-up-2", "", "embed"):
        observer.ended(end(snap, model=model, status=404 if "made-up" in model else 200))
    models = {labels["model"] for labels in label_sets(scrape(observer), "wardgate_requests")}
    assert models == {"chat-latest", "other", "none", "embed"}  # the alias as the client sent it


def test_a_reload_that_adds_a_model_makes_it_a_label(snap: Snapshot, transport: Transport) -> None:
    observer = MetricsObserver(Store())
    observer.ended(end(snap, model="fresh"))
    bigger = GatewayConfig.model_validate(
        {"providers": [SIM], "models": [*MODELS, {"name": "fresh", "deployments": [{"provider": "sim", "model": "x"}]}]}
    )
    reloaded = build_snapshot(LoadedConfig(bigger, "test"), transport, Authenticator("x" * 64), Observers())
    observer.ended(end(reloaded, model="fresh"))
    assert {labels["model"] for labels in label_sets(scrape(observer), "wardgate_requests")} == {"other", "fresh"}


def test_team_labels_are_opt_in(transport: Transport) -> None:
    off, on = MetricsObserver(Store()), MetricsObserver(Store())
    usage = Usage(input_tokens=5, output_tokens=7)
    off.ended(end(snapshot(transport), attempts=[served()], usage=usage, cost="0.01", principal=team_key()))
    on.ended(
        end(snapshot(transport, team_labels=True), attempts=[served()], usage=usage, cost="0.01", principal=team_key())
    )
    on.ended(
        end(snapshot(transport, team_labels=True), attempts=[served()], usage=usage, cost="0.01")
    )  # the master key
    without, with_team = scrape(off), scrape(on)
    for family in ("wardgate_requests", "wardgate_input_tokens", "wardgate_output_tokens", "wardgate_cost_usd"):
        assert all("team" not in labels for labels in label_sets(without, family)), family
        assert [labels.get("team") for labels in label_sets(with_team, family)] == ["team_a", None], family
    for family in ("wardgate_request_duration_seconds", "wardgate_upstream_requests", "wardgate_cache_requests"):
        assert all("team" not in labels for labels in label_sets(with_team, family)), family


def test_failures_are_counted_by_status_and_code(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    failed = Attempt("sim", "sim-chat", status=502, error="upstream_error", started=T0, finished=T0 + 0.1)
    failed.deployment = "sim/sim-chat"
    observer.ended(end(snap, status=502, error="upstream_error", attempts=[failed]))
    observer.ended(end(snap, status=200, error="stream_interrupted", stream=True, attempts=[served()]))
    observer.ended(end(snap, status=499, error="client_disconnected", attempts=[served()]))
    observer.ended(end(snap, status=401, error="invalid_api_key", model=""))
    got = scrape(observer)
    requests = {(labels["status"], labels["outcome"]) for labels in label_sets(got, "wardgate_requests")}
    assert requests == {("502", "failed"), ("200", "failed"), ("499", "cancelled"), ("401", "rejected")}
    errors = {
        pick(labels, "model", "provider", "status", "code") for labels in label_sets(got, "wardgate_request_errors")
    }
    assert errors == {
        ("chat", "sim", "502", "upstream_error"),
        ("chat", "sim", "200", "stream_interrupted"),
        ("chat", "sim", "499", "client_disconnected"),
        ("none", "none", "401", "invalid_api_key"),
    }
    assert "wardgate_cache_requests" not in got  # only answered requests are cache hits or misses
    # the failed attempt got no first byte: no time to first token for it, but the cut stream had one
    ttft = {labels["stream"] for _, labels, v in got["wardgate_time_to_first_token_seconds"] if v}
    assert ttft == {"true", "false"}


def test_error_codes_beyond_the_cap_or_not_identifiers_become_other(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    for n in range(MAX_CODES + 10):
        observer.ended(end(snap, status=400, error=f"upstream_code_{n}"))
    observer.ended(end(snap, status=400, error="Not A Code <script>"))
    codes = [labels["code"] for labels in label_sets(scrape(observer), "wardgate_request_errors")]
    assert len(codes) == MAX_CODES + 1 and "other" in codes and "upstream_code_0" in codes
    assert "upstream_code_130" not in codes


def test_policy_decisions_are_counted_by_policy_name_and_outcome(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    decisions = [
        PolicyDecision("rate_limit", "team-rpm", "audit", "would_refuse"),
        PolicyDecision("budget", "monthly", "enforce", "refused"),
    ]
    observer.ended(end(snap, status=429, error="insufficient_quota", decisions=decisions))
    got = scrape(observer)
    found = {pick(labels, "policy", "name", "outcome") for labels in label_sets(got, "wardgate_policy_decisions")}
    assert found == {("rate_limit", "team-rpm", "would_refuse"), ("budget", "monthly", "refused")}


def test_a_retried_request_counts_every_attempt_and_its_upstream_time_spans_them(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    first = Attempt("sim", "sim-chat", status=503, error="overloaded", started=T0 + 0.01, finished=T0 + 0.05)
    first.deployment = "sim/sim-chat"
    observer.ended(end(snap, attempts=[first, served(first_byte=0.4, finished=0.5)], duration=0.52))
    got = scrape(observer)
    statuses = {labels["status"]: v for _, labels, v in got["wardgate_upstream_requests"]}
    assert statuses == {"503": 1, "200": 1}
    upstream = "wardgate_upstream_latency_seconds"
    assert value(got, upstream, upstream + "_sum", model="chat", provider="sim") == pytest.approx(0.49)
    overhead = "wardgate_gateway_overhead_seconds"
    assert value(got, overhead, overhead + "_sum", dialect="openai", stream="false") == pytest.approx(0.03)


def test_unpriced_usage_is_counted_apart_from_cost(snap: Snapshot) -> None:
    observer = MetricsObserver(Store())
    unpriced = end(snap, attempts=[served()], usage=Usage(input_tokens=3, output_tokens=4), cost="0")
    unpriced.ctx.cost_known = False
    observer.ended(unpriced)
    got = scrape(observer)
    assert value(got, "wardgate_unpriced_requests", "wardgate_unpriced_requests_total", model="chat", provider="sim")
    assert "wardgate_cost_usd" not in got
