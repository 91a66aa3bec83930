"""Routing config: every field accepted with its default, and the load-time refusals — unknown or
self-referencing fallbacks, cycles through fallbacks and long-context models, duplicate deployment ids —
reported with the file's line numbers."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from wardgate.config.loader import ConfigError, load_config_text
from wardgate.config.routing_config import RoutingConfig, find_cycle
from wardgate.config.schema import GatewayConfig

PROVIDERS = [{"name": "a", "type": "simulated"}, {"name": "b", "type": "simulated"}]


def config(models: list[dict[str, Any]], **server: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({"server": server, "providers": PROVIDERS, "models": models})


def test_defaults() -> None:
    routing = RoutingConfig()
    assert routing.max_attempts == 3 and routing.backoff.base_ms == 100 and routing.backoff.max_ms == 2000
    assert routing.retry_budget.ratio == 0.2 and routing.retry_budget.minimum == 3
    assert routing.deadline_seconds is None and routing.response_headers
    assert (routing.admission.max_in_flight, routing.admission.queue, routing.admission.queue_timeout_ms) == (
        2000,
        200,
        250,
    )
    deployment = config([{"name": "m", "deployments": [{"provider": "a", "model": "x"}]}]).models[0].deployments[0]
    assert (deployment.weight, deployment.priority, deployment.tags, deployment.id) == (1.0, 0, [], None)


def test_every_field_loads_from_yaml() -> None:
    text = """
server:
  routing:
    max_attempts: 4
    backoff: {base_ms: 50, max_ms: 1000}
    retry_budget: {ratio: 0.1, minimum: 5}
    deadline_seconds: 30
    admission: {max_in_flight: 100, queue: 10, queue_timeout_ms: 100}
    response_headers: false
    sensitive_tag: private
providers:
  - {name: a, type: simulated}
  - {name: b, type: simulated}
models:
  - name: m
    strategy: lowest_cost
    fallbacks: [other]
    sticky: true
    sensitive_tags: [on_prem]
    long_context: {above_tokens: 1000, model: other-alias}
    deployments:
      - provider: a
        model: x
        id: primary
        weight: 2
        priority: -1
        tags: [on_prem, eu]
        region: eu-west-1
        max_context_tokens: 8000
        input_cost_per_mtok: 0.5
        output_cost_per_mtok: 1.5
  - name: other
    aliases: [other-alias]
    deployments: [{provider: b, model: y}]
"""
    loaded = load_config_text(text, env={})
    model = loaded.config.models[0]
    assert model.strategy == "lowest_cost" and model.sticky and model.long_context is not None
    assert model.deployments[0].id == "primary" and model.deployments[0].tags == ["on_prem", "eu"]
    assert loaded.config.server.routing.admission.queue == 10


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    return [f"line {p.line}: {p.path}: {p.message}" for p in info.value.problems]


def models_yaml(models: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"providers": PROVIDERS, "models": models}, sort_keys=False)


def test_unknown_and_self_fallbacks_are_refused_with_lines() -> None:
    found = problems(
        models_yaml(
            [
                {"name": "m", "fallbacks": ["nope", "m"], "deployments": [{"provider": "a", "model": "x"}]},
                {
                    "name": "n",
                    "long_context": {"above_tokens": 5, "model": "gone"},
                    "deployments": [{"provider": "a", "model": "x"}],
                },
            ]
        )
    )
    assert any("models[0].fallbacks[0]: unknown model 'nope'" in p and p.startswith("line ") for p in found)
    assert any("models[0].fallbacks[1]: model 'm' cannot fall back to itself" in p for p in found)
    assert any("models[1].long_context.model: unknown model 'gone'" in p for p in found)


@pytest.mark.parametrize(
    "links",
    [
        {"a": ["b"], "b": ["a"]},
        {"a": ["b"], "b": ["c"], "c": ["a"]},
    ],
)
def test_fallback_cycles_are_refused(links: dict[str, list[str]]) -> None:
    models = [
        {"name": name, "fallbacks": targets, "deployments": [{"provider": "a", "model": name}]}
        for name, targets in links.items()
    ]
    if "c" not in links:
        models.append({"name": "c", "deployments": [{"provider": "a", "model": "c"}]})
    with pytest.raises(ValidationError, match=r"fallback cycle: a → b → .*a"):
        config(models)


def test_a_cycle_through_a_long_context_model_is_refused() -> None:
    models: list[dict[str, Any]] = [
        {
            "name": "a",
            "long_context": {"above_tokens": 10, "model": "b-alias"},
            "deployments": [{"provider": "a", "model": "a"}],
        },
        {"name": "b", "aliases": ["b-alias"], "fallbacks": ["a"], "deployments": [{"provider": "a", "model": "b"}]},
    ]
    with pytest.raises(ValidationError, match="fallback cycle"):
        config(models)


def test_a_chain_without_cycle_is_fine() -> None:
    models = [
        {"name": "a", "fallbacks": ["b", "c"], "deployments": [{"provider": "a", "model": "a"}]},
        {"name": "b", "fallbacks": ["c"], "deployments": [{"provider": "a", "model": "b"}]},
        {"name": "c", "deployments": [{"provider": "a", "model": "c"}]},
    ]
    config(models)
    assert find_cycle({"a": ["b", "c"], "b": ["c"]}) == []


def test_duplicate_deployment_ids_in_a_model_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate deployment id 'a/x'"):
        config([{"name": "m", "deployments": [{"provider": "a", "model": "x"}, {"provider": "a", "model": "x"}]}])
    config(
        [
            {
                "name": "m",
                "deployments": [{"provider": "a", "model": "x"}, {"provider": "a", "model": "x", "id": "a/x-2"}],
            }
        ]
    )


def test_weighted_needs_some_weight() -> None:
    with pytest.raises(ValidationError, match="weight above 0"):
        config([{"name": "m", "strategy": "weighted", "deployments": [{"provider": "a", "model": "x", "weight": 0}]}])


@pytest.mark.parametrize(
    "routing",
    [
        {"backoff": {"base_ms": 500, "max_ms": 100}},
        {"max_attempts": 0},
        {"retry_budget": {"ratio": 1.5}},
        {"admission": {"max_in_flight": 0}},
        {"deadline_seconds": 0},
        {"unknown": 1},
    ],
)
def test_invalid_routing_settings(routing: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        config([], routing=routing)


def test_unknown_strategy_and_bad_tags_are_refused() -> None:
    with pytest.raises(ValidationError):
        config([{"name": "m", "strategy": "fastest", "deployments": [{"provider": "a", "model": "x"}]}])
    with pytest.raises(ValidationError):
        config([{"name": "m", "deployments": [{"provider": "a", "model": "x", "tags": ["has space"]}]}])
