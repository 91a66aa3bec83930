"""A key's, team's or project's own budget (``Principal.budgets``) through a snapshot's router with no config
budget rule: it refuses with 429 ``insufficient_quota`` once spent, in its own bucket; principals without budgets
reserve nothing and never compute a worst case."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from wardgate.api.openai.parse import parse_chat
from wardgate.config.budgets_config import BudgetSet
from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import QuotaExceededError
from wardgate.core.types import Endpoint, Principal, ProxyRequest, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.limits.alerts import BudgetAlerts
from wardgate.limits.budgets import BudgetPolicy, window
from wardgate.limits.memory import MemoryEngine
from wardgate.observability.events import Observers
from wardgate.providers.transport import Transport
from wardgate.routing.state import RoutingState
from wardgate.runtime import Snapshot, build_snapshot

SIM = {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}
PRICES = {"models": {"budget-chat": {"provider": "simulated", "input": 10, "output": 20}}}
MODEL = [{"name": "chat", "deployments": [{"provider": "sim", "model": "budget-chat"}]}]


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    shared = Transport()
    yield shared
    await shared.close()


def snapshot(transport: Transport) -> tuple[Snapshot, MemoryEngine]:
    config = GatewayConfig.model_validate(
        {"server": {"access_log": False}, "providers": [SIM], "models": MODEL, "prices": PRICES}
    )
    engine = MemoryEngine()
    routing = RoutingState(limits=engine, budget_alerts=BudgetAlerts())
    built = build_snapshot(LoadedConfig(config, "test"), transport, Authenticator("x" * 64), Observers(), None, routing)
    return built, engine


def principal(key_id: str, **budgets: BudgetSet) -> Principal:
    return Principal(
        key_id, kind="key", teams=MappingProxyType({"team_1": Role.MEMBER}), budgets=MappingProxyType(budgets)
    )


async def call(snap: Snapshot, who: Principal) -> None:
    raw = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})
    request = ProxyRequest(Endpoint.CHAT, raw, parse_chat)
    request.parse()
    ctx = RequestContext("req", snap, {}, None, time.perf_counter(), principal=who)
    assert snap.router is not None
    await snap.router.execute(ctx, request)


async def test_a_keys_own_budget_refuses_with_insufficient_quota(transport: Transport) -> None:
    snap, engine = snapshot(transport)
    capped = principal("key_1", key=BudgetSet(amount_usd=0.002, period="daily"))
    with pytest.raises(QuotaExceededError) as refused:
        for _ in range(10):
            await call(snap, capped)
    assert refused.value.http_status == 429 and refused.value.code == "insufficient_quota"
    assert refused.value.message.startswith("The key budget ($0.00 per day) does not cover this request")
    day, _ = window("daily", datetime.now(UTC))
    assert engine.spent(f"{{wardgate}}:budget:key:key_1:key budget:{day}") > 0
    await call(snap, principal("key_2"))  # another key of the same team: no budget of its own
    await call(snap, principal("key_3", key=BudgetSet(amount_usd=0.002, mode="audit")))


async def test_team_and_project_budgets_count_per_object() -> None:
    policy = BudgetPolicy([], "x-agent")
    who = Principal(
        "key_1",
        kind="key",
        teams=MappingProxyType({"team_1": Role.MEMBER}),
        project_id="proj_1",
        budgets=MappingProxyType({"team": BudgetSet(amount_usd=5), "project": BudgetSet(amount_usd=1)}),
    )
    moment = datetime(2026, 3, 4, tzinfo=UTC)
    found = policy.demands(who, {}, {}, lambda: Decimal("0.5"), moment)
    keys = [demand.key for demand, _, _ in found]
    assert keys == [
        "{wardgate}:budget:team:team_1:team budget:2026-03",
        "{wardgate}:budget:project:proj_1:project budget:2026-03",
    ]
    assert [(meter.limit, rule.scope, rule.amount_usd) for _, meter, rule in found] == [
        ("team budget", "team", 5),
        ("project budget", "project", 1),
    ]


def test_nothing_applies_without_budgets() -> None:
    def never() -> Any:
        raise AssertionError("no worst case without a budget")

    policy = BudgetPolicy([], "x-agent")
    assert policy.demands(principal("key_1"), {}, {}, never) == []
    assert policy.demands(None, {}, {}, never) == []
