"""Rate limits through a snapshot's router, with the simulated provider answering (real usage, real streams) and the
in-memory engine: which limits apply to whom (scopes, `match`, `models`, agents, the master key), what a refusal
says, the headers, settlement with the reported usage, streams whose usage the client did not ask for, and
deployment quotas that spread load before the provider would refuse."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from wardgate.api.openai.parse import parse_chat
from wardgate.config.limits_config import LimitSet
from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import LimitStoreUnavailableError, RateLimitError
from wardgate.core.types import Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.limits.buckets import Reservation
from wardgate.limits.memory import MemoryEngine
from wardgate.limits.resolve import agent_of
from wardgate.observability.events import Observers
from wardgate.providers.transport import Transport
from wardgate.routing.state import RoutingState
from wardgate.runtime import Snapshot, build_snapshot

SIM = {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}
SIM2 = {**SIM, "name": "sim2"}


def key_principal(key: str = "key_1", team: str = "team_1", **fields: Any) -> Principal:
    return Principal(key, kind="key", teams=MappingProxyType({team: Role.MEMBER}), **fields)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    shared = Transport()
    yield shared
    await shared.close()


def snapshot(
    transport: Transport, rules: list[dict[str, Any]], models: list[dict[str, Any]] | None = None, **server: Any
) -> tuple[Snapshot, MemoryEngine]:
    config = GatewayConfig.model_validate(
        {
            "server": {"access_log": False, "limits": server},
            "providers": [SIM, SIM2],
            "models": models or [{"name": "chat", "deployments": [{"provider": "sim", "model": "sim-chat"}]}],
            "limits": rules,
        }
    )
    engine = MemoryEngine()
    routing = RoutingState(limits=engine)
    built = build_snapshot(LoadedConfig(config, "test"), transport, Authenticator("x" * 64), Observers(), None, routing)
    return built, engine


def request(body: dict[str, Any]) -> ProxyRequest:
    raw = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hello there"}], **body})
    parsed = ProxyRequest(Endpoint.CHAT, raw, parse_chat)
    parsed.parse()
    return parsed


async def call(
    snap: Snapshot, principal: Principal | None = None, headers: dict[str, str] | None = None, **body: Any
) -> tuple[ProxyResponse, RequestContext]:
    ctx = RequestContext("req", snap, headers or {}, None, time.perf_counter(), principal=principal)
    assert snap.router is not None
    response = await snap.router.execute(ctx, request(body))
    return response, ctx


def headers(response: ProxyResponse) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in response.headers}


async def level(engine: MemoryEngine, key: str, capacity: float, period: float = 60.0) -> float:
    """The bucket's level now (a zero-amount reservation reads it)."""
    from wardgate.limits.buckets import RATE, Demand

    decision = await engine.reserve(Reservation((Demand(key, RATE, capacity, period, 0),)))
    return decision.remaining[0]


async def test_no_limit_means_no_engine_call_and_no_headers(transport: Transport) -> None:
    snap, engine = snapshot(transport, [])
    response, _ = await call(snap, key_principal())
    assert not any(name.startswith("x-ratelimit") for name in headers(response))
    assert engine.stats()["buckets"] == 0


async def test_each_team_gets_its_own_bucket_and_a_429_names_the_limit(transport: Transport) -> None:
    snap, _ = snapshot(transport, [{"name": "team-rpm", "scope": "team", "requests_per_minute": 2}])
    for _ in range(2):
        await call(snap, key_principal(team="team_a"))
    with pytest.raises(RateLimitError) as refused:
        await call(snap, key_principal(team="team_a"))
    assert "team limit `team-rpm` (2 requests per minute)" in refused.value.message
    assert refused.value.headers["retry-after"] == "30"
    assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"
    await call(snap, key_principal(team="team_b"))  # another team: its own bucket


async def test_match_and_models_narrow_a_rule(transport: Transport) -> None:
    models = [
        {"name": "chat", "aliases": ["chat-alias"], "deployments": [{"provider": "sim", "model": "sim-chat"}]},
        {"name": "other", "deployments": [{"provider": "sim", "model": "sim-chat"}]},
    ]
    rule = {"name": "one-team", "scope": "team", "match": "team_a", "models": ["chat-alias"], "requests_per_minute": 1}
    snap, _ = snapshot(transport, [rule], models)
    await call(snap, key_principal(team="team_a"))
    with pytest.raises(RateLimitError):
        await call(snap, key_principal(team="team_a"))
    await call(snap, key_principal(team="team_a"), model="other")  # another model: the rule does not apply
    await call(snap, key_principal(team="team_b"))  # another team
    await call(snap, key_principal(team="team_b"))


async def test_the_master_key_is_held_only_by_model_and_global_rules(transport: Transport) -> None:
    rules = [
        {"name": "key-rpm", "scope": "key", "requests_per_minute": 1},
        {"name": "all-rpm", "scope": "global", "requests_per_minute": 3},
    ]
    snap, _ = snapshot(transport, rules)
    master = Principal("master")
    for _ in range(3):
        await call(snap, master)
    with pytest.raises(RateLimitError) as refused:
        await call(snap, master)
    assert "global limit `all-rpm`" in refused.value.message


async def test_limits_carried_by_the_key_team_and_project_apply(transport: Transport) -> None:
    snap, _ = snapshot(transport, [])
    principal = key_principal(project_id="proj_1", limits={"project": LimitSet(requests_per_minute=1)})
    response, _ = await call(snap, principal)
    assert headers(response)["x-ratelimit-limit-requests"] == "1"
    with pytest.raises(RateLimitError) as refused:
        await call(snap, principal)
    assert "project limit `project limits`" in refused.value.message


async def test_agents_are_named_by_key_metadata_or_an_allowed_header(transport: Transport) -> None:
    fixed = key_principal(metadata={"agent": "planner"})
    free = key_principal(metadata={"agent_header": True})
    plain = key_principal()
    hdr = {"x-wardgate-agent": "coder"}
    assert agent_of(fixed, hdr, "x-wardgate-agent") == "planner"
    assert agent_of(free, hdr, "x-wardgate-agent") == "coder"
    assert agent_of(plain, hdr, "x-wardgate-agent") is None, "a key not allowed the header cannot pick an agent"
    snap, _ = snapshot(transport, [{"name": "coder-rpm", "scope": "agent", "match": "coder", "requests_per_minute": 1}])
    await call(snap, free, hdr)
    with pytest.raises(RateLimitError):
        await call(snap, free, hdr)
    await call(snap, plain, hdr)  # the header alone names no agent
    await call(snap, free, {"x-wardgate-agent": "reviewer"})


async def test_tokens_are_reserved_then_settled_with_the_reported_usage(transport: Transport) -> None:
    snap, engine = snapshot(transport, [{"name": "k-tpd", "scope": "key", "tokens_per_day": 100_000}])
    response, _ = await call(snap, key_principal(), max_tokens=300)
    usage = orjson.loads(response.body or b"")["usage"]
    # reserved prompt + 300 while in flight; afterwards only the real total is spent (± refill)
    left = await level(engine, "{wardgate}:rl:key:key_1:k-tpd:tpd:total", 100_000, 86_400)
    assert 100_000 - usage["total_tokens"] - 1 <= left <= 100_000 - usage["total_tokens"] + 1
    assert int(headers(response)["x-ratelimit-remaining-tokens"]) < 100_000 - 300


async def test_a_stream_gets_usage_for_settlement_without_showing_it(transport: Transport) -> None:
    snap, engine = snapshot(
        transport, [{"name": "k-tpd", "scope": "key", "tokens_per_day": 100_000, "count": "output"}]
    )
    response, _ = await call(snap, key_principal(), max_tokens=400, stream=True)
    assert response.stream is not None
    items = [orjson.loads(item) async for item in response.stream]
    assert all(item.get("choices") for item in items), "the usage-only chunk is not shown to this client"
    left = await level(engine, "{wardgate}:rl:key:key_1:k-tpd:tpd:output", 100_000, 86_400)
    assert 100_000 - left < 400, "settled with the real output, not the 400 reserved"

    asked, _ = await call(snap, key_principal(), max_tokens=50, stream=True, stream_options={"include_usage": True})
    assert asked.stream is not None
    shown = [orjson.loads(item) async for item in asked.stream]
    assert shown[-1]["choices"] == [] and shown[-1]["usage"]["completion_tokens"] > 0


async def test_a_stream_abandoned_early_settles_and_releases(transport: Transport) -> None:
    rules = [{"name": "k", "scope": "key", "tokens_per_day": 100_000, "count": "output", "concurrent": 1}]
    snap, engine = snapshot(transport, rules)
    response, _ = await call(snap, key_principal(), max_tokens=2000, stream=True)
    assert response.stream is not None
    with pytest.raises(RateLimitError) as busy:
        await call(snap, key_principal())
    assert "concurrent requests" in busy.value.message
    first = await anext(response.stream)
    assert first
    await response.stream.aclose()  # type: ignore[attr-defined]
    left = await level(engine, "{wardgate}:rl:key:key_1:k:tpd:output", 100_000, 86_400)
    assert 100_000 - left <= 2, "the 2,000 reserved tokens came back; one event is charged"
    await call(snap, key_principal())  # the concurrency slot is free again


async def test_a_failed_request_gives_its_tokens_back(transport: Transport) -> None:
    snap, engine = snapshot(transport, [{"name": "k", "scope": "key", "tokens_per_day": 100_000}])
    with pytest.raises(Exception):  # noqa: B017 - the simulated provider refuses an empty message list
        await call(snap, key_principal(), messages=[])
    assert await level(engine, "{wardgate}:rl:key:key_1:k:tpd:total", 100_000, 86_400) >= 99_999


async def test_audit_mode_counts_records_and_never_refuses(transport: Transport) -> None:
    snap, _ = snapshot(transport, [{"name": "trial", "scope": "key", "requests_per_minute": 1, "mode": "audit"}])
    decisions = []
    for _ in range(3):
        _, ctx = await call(snap, key_principal())
        decisions += ctx.decisions
    assert [(d.name, d.mode, d.outcome) for d in decisions] == [("trial", "audit", "would_refuse")] * 2


async def test_a_request_larger_than_the_limit_is_told_so(transport: Transport) -> None:
    snap, _ = snapshot(transport, [{"name": "tiny", "scope": "key", "tokens_per_minute": 100}])
    with pytest.raises(RateLimitError) as refused:
        await call(snap, key_principal(), max_tokens=500)
    assert "more than the key limit `tiny` (100 tokens per minute) allows" in refused.value.message
    assert "retry-after" not in refused.value.headers


async def test_deployment_quotas_spread_load_then_refuse(transport: Transport) -> None:
    quota = {"requests_per_minute": 2}
    models = [
        {
            "name": "chat",
            "deployments": [
                {"provider": "sim", "model": "sim-chat", "limits": quota},
                {"provider": "sim2", "model": "sim-chat", "limits": quota},
            ],
        }
    ]
    snap, _ = snapshot(transport, [], models)
    served = [headers((await call(snap, key_principal()))[0])["x-wardgate-deployment"] for _ in range(4)]
    assert served == ["sim/sim-chat", "sim/sim-chat", "sim2/sim-chat", "sim2/sim-chat"]
    with pytest.raises(RateLimitError) as refused:
        await call(snap, key_principal())
    assert refused.value.code == "deployment_quota_exceeded"
    assert int(refused.value.headers["retry-after"]) >= 1


async def test_a_fail_closed_limit_refuses_when_its_store_is_down(transport: Transport) -> None:
    from wardgate.limits.redis_engine import RedisEngine
    from wardgate.limits.shared import SharedEngine

    snap, _ = snapshot(
        transport,
        [
            {"name": "strict", "scope": "key", "requests_per_minute": 100, "on_unavailable": "closed"},
            {"name": "lenient", "scope": "team", "requests_per_minute": 1},
        ],
    )
    dead = SharedEngine(RedisEngine.from_url("redis://127.0.0.1:1/0", timeout=0.2))
    assert snap.router is not None and snap.router.limits is not None
    snap.router.limits._engine = lambda: dead  # the snapshot's engine, swapped for one whose Redis is unreachable
    try:
        with pytest.raises(LimitStoreUnavailableError) as closed:
            await call(snap, key_principal())
        assert closed.value.http_status == 503 and "`strict`" in closed.value.message
        assert dead.stats()["available"] is False and dead.stats()["fail_closed_refusals"] == 1
    finally:
        await dead.close()


async def test_remaining_quota_routes_to_the_deployment_with_the_most_headroom(transport: Transport) -> None:
    models = [
        {
            "name": "chat",
            "strategy": "remaining_quota",
            "deployments": [
                {"provider": "sim", "model": "sim-chat", "limits": {"requests_per_minute": 10}},
                {"provider": "sim2", "model": "sim-chat", "limits": {"requests_per_minute": 4}},
            ],
        }
    ]
    snap, _ = snapshot(transport, [], models)
    served = [headers((await call(snap, key_principal()))[0])["x-wardgate-deployment"][:4] for _ in range(7)]
    # share left after taking: a 9/10 vs b 3/4 → a; 8/10 → a; 7/10 < 3/4 → b; 7/10 > 2/4 → a; 6/10 → a;
    # 5/10 = 2/4 → a (ties keep order); 4/10 < 2/4 → b
    assert served == ["sim/", "sim/", "sim2", "sim/", "sim/", "sim/", "sim2"]
