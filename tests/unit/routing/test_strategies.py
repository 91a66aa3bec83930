"""Each strategy's choice on a controlled set of deployments (latency, load, cost, weights), with a seeded random
source so every run sees the same draws; priority tiers always come first."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from routing_fakes import ScriptedClient, build_table, chat, context, gateway_config

from wardgate.routing.facts import RequestFacts
from wardgate.routing.health import HealthRegistry
from wardgate.routing.strategies import estimated_cost, order
from wardgate.routing.table import ModelRoute, RouteTable

CLIENTS = {name: ScriptedClient(name) for name in ("a", "b", "c", "d")}


def route(strategy: str, deployments: list[dict[str, Any]]) -> ModelRoute:
    config = gateway_config([{"name": "m", "strategy": strategy, "deployments": deployments}], tuple(CLIENTS))
    return build_table(config, CLIENTS).resolve("m")


def ids(
    route: ModelRoute, health: HealthRegistry | None = None, rng: random.Random | None = None, **body: Any
) -> list[str]:
    stream = body.pop("stream", False)
    facts = RequestFacts(chat("m", stream=stream, **body), context())
    return [d.id for d in order(route, facts, health or HealthRegistry(), rng or random.Random(3))]


def four(**extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"provider": p, "model": "x", **extra.get(p, {})} for p in ("a", "b", "c", "d")]


def test_priority_is_config_order_within_a_tier_lower_first() -> None:
    r = route("priority", four(a={"priority": 1}, c={"priority": -1}))
    assert ids(r) == ["c/x", "b/x", "d/x", "a/x"]
    assert order(r, RequestFacts(chat("m"), context()), HealthRegistry(), random.Random()) is r.ordered  # no work


def test_weighted_follows_the_weights() -> None:
    r = route("weighted", four(a={"weight": 6}, b={"weight": 3}, c={"weight": 1}, d={"weight": 0}))
    rng = random.Random(42)
    firsts = Counter(ids(r, rng=rng)[0] for _ in range(5000))
    assert firsts["d/x"] == 0
    assert (
        0.56 < firsts["a/x"] / 5000 < 0.64 and 0.26 < firsts["b/x"] / 5000 < 0.34 and 0.07 < firsts["c/x"] / 5000 < 0.13
    )
    assert all(ids(r, rng=rng)[-1] == "d/x" for _ in range(50))  # weight 0: only when everything else failed


def test_weighted_stays_inside_priority_tiers() -> None:
    r = route("weighted", four(a={"priority": 1, "weight": 100}))
    assert all(ids(r, rng=random.Random(n))[-1] == "a/x" for n in range(50))


def test_weighted_is_deterministic_with_a_seed() -> None:
    r = route("weighted", four())
    assert [ids(r, rng=random.Random(9)) for _ in range(3)] == [ids(r, rng=random.Random(9))] * 3


def sampled(latencies: dict[str, tuple[float, float]]) -> HealthRegistry:
    health = HealthRegistry()
    for ident, (ttft, duration) in latencies.items():
        h = health.begin(ident)
        HealthRegistry.end(h, status=200, ttft=ttft, duration=duration)
    return health


def test_lowest_latency_uses_time_to_first_byte_for_streams_and_duration_otherwise() -> None:
    r = route("lowest_latency", four())
    health = sampled({"a/x": (0.9, 1.0), "b/x": (0.1, 5.0), "c/x": (0.5, 0.4)})
    assert ids(r, health, stream=True)[1:] == ["b/x", "c/x", "a/x"]
    assert ids(r, health)[1:] == ["c/x", "a/x", "b/x"]
    assert ids(r, health)[0] == "d/x"  # never measured: tried first, so it gets measured


def test_lowest_latency_moves_with_the_moving_average() -> None:
    r = route("lowest_latency", four()[:2])
    health = sampled({"a/x": (0.1, 0.1), "b/x": (0.2, 0.2)})
    assert ids(r, health)[0] == "a/x"
    for _ in range(5):
        HealthRegistry.end(health.begin("a/x"), status=200, ttft=1.0, duration=1.0)
    assert ids(r, health)[0] == "b/x"


def test_least_busy_prefers_fewest_in_flight() -> None:
    r = route("least_busy", four())
    health = HealthRegistry()
    for ident, busy in (("a/x", 3), ("b/x", 1), ("c/x", 2), ("d/x", 5)):
        for _ in range(busy):
            health.begin(ident)
    assert ids(r, health) == ["b/x", "c/x", "a/x", "d/x"]


def test_least_busy_breaks_ties_at_random() -> None:
    r = route("least_busy", four())
    assert {ids(r, rng=random.Random(n))[0] for n in range(40)} == {"a/x", "b/x", "c/x", "d/x"}


def test_lowest_cost_prices_this_request() -> None:
    r = route(
        "lowest_cost",
        four(
            a={"input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0},
            b={"input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6},
            c={"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 0.0},
        ),
    )
    # a short prompt with the default 256 output tokens: c's free output wins; no price configured: last
    assert ids(r) == ["c/x", "b/x", "a/x", "d/x"]
    long_prompt = [{"role": "user", "content": "x " * 100_000}]  # ~100k prompt tokens, one output token: b's input
    assert ids(r, messages=long_prompt, max_tokens=1) == ["b/x", "c/x", "a/x", "d/x"]
    a, c = r.deployments[0], r.deployments[2]
    assert estimated_cost(a, 1_000_000, 1000) == 3.0 + 0.015 and estimated_cost(c, 1000, 10**6) == 0.001


def test_sticky_overrides_the_strategy_but_not_priority() -> None:
    r = build_table(
        gateway_config(
            [{"name": "m", "sticky": True, "strategy": "least_busy", "deployments": four(a={"priority": 5})}],
            tuple(CLIENTS),
        ),
        CLIENTS,
    ).resolve("m")
    for n in range(30):
        messages = [{"role": "user", "content": f"conversation {n}"}]
        picks = {tuple(ids(r, rng=random.Random(seed), messages=messages)) for seed in range(5)}
        assert len(picks) == 1 and next(iter(picks))[-1] == "a/x"


def test_lowest_cost_uses_the_price_catalog_for_deployments_without_configured_prices() -> None:
    from wardgate.pricing.catalog import PriceBook

    models = [
        {
            "name": "m",
            "strategy": "lowest_cost",
            "deployments": [
                {"provider": "a", "model": "gpt-4o"},  # $2.50 / $10 per million in the catalog
                {"provider": "b", "model": "gpt-4o-mini"},  # $0.15 / $0.60
                {"provider": "c", "model": "my-local-model"},  # unpriced: last
            ],
        }
    ]
    config = gateway_config(models)
    routes = RouteTable.build(config, {n: ScriptedClient(n) for n in "abc"}, PriceBook.load(config.prices))
    route = routes.resolve("m")
    assert [d.input_cost for d in route.deployments] == [2.5, 0.15, None]
    ordered = order(route, RequestFacts(chat("m"), context()), HealthRegistry(), random.Random())
    assert [d.id for d in ordered] == ["b/gpt-4o-mini", "a/gpt-4o", "c/my-local-model"]


def test_a_request_may_ask_for_the_cheapest_deployment() -> None:
    from wardgate.pricing.catalog import PriceBook

    models = [
        {
            "name": "m",
            "deployments": [{"provider": "a", "model": "gpt-4o"}, {"provider": "b", "model": "gpt-4o-mini"}],
        }
    ]
    config = gateway_config(models)
    routes = RouteTable.build(config, {n: ScriptedClient(n) for n in "ab"}, PriceBook.load(config.prices))
    route = routes.resolve("m")
    plain = order(route, RequestFacts(chat("m"), context()), HealthRegistry(), random.Random())
    cheap = order(
        route, RequestFacts(chat("m"), context({"x-wardgate-route": "cheapest"})), HealthRegistry(), random.Random()
    )
    assert [d.id for d in plain] == ["a/gpt-4o", "b/gpt-4o-mini"]
    assert [d.id for d in cheap] == ["b/gpt-4o-mini", "a/gpt-4o"]
