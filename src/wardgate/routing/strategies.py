"""Strategies: the order in which one model's deployments are tried for one request.

Priority always wins (lower ``priority`` first); a model's ``strategy`` orders the deployments *of the same
priority*:

- ``priority`` (default): config order. Free: the order is computed once per config snapshot.
- ``weighted``: random, in proportion to ``weight`` (Efraimidis-Spirakis keys ``u ** (1 / weight)``, so the whole
  order is weighted, not only the first pick); weight 0 deployments come last.
- ``lowest_latency``: lowest moving average of time to first byte (streams) or duration (whole answers), from this
  process's attempts; a deployment without samples goes first, so it gets measured.
- ``least_busy``: fewest attempts in flight from this process; ties broken at random.
- ``lowest_cost``: lowest estimated cost of this request from the deployment's ``input_cost_per_mtok`` and
  ``output_cost_per_mtok``, else the price catalog's (``wardgate.pricing``): the prompt's counted tokens and the
  request's ``max_tokens`` (else 256) of output. Deployments without a price come last.

- ``remaining_quota``: the deployment with the most headroom left in its provider quota (``limits``: the share
  left of its tightest bucket after this request), decided atomically with the reservation by the rate-limit
  engine (``wardgate.limits``), so every replica sees the same counters; without quotas it is ``priority``.

A request may ask for the cheapest capable deployment whatever the model's strategy: ``x-wardgate-route: cheapest``
(``lowest_cost`` for that request, among the deployments the content rules and capabilities left).

``sticky`` models replace the strategy with rendezvous hashing of the conversation key (weighted by ``weight``):
a conversation keeps its deployment while that deployment is selectable, and only the conversations of a
deployment that drops out move — so provider prompt caches keep hitting.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from wardgate.routing.facts import RequestFacts
from wardgate.routing.health import HealthRegistry
from wardgate.routing.table import Deployment, ModelRoute

DEFAULT_OUTPUT_TOKENS = 256
_MASK = (1 << 64) - 1

Sorter = Callable[[Sequence[Deployment], RequestFacts, HealthRegistry, random.Random], list[Deployment]]


def order(route: ModelRoute, facts: RequestFacts, health: HealthRegistry, rng: random.Random) -> Sequence[Deployment]:
    """``route``'s deployments in the order this request should try them."""
    if len(route.ordered) < 2:
        return route.ordered
    if route.sticky:
        key = facts.sticky_key
        if key is not None:
            return [d for tier in route.tiers for d in sticky_tier(tier, key)]
    sorter = SORTERS.get("lowest_cost" if facts.cheapest else route.strategy)
    if sorter is None:
        return route.ordered
    out: list[Deployment] = []
    for tier in route.tiers:
        out.extend(tier if len(tier) < 2 else sorter(tier, facts, health, rng))
    return out


def weighted(
    tier: Sequence[Deployment], facts: RequestFacts, health: HealthRegistry, rng: random.Random
) -> list[Deployment]:
    # sorted() calls the key once per item: one random draw each
    return sorted(tier, key=lambda d: rng.random() ** (1.0 / d.weight) if d.weight > 0 else -1.0, reverse=True)


def lowest_latency(
    tier: Sequence[Deployment], facts: RequestFacts, health: HealthRegistry, rng: random.Random
) -> list[Deployment]:
    def latency(d: Deployment) -> tuple[float, float]:
        found = health.peek(d.id)
        value = found.latency(facts.stream) if found is not None else None
        return (-1.0 if value is None else value, rng.random())

    return sorted(tier, key=latency)


def least_busy(
    tier: Sequence[Deployment], facts: RequestFacts, health: HealthRegistry, rng: random.Random
) -> list[Deployment]:
    def busy(d: Deployment) -> tuple[int, float]:
        found = health.peek(d.id)
        return (found.in_flight if found is not None else 0, rng.random())

    return sorted(tier, key=busy)


def lowest_cost(
    tier: Sequence[Deployment], facts: RequestFacts, health: HealthRegistry, rng: random.Random
) -> list[Deployment]:
    prompt = facts.prompt_tokens
    output = facts.max_output or DEFAULT_OUTPUT_TOKENS
    return sorted(tier, key=lambda d: estimated_cost(d, prompt, output))


def estimated_cost(deployment: Deployment, prompt_tokens: int, output_tokens: int) -> float:
    """USD for a request of this size on ``deployment``; infinity when it has no price configured."""
    if deployment.input_cost is None and deployment.output_cost is None:
        return math.inf
    return (prompt_tokens * (deployment.input_cost or 0.0) + output_tokens * (deployment.output_cost or 0.0)) / 1e6


def sticky_tier(tier: Sequence[Deployment], key: int) -> Sequence[Deployment]:
    """Weighted rendezvous hashing: each deployment scores ``-weight / ln(u)`` with ``u`` a hash of (key,
    deployment); highest first."""
    if len(tier) < 2:
        return tier
    return sorted(tier, key=lambda d: _score(key, d), reverse=True)


def _score(key: int, deployment: Deployment) -> float:
    if deployment.weight <= 0:
        return 0.0
    unit = (_mix(key, deployment.key) + 1) / (1 << 64)  # in (0, 1]
    if unit >= 1.0:
        return math.inf
    return -deployment.weight / math.log(unit)


def _mix(a: int, b: int) -> int:
    """splitmix64 finaliser of the pair: a well-spread 64-bit value, identical in every process."""
    x = (a * 0x9E3779B97F4A7C15 + b) & _MASK
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


SORTERS: dict[str, Sorter] = {
    "weighted": weighted,
    "lowest_latency": lowest_latency,
    "least_busy": least_busy,
    "lowest_cost": lowest_cost,
}
