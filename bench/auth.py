"""Microbenchmark: CPU per ``Authenticator.authenticate`` call (the request path's identity step) for the master key,
a virtual key out of an index of many, and a JWT bearer token already verified once (so served from the verifier's
token cache), plus the authenticate and authorize stages together for a model-restricted key.

Run from the repo root: ``.venv/bin/python bench/auth.py [--keys 10000] [--calls 200000]``. It loads the keys into
an ``IdentityCache`` from a throwaway SQLite database, starts a fake OpenID Provider for the JWT, then times
``calls`` awaits of each case with ``time.process_time`` (CPU of this process, best of 5 rounds) and prints
microseconds per call. The target (issue 5): a virtual key adds at most 30 µs CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import insert

from wardgate.config.schema import GatewayConfig
from wardgate.core.keys import hash_key
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, RequestContext
from wardgate.identity.authenticator import Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.identity.jwt import JwtSettings, JwtVerifier
from wardgate.routing.table import RouteTable
from wardgate.stages.authenticate import make_authenticate
from wardgate.stages.authorize import authorize
from wardgate.storage.database import Database
from wardgate.storage.migrate import upgrade
from wardgate.storage.schema import orgs, teams, virtual_keys
from wardgate.testing.fake_oidc import FakeOidc

MASTER_KEY = "wg-bench-master-key-0123456789abcdef"
ROUNDS = 5


async def load_keys(db: Database, count: int) -> list[str]:
    """``count`` keys in one team, each allowed one model; returns their secrets."""
    at = datetime.now(UTC)
    secrets = ["wg-" + os.urandom(24).hex() for _ in range(count)]
    rows = [
        {
            "id": f"key_{index}",
            "key_hash": hash_key(secret),
            "key_prefix": secret[:8],
            "name": f"bench {index}",
            "team_id": "team_1",
            "role": "member",
            "allowed_models": ["fast"],
            "enabled": True,
            "limits": {},
            "budgets": {},
            "metadata": {},
            "created_by": "bench",
            "created_at": at,
            "updated_at": at,
        }
        for index, secret in enumerate(secrets)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(orgs).values(id="org_1", name="bench", metadata={}, created_at=at, updated_at=at))
        await conn.execute(
            insert(teams).values(
                id="team_1", org_id="org_1", name="platform", metadata={}, created_at=at, updated_at=at
            )
        )
        await conn.execute(insert(virtual_keys), rows)
    return secrets


async def cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Best of ``ROUNDS`` rounds, in microseconds of process CPU per call."""
    for _ in range(1000):  # warm-up
        await call()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(calls):
            await call()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def stage_pair(auth: Authenticator, headers: dict[str, str]) -> Callable[[], Awaitable[object]]:
    """The authenticate stage followed by the authorize stage, with a terminal that does nothing."""
    config = GatewayConfig.model_validate(
        {
            "providers": [{"name": "p", "type": "simulated"}],
            "models": [{"name": "gpt-4o-mini", "aliases": ["fast"], "deployments": [{"provider": "p", "model": "m"}]}],
        }
    )
    snapshot = SimpleNamespace(routes=RouteTable.build(config, {"p": object()}))  # type: ignore[dict-item]
    authenticate = make_authenticate(auth)
    response = ProxyResponse(body=b"{}")

    async def terminal(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        return response

    async def after_authenticate(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        return await authorize(ctx, request, terminal)

    async def call() -> object:
        ctx = RequestContext("req", snapshot, headers, None, 0.0)
        return await authenticate(ctx, ProxyRequest(Endpoint.CHAT, b"", model="gpt-4o-mini"), after_authenticate)

    return call


async def main(keys: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(db)
        secrets = await load_keys(db, keys)
        cache = IdentityCache(poll_interval=0)
        await cache.start(db)
        async with FakeOidc() as idp:
            settings = JwtSettings(issuer=idp.url, audience=idp.client_id)
            auth = Authenticator(hash_key(MASTER_KEY), cache, JwtVerifier(settings))
            token = idp.issue_token({"groups": ["platform"]}, expires_in=3600)
            await auth.authenticate({"authorization": f"Bearer {token}"})  # verified once; later calls hit the cache
            cases: dict[str, dict[str, str]] = {
                "master key": {"authorization": f"Bearer {MASTER_KEY}"},
                f"virtual key (1 of {keys:,})": {"authorization": f"Bearer {secrets[keys // 2]}"},
                "JWT bearer token (cached)": {"authorization": f"Bearer {token}"},
            }
            print(f"CPU per call, best of {ROUNDS} rounds of {calls:,} calls")
            for name, headers in cases.items():
                micros = await cpu_per_call(functools.partial(auth.authenticate, headers), calls)
                print(f"  authenticate: {name:<32} {micros:6.2f} µs")
            pair = stage_pair(auth, cases[f"virtual key (1 of {keys:,})"])
            print(f"  stages authenticate+authorize: restricted virtual key  {await cpu_per_call(pair, calls):6.2f} µs")
            await auth.close()
        await cache.close()
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000, help="virtual keys in the index (default 10,000)")
    parser.add_argument("--calls", type=int, default=200_000, help="calls per round (default 200,000)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.keys, arguments.calls))
