"""Budgets through a snapshot's router with the simulated provider (real usage) and the in-memory engine: calendar
windows, the worst case reserved and replaced by the real cost, a hard cap that refuses with 429
``insufficient_quota`` naming the budget, concurrent requests that cannot overspend beyond what is in flight, audit
mode, and alerts sent once per threshold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from wardgate.api.openai.parse import parse_chat
from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import QuotaExceededError
from wardgate.core.types import Endpoint, Principal, ProxyRequest, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.limits.alerts import BudgetAlerts
from wardgate.limits.budgets import window
from wardgate.limits.memory import MemoryEngine
from wardgate.observability.events import Observers
from wardgate.providers.transport import Transport
from wardgate.routing.state import RoutingState
from wardgate.runtime import Snapshot, build_snapshot

SIM = {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}
# $10 / $20 per million tokens: a request of ~10 prompt and up to 50 output tokens costs at most ~$0.0011
PRICES = {"models": {"budget-chat": {"provider": "simulated", "input": 10, "output": 20}}}
MODEL = [{"name": "chat", "deployments": [{"provider": "sim", "model": "budget-chat"}]}]


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    shared = Transport()
    yield shared
    await shared.close()


def snapshot(transport: Transport, budgets: list[dict[str, Any]]) -> tuple[Snapshot, MemoryEngine, BudgetAlerts]:
    config = GatewayConfig.model_validate(
        {"server": {"access_log": False}, "providers": [SIM], "models": MODEL, "budgets": budgets, "prices": PRICES}
    )
    engine, alerts = MemoryEngine(), BudgetAlerts()
    routing = RoutingState(limits=engine, budget_alerts=alerts)
    built = build_snapshot(LoadedConfig(config, "test"), transport, Authenticator("x" * 64), Observers(), None, routing)
    return built, engine, alerts


def principal(team: str = "team_1") -> Principal:
    return Principal("key_1", kind="key", teams=MappingProxyType({team: Role.MEMBER}))


async def call(snap: Snapshot, who: Principal, max_tokens: int = 50) -> Decimal:
    raw = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens})
    request = ProxyRequest(Endpoint.CHAT, raw, parse_chat)
    request.parse()
    ctx = RequestContext("req", snap, {}, None, time.perf_counter(), principal=who)
    assert snap.router is not None
    response = await snap.router.execute(ctx, request)
    usage = orjson.loads(response.body or b"")["usage"]
    return (Decimal(usage["prompt_tokens"]) * 10 + Decimal(usage["completion_tokens"]) * 20) / 1_000_000


def spent(engine: MemoryEngine, team: str, name: str, period: str = "monthly") -> Decimal:
    window_id, _ = window(period, datetime.now(UTC))  # type: ignore[arg-type]
    return Decimal(int(engine.spent(f"{{wardgate}}:budget:team:{team}:{name}:{window_id}"))) / 1_000_000


def test_windows_are_utc_calendar_periods() -> None:
    moment = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # a Monday
    assert window("daily", moment) == ("2026-11-30", 6 * 3600)
    assert window("weekly", moment) == ("2026-W49", 7 * 86_400 - 18 * 3600)
    assert window("monthly", moment) == ("2026-11", 6 * 3600)
    assert window("monthly", datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == ("2026-12", 3600)
    assert window("total", moment) == ("all", 0.0)


async def test_the_real_cost_replaces_the_worst_case(transport: Transport) -> None:
    snap, engine, _ = snapshot(transport, [{"name": "team-month", "scope": "team", "amount_usd": 5}])
    cost = await call(snap, principal())
    assert cost > 0 and spent(engine, "team_1", "team-month") == cost.quantize(Decimal("0.000001"))


async def test_a_spent_budget_refuses_with_insufficient_quota_naming_it(transport: Transport) -> None:
    snap, _, _ = snapshot(transport, [{"name": "tiny", "scope": "team", "amount_usd": 0.002, "period": "daily"}])
    with pytest.raises(QuotaExceededError) as refused:
        for _ in range(10):
            await call(snap, principal())
    assert refused.value.http_status == 429 and refused.value.code == "insufficient_quota"
    assert "team budget `tiny` ($0.00 per day)" in refused.value.message
    await call(snap, principal("team_2"))  # another team: its own budget


async def test_concurrent_requests_cannot_overspend_beyond_what_is_in_flight(transport: Transport) -> None:
    budget = Decimal("0.01")
    snap, engine, alerts = snapshot(transport, [{"name": "team-cap", "scope": "team", "amount_usd": 0.01}])

    async def one() -> Decimal | None:
        try:
            return await call(snap, principal(), max_tokens=50)
        except QuotaExceededError:
            return None

    costs = await asyncio.gather(*(one() for _ in range(100)))
    paid = [c for c in costs if c is not None]
    worst = Decimal(60 * 20) / 1_000_000  # (prompt + 50 output) at the output price bounds one request
    assert costs.count(None) > 0, "the cap must have been reached"
    assert sum(paid) <= budget + worst, (sum(paid), budget)
    assert spent(engine, "team_1", "team-cap", "monthly") <= budget
    await asyncio.sleep(0.05)  # alerts are claimed and sent in the background
    assert sorted(a["threshold"] for a in alerts.sent) == [0.8, 1.0], "each threshold alerts exactly once"


async def test_audit_mode_alerts_and_logs_but_never_refuses(transport: Transport) -> None:
    snap, _, alerts = snapshot(
        transport, [{"name": "trial", "scope": "org", "amount_usd": 0.001, "mode": "audit", "alerts": [0.5]}]
    )
    for _ in range(5):
        await call(snap, principal())
    await asyncio.sleep(0.05)  # alerts are claimed and sent in the background
    assert [a["budget"] for a in alerts.sent] == ["trial"]


async def test_a_budget_near_its_cap_downgrades_to_a_cheaper_model(transport: Transport) -> None:
    models = [
        *MODEL,
        {"name": "cheap", "deployments": [{"provider": "sim", "model": "cheap-chat"}]},
    ]
    prices = {"models": {**PRICES["models"], "cheap-chat": {"provider": "simulated", "input": 1, "output": 2}}}
    config = GatewayConfig.model_validate(
        {
            "server": {"access_log": False},
            "providers": [SIM],
            "models": models,
            "prices": prices,
            "budgets": [{"name": "b", "scope": "team", "amount_usd": 0.01, "downgrade": {"at": 0.5, "to": "cheap"}}],
        }
    )
    routing = RoutingState(limits=MemoryEngine(), budget_alerts=BudgetAlerts())
    snap = build_snapshot(LoadedConfig(config, "test"), transport, Authenticator("x" * 64), Observers(), None, routing)
    served, decisions = [], []
    for _ in range(12):
        raw = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})
        request = ProxyRequest(Endpoint.CHAT, raw, parse_chat)
        request.parse()
        ctx = RequestContext("req", snap, {}, None, time.perf_counter(), principal=principal())
        assert snap.router is not None
        response = await snap.router.execute(ctx, request)
        served.append(dict(response.headers)[b"x-wardgate-deployment"].decode())
        decisions += [(d.policy, d.outcome) for d in ctx.decisions]
    first_cheap = served.index("sim/cheap-chat")
    assert first_cheap > 0 and set(served[first_cheap:]) == {"sim/cheap-chat"}, served
    assert ("budget", "downgraded") in decisions


def test_a_downgrade_must_name_a_served_model() -> None:
    with pytest.raises(ValueError, match="downgrades to the unknown model `nope`"):
        GatewayConfig.model_validate(
            {
                "providers": [SIM],
                "models": MODEL,
                "budgets": [{"name": "b", "scope": "org", "amount_usd": 1, "downgrade": {"at": 0.9, "to": "nope"}}],
            }
        )
