"""Microbenchmark: CPU per request of rate limiting — resolving the limits that apply, counting the prompt's tokens,
reserving in every bucket (one engine call), and settling with the reported usage afterwards — in embedded mode
(memory engine) and shared mode (a real Redis: one ``EVALSHA`` per request, settlements batched behind requests).

Run from the repo root: ``.venv/bin/python bench/limits.py [--requests 20000] [--concurrency 32]``. Each request has
a key rpm, a team tpm, a model tpm and a key concurrency limit (four buckets) and a ~1 KB chat prompt. CPU is this
process's (``time.process_time``, best of 3 rounds, on uvloop as in the gateway), so it includes the Redis client
and the settlement flusher; Redis's
own CPU is not counted. Round trips are read from Redis's ``INFO commandstats``. The target (issue 7): ≤ 60 µs CPU
and one round trip per request in shared mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from types import MappingProxyType

import orjson
import redis.asyncio as redis
import uvloop

from wardgate.config.schema import GatewayConfig
from wardgate.core.types import Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.limits.admission import LimitAdmission
from wardgate.limits.buckets import LimitEngine
from wardgate.limits.memory import MemoryEngine
from wardgate.limits.redis_engine import RedisEngine
from wardgate.limits.resolve import LimitPolicy
from wardgate.limits.shared import SharedEngine
from wardgate.providers.registry import build_client
from wardgate.providers.transport import Transport
from wardgate.routing.table import RouteTable

REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
ROUNDS = 3
PROMPT = "Summarise the quarterly numbers for the platform team and list the three largest cost drivers. " * 10
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 256}
REPLY = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 230, "completion_tokens": 40, "total_tokens": 270},
    }
)


def admission(prefix: str, engine: LimitEngine) -> tuple[LimitAdmission, RouteTable]:
    config = GatewayConfig.model_validate(
        {
            "providers": [{"name": "sim", "type": "simulated"}],
            "models": [{"name": "gpt-4o", "deployments": [{"provider": "sim", "model": "gpt-4o"}]}],
            "limits": [
                {"name": "key-rpm", "scope": "key", "requests_per_minute": 10**9, "concurrent": 10**6},
                {"name": "team-tpm", "scope": "team", "tokens_per_minute": 10**12},
                {"name": "model-tpm", "scope": "model", "tokens_per_minute": 10**12},
            ],
        }
    )
    transport = Transport()
    clients = {p.name: build_client(p, transport, None) for p in config.providers}
    routes = RouteTable.build(config, clients)
    policy = LimitPolicy(config.limits, routes, "x-wardgate-agent", prefix)
    return LimitAdmission(policy, lambda: engine, config.server.limits), routes


async def one(admit: LimitAdmission, routes: RouteTable, principal: Principal, index: int) -> None:
    raw = orjson.dumps(BODY)
    request = ProxyRequest(Endpoint.CHAT, raw, None, dict(BODY), "gpt-4o", False)
    ctx = RequestContext(f"req-{index}", None, {}, None, 0.0, principal=principal)
    route = routes.resolve("gpt-4o")
    ticket, _ = await admit.admit(ctx, request, route, route.ordered)
    assert ticket is not None
    ticket.attach(ProxyResponse(body=REPLY), None)
    ticket.headers()


async def run(admit: LimitAdmission, routes: RouteTable, requests: int, concurrency: int) -> float:
    principal = Principal("key_1", kind="key", teams=MappingProxyType({"team_1": Role.MEMBER}), project_id="proj_1")
    queue = iter(range(requests))

    async def worker() -> None:
        for index in queue:
            await one(admit, routes, principal, index)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / requests * 1e6


async def commandstats(client: redis.Redis) -> dict[str, int]:
    info = await client.info("commandstats")
    return {name: int(stats["calls"]) for name, stats in info.items()}


async def main(requests: int, concurrency: int) -> None:
    memory, memory_routes = admission("bench", MemoryEngine())
    results = {"memory": min([await run(memory, memory_routes, requests, concurrency) for _ in range(ROUNDS)])}
    remote = RedisEngine.from_url(REDIS_URL)
    shared_engine = SharedEngine(remote)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    shared, routes = admission(prefix, shared_engine)
    stats = redis.Redis.from_url(REDIS_URL)
    await run(shared, routes, 2000, concurrency)  # load the scripts, warm the connections
    await remote.flush()
    before = await commandstats(stats)
    best = min([await run(shared, routes, requests, concurrency) for _ in range(ROUNDS)])
    await remote.flush()
    after = await commandstats(stats)
    calls = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    total = requests * ROUNDS
    evals = calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0)
    results["redis"] = best
    print(f"requests per round: {requests}, concurrency {concurrency}, best of {ROUNDS} rounds")
    print(f"embedded (memory engine):  {results['memory']:.1f} µs CPU per request")
    print(f"shared (Redis engine):     {results['redis']:.1f} µs CPU per request")
    print(f"Redis script calls per request: {evals / total:.3f} (one reserve each, settlements batched)")
    await shared_engine.close()
    keys = [key async for key in stats.scan_iter(match="{" + prefix + "}:*")]
    if keys:
        await stats.delete(*keys)
    await stats.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    uvloop.run(main(arguments.requests, arguments.concurrency))  # the gateway's event loop
