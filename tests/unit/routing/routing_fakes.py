"""Helpers for the router's unit tests: scripted provider clients, a recording breaker board, route tables built
from config dicts, and request contexts."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from wardgate.config.routing_config import RoutingConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import GatewayError
from wardgate.core.types import Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.base import DeploymentTarget
from wardgate.routing.execute import Router
from wardgate.routing.state import RoutingState
from wardgate.routing.table import RouteTable

OK = "ok"
STREAM = "stream"


@dataclass
class Slow:
    """Answer after ``seconds``."""

    seconds: float


@dataclass
class BrokenStream:
    """A stream that sends ``events`` events, then raises ``error``."""

    events: int
    error: GatewayError


class ScriptedClient:
    """A provider client answering from a script (one item per call; "ok" once the script is used up)."""

    type = "fake"

    def __init__(self, name: str, *script: Any) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[str] = []
        self.call_times: list[float] = []

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse:
        self.calls.append(target.upstream_model)
        self.call_times.append(time.perf_counter())
        item = self.script.pop(0) if self.script else OK
        if isinstance(item, Slow):
            await asyncio.sleep(item.seconds)
            item = OK
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, BrokenStream):
            return ProxyResponse(stream=_events(item.events, item.error))
        if item == STREAM:
            return ProxyResponse(stream=_events(3, None))
        return ProxyResponse(body=b'{"served_by": "' + f"{self.name}/{target.upstream_model}".encode() + b'"}')


async def _events(count: int, error: GatewayError | None) -> AsyncIterator[bytes]:
    for index in range(count):
        await asyncio.sleep(0)
        yield b'{"n": %d}' % index
    if error is not None:
        raise error


@dataclass
class RecordingBoard:
    """A breaker board that lets through what ``blocked`` does not name, and records every call."""

    blocked: set[str] = field(default_factory=set)
    wait: float = 7.0
    selects: list[list[str]] = field(default_factory=list)
    records: list[tuple[str, bool]] = field(default_factory=list)
    cooldowns: list[tuple[str, float]] = field(default_factory=list)

    def select(self, group: Sequence[str], now: float) -> list[str]:
        self.selects.append(list(group))
        return [d for d in group if d not in self.blocked]

    def record(self, deployment_id: str, ok: bool, now: float) -> None:
        self.records.append((deployment_id, ok))

    def cool_down(self, deployment_id: str, until: float) -> None:
        self.cooldowns.append((deployment_id, until - time.time()))

    def retry_after(self, group: Sequence[str], now: float) -> float:
        return self.wait

    def states(self) -> dict[str, dict[str, Any]]:
        return {}


def gateway_config(
    models: list[dict[str, Any]], providers: Sequence[str] = ("a", "b", "c"), **routing: Any
) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "server": {"routing": routing},
            "providers": [{"name": name, "type": "simulated"} for name in providers],
            "models": models,
        }
    )


def build_table(config: GatewayConfig, clients: dict[str, ScriptedClient]) -> RouteTable:
    return RouteTable.build(config, clients)


def make_router(
    models: list[dict[str, Any]],
    clients: dict[str, ScriptedClient],
    *,
    board: RecordingBoard | None = None,
    seed: int = 7,
    **routing: Any,
) -> Router:
    config = gateway_config(models, tuple(clients), **routing)
    state = RoutingState(breakers=board or RecordingBoard(), rng=random.Random(seed))
    table = build_table(config, clients)
    state.configure(config.server.routing, table.deployment_ids())
    return Router(table, config.server.routing, state)


def context(headers: dict[str, str] | None = None, principal: Principal | None = None) -> RequestContext:
    return RequestContext("req_1", None, headers or {}, None, time.perf_counter(), principal=principal)


def chat(
    model: str, *, stream: bool = False, messages: list[dict[str, Any]] | None = None, **body: Any
) -> ProxyRequest:
    content = {"model": model, "messages": messages or [{"role": "user", "content": "hi"}], **body}
    return ProxyRequest(Endpoint.CHAT, b"{}", body=content, model=model, stream=stream)


def routing_config(**values: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(values)
