"""Which deployments a request may use, in which order: content rules (sensitive tags, context windows, long
context), fallbacks (breadth first, each model once), sticky conversations, and the plan's walk."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from routing_fakes import RecordingBoard, ScriptedClient, build_table, chat, context, gateway_config

from wardgate.core.errors import InvalidRequestError, PermissionDeniedError
from wardgate.core.types import Principal, ProxyRequest, RequestContext
from wardgate.routing.candidates import Plan, build_plan
from wardgate.routing.facts import RequestFacts, conversation_key
from wardgate.routing.health import HealthRegistry
from wardgate.routing.table import RouteTable

CLIENTS = {name: ScriptedClient(name) for name in ("a", "b", "c", "d")}


def table(models: list[dict[str, Any]], **routing: Any) -> RouteTable:
    return build_table(gateway_config(models, tuple(CLIENTS), **routing), CLIENTS)


def plan_for(
    routes: RouteTable, request: ProxyRequest, ctx: RequestContext | None = None, board: RecordingBoard | None = None
) -> Plan:
    ctx = ctx or context()
    facts = RequestFacts(request, ctx)
    return build_plan(
        routes, routes.resolve(request.model), facts, HealthRegistry(), random.Random(1), board or RecordingBoard()
    )


def walk(plan: Plan) -> list[str]:
    out = []
    while (entry := plan.next_untried(0.0)) is not None:
        out.append(entry.deployment.id)
    return out


MIXED = [
    {
        "name": "m",
        "fallbacks": ["f"],
        "deployments": [
            {"provider": "a", "model": "cloud"},
            {"provider": "b", "model": "onprem", "tags": ["on_prem", "sensitive_ok"]},
        ],
    },
    {
        "name": "f",
        "deployments": [{"provider": "c", "model": "eu", "tags": ["sensitive_ok"]}, {"provider": "d", "model": "us"}],
    },
]


def test_without_flags_every_deployment_then_the_fallbacks() -> None:
    assert walk(plan_for(table(MIXED), chat("m"))) == ["a/cloud", "b/onprem", "c/eu", "d/us"]


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_a_sensitive_header_keeps_only_tagged_deployments(value: str) -> None:
    plan = plan_for(table(MIXED), chat("m"), context({"x-wardgate-sensitive": value}))
    assert walk(plan) == ["b/onprem", "c/eu"]


def test_key_metadata_flags_sensitive_and_a_header_cannot_unflag_it() -> None:
    principal = Principal(key_id="k", kind="key", metadata={"sensitive": True})
    plan = plan_for(table(MIXED), chat("m"), context({"x-wardgate-sensitive": "false"}, principal))
    assert walk(plan) == ["b/onprem", "c/eu"]


def test_model_sensitive_tags_override_the_default_tag() -> None:
    models = [{**MIXED[0], "sensitive_tags": ["on_prem"], "fallbacks": []}, MIXED[1]]
    plan = plan_for(table(models), chat("m"), context({"x-wardgate-sensitive": "true"}))
    assert walk(plan) == ["b/onprem"]


def test_the_default_sensitive_tag_comes_from_server_routing() -> None:
    plan = plan_for(table(MIXED, sensitive_tag="on_prem"), chat("m"), context({"x-wardgate-sensitive": "true"}))
    assert walk(plan) == ["b/onprem"]


def test_no_approved_deployment_is_403_explaining() -> None:
    models = [{"name": "m", "deployments": [{"provider": "a", "model": "cloud"}]}]
    with pytest.raises(PermissionDeniedError) as info:
        plan_for(table(models), chat("m"), context({"x-wardgate-sensitive": "true"}))
    assert info.value.code == "no_sensitive_deployment" and "sensitive_ok" in info.value.message


def test_long_prompts_go_to_the_long_context_model() -> None:
    models: list[dict[str, Any]] = [
        {
            "name": "m",
            "long_context": {"above_tokens": 1000, "model": "long"},
            "deployments": [{"provider": "a", "model": "s"}],
        },
        {"name": "long", "aliases": ["long-alias"], "deployments": [{"provider": "b", "model": "l"}]},
    ]
    routes = table(models)
    short = chat("m", messages=[{"role": "user", "content": "x " * 750}])  # ~750 tokens
    long = chat("m", messages=[{"role": "user", "content": "x " * 1_250}])  # ~1250 tokens
    assert walk(plan_for(routes, short)) == ["a/s"]  # the long-context model is only held in reserve
    assert walk(plan_for(routes, long)) == ["b/l"]


def test_context_windows_skip_small_deployments_and_refuse_when_none_fits() -> None:
    models = [
        {
            "name": "m",
            "deployments": [
                {"provider": "a", "model": "small", "max_context_tokens": 1000},
                {"provider": "b", "model": "large", "max_context_tokens": 100_000},
            ],
        }
    ]
    routes = table(models)
    assert walk(plan_for(routes, chat("m"))) == ["a/small", "b/large"]
    big = [{"role": "user", "content": "x " * 2_000}]  # ~2000 tokens
    assert walk(plan_for(routes, chat("m", messages=big))) == ["b/large"]
    assert walk(plan_for(routes, chat("m", messages=[{"role": "user", "content": "hi"}], max_tokens=5000))) == [
        "b/large"
    ]  # prompt + requested output must fit
    with pytest.raises(InvalidRequestError) as info:
        plan_for(routes, chat("m", messages=[{"role": "user", "content": "x " * 200_000}]))
    assert info.value.code == "context_length_exceeded"


def test_fallbacks_breadth_first_each_model_once() -> None:
    models = [
        {"name": "m", "fallbacks": ["f1", "f2-alias"], "deployments": [{"provider": "a", "model": "m"}]},
        {"name": "f1", "fallbacks": ["f3", "m"], "deployments": [{"provider": "b", "model": "f1"}]},
        {"name": "f2", "aliases": ["f2-alias"], "deployments": [{"provider": "c", "model": "f2"}]},
        {"name": "f3", "deployments": [{"provider": "d", "model": "f3"}]},
    ]
    with pytest.raises(ValueError, match="fallback cycle"):  # m → f1 → m
        table(models)
    models[1]["fallbacks"] = ["f3"]
    routes = table(models)
    assert routes.resolve("m").fallbacks == ("f1", "f2", "f3")
    assert walk(plan_for(routes, chat("m"))) == ["a/m", "b/f1", "c/f2", "d/f3"]


def test_a_deployment_shared_by_a_fallback_is_tried_once() -> None:
    models = [
        {"name": "m", "fallbacks": ["f"], "deployments": [{"provider": "a", "model": "x"}]},
        {"name": "f", "deployments": [{"provider": "a", "model": "x"}, {"provider": "b", "model": "y"}]},
    ]
    assert walk(plan_for(table(models), chat("m"))) == ["a/x", "b/y"]


STICKY = [
    {
        "name": "m",
        "sticky": True,
        "deployments": [{"provider": p, "model": "x"} for p in ("a", "b", "c", "d")],
    }
]


def conversation(n: int, turns: int = 1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"q{n}"}]
    for turn in range(1, turns):
        messages += [{"role": "assistant", "content": f"a{turn}"}, {"role": "user", "content": f"q{n}.{turn}"}]
    return messages


def test_sticky_keeps_a_conversation_on_one_deployment_and_spreads_conversations() -> None:
    routes = table(STICKY)
    firsts: Counter[str] = Counter()
    for n in range(400):
        chosen = {walk(plan_for(routes, chat("m", messages=conversation(n, turns))))[0] for turns in (1, 2, 5)}
        assert len(chosen) == 1  # every turn of conversation n goes to the same deployment
        firsts[chosen.pop()] += 1
    assert set(firsts) == {"a/x", "b/x", "c/x", "d/x"} and min(firsts.values()) > 60


def test_sticky_moves_only_the_conversations_of_a_gated_deployment() -> None:
    routes = table(STICKY)
    before = {n: walk(plan_for(routes, chat("m", messages=conversation(n))))[0] for n in range(200)}
    board = RecordingBoard(blocked={"b/x"})
    after = {n: walk(plan_for(routes, chat("m", messages=conversation(n)), board=board))[0] for n in range(200)}
    moved = {n for n in before if before[n] != after[n]}
    assert moved == {n for n in before if before[n] == "b/x"}


_PICKS = """
import random, sys
sys.path.insert(0, sys.argv[1])
from routing_fakes import RecordingBoard, ScriptedClient, build_table, chat, context, gateway_config
from test_candidates import STICKY, conversation, plan_for, table, walk
print([walk(plan_for(table(STICKY), chat("m", messages=conversation(n))))[0] for n in range(20)])
"""


def test_sticky_is_the_same_on_every_replica() -> None:
    """The key is a CRC of the opening messages' JSON and the ranking a fixed mix: no per-process hash seed."""
    here = str(Path(__file__).parent)
    picks = [
        subprocess.run(
            [sys.executable, "-c", _PICKS, here],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    local = [walk(plan_for(table(STICKY), chat("m", messages=conversation(n))))[0] for n in range(20)]
    assert picks[0] == picks[1] == f"{local}\n"
    assert conversation_key({"messages": conversation(3, 4)}) == conversation_key({"messages": conversation(3, 1)})


def test_the_prompt_is_counted_once_and_kept_for_later_stages() -> None:
    body = {"messages": [{"role": "user", "content": "hello world " * 50}]}
    request = chat("m", **body)
    facts = RequestFacts(request, context(), "gpt-4o")
    counted = facts.prompt_tokens
    assert counted == 3 + (1 + 101) + 3  # per message + role + "hello world " x 50 in o200k + reply primer
    assert request.prompt_tokens == counted, "kept on the request: rate limiting reuses it"
    request.body = {"messages": []}
    assert RequestFacts(request, context(), "gpt-4o").prompt_tokens == counted, "never counted twice"


IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
        ],
    }
]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def test_model_data_steers_requests_away_from_deployments_lacking_a_capability() -> None:
    routes = table(
        [
            {
                "name": "m",
                "deployments": [{"provider": "a", "model": "gpt-3.5-turbo"}, {"provider": "b", "model": "gpt-4o"}],
            }
        ]
    )
    assert routes.resolve("m").checks_capabilities
    assert walk(plan_for(routes, chat("m", messages=IMAGE))) == ["b/gpt-4o"]  # gpt-3.5 takes no images
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert walk(plan_for(routes, chat("m", response_format=schema))) == ["b/gpt-4o"]
    assert walk(plan_for(routes, chat("m", tools=TOOLS))) == ["a/gpt-3.5-turbo", "b/gpt-4o"]  # both take tools
    assert walk(plan_for(routes, chat("m"))) == ["a/gpt-3.5-turbo", "b/gpt-4o"]


def test_capabilities_pick_a_capable_fallback_and_never_refuse_on_data_alone() -> None:
    routes = table(
        [
            {"name": "m", "fallbacks": ["v"], "deployments": [{"provider": "a", "model": "o1-mini"}]},
            {"name": "v", "deployments": [{"provider": "b", "model": "claude-sonnet-4-5"}]},
            {"name": "lone", "deployments": [{"provider": "c", "model": "o1-mini"}]},
        ]
    )
    assert walk(plan_for(routes, chat("m", tools=TOOLS))) == ["b/claude-sonnet-4-5"]
    # nothing capable: the provider answers for itself
    assert walk(plan_for(routes, chat("lone", tools=TOOLS))) == ["c/o1-mini"]


def test_a_deployment_may_correct_the_model_data() -> None:
    routes = table(
        [
            {
                "name": "m",
                "deployments": [
                    {"provider": "a", "model": "gpt-3.5-turbo", "capabilities": {"vision": True}},
                    {"provider": "b", "model": "my-local-llm", "capabilities": {"vision": False}},
                ],
            }
        ]
    )
    assert walk(plan_for(routes, chat("m", messages=IMAGE))) == ["a/gpt-3.5-turbo"]


def test_model_data_context_windows_apply_where_there_is_a_choice() -> None:
    routes = table(
        [
            {"name": "m", "deployments": [{"provider": "a", "model": "gpt-4"}, {"provider": "b", "model": "gpt-4o"}]},
            {"name": "single", "deployments": [{"provider": "c", "model": "gpt-4"}]},
        ]
    )
    assert [d.max_context_tokens for d in routes.resolve("m").deployments] == [8192, 128_000]
    assert routes.resolve("single").deployments[0].max_context_tokens is None, "no choice: the provider decides"
    long = chat("m", messages=[{"role": "user", "content": "x " * 10_000}])  # ~10k tokens: over gpt-4's 8k
    assert walk(plan_for(routes, long)) == ["b/gpt-4o"]
