"""Microbenchmark: CPU per request of the audit trail, the metrics and the traces together — the observers a
finished request goes through and everything they set off behind it, in one process as in the gateway:

* audit: the record built, encoded and spooled on the request path, then the spool's fdatasync'd writes and the
  shipper appending batches to the hash chain in a real database (SQLite file, or PostgreSQL with ``--database``);
* metrics: the request's counters and histograms;
* traces: a server span and an attempt span (trace context continued from the client, W3C ``traceparent`` made
  for the upstream), encoded and exported over OTLP/HTTP to a collector on this machine (another process).

Requests arrive at a steady ``--rate`` (as a busy gateway's do) for ``--seconds``. Two figures, each the best
observed round minus the best bare round (the same loop with no observers), medians beside: all of it — this
process's CPU (``time.process_time``: every thread, kernel time included) over the whole run including the final
drain —, and on the request path — the event loop thread's CPU while it runs the requests. Run from the repo root:
``.venv/bin/python bench/observe_path.py [--rate 2000] [--seconds 8] [--database postgresql://…]``. The target
(issue 9): ≤ 60 µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import uvloop

from wardgate.app import tune_gc
from wardgate.audit.chain import SealKey
from wardgate.audit.observer import AuditObserver
from wardgate.audit.trail import AuditTrail
from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.types import Attempt, Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.observability.events import Observers, RequestEnd
from wardgate.observability.metrics_observer import MetricsObserver
from wardgate.observability.tracing import open_tracing
from wardgate.providers.transport import Transport
from wardgate.runtime import Snapshot, build_snapshot
from wardgate.storage.database import Database
from wardgate.storage.migrate import upgrade
from wardgate.tokens.usage import Usage

BENCH = Path(__file__).resolve().parent
PROMPT = [{"role": "user", "content": "Summarise the quarterly numbers for the platform team. " * 4}]
ANSWER = b'{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[]}'


def snapshot(collector_port: int, transport: Transport) -> Snapshot:
    config = GatewayConfig.model_validate(
        {
            "providers": [{"name": "openai-main", "type": "openai", "api_key": "sk-bench"}],
            "models": [{"name": "chat", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]}],
            "observability": {"tracing": {"enabled": True, "endpoint": f"http://127.0.0.1:{collector_port}/v1/traces"}},
        }
    )
    return build_snapshot(LoadedConfig(config, "bench"), transport, Authenticator("x" * 64), Observers())


PRINCIPALS = [
    Principal(f"key_{k}", kind="key", teams=MappingProxyType({f"team_{k % 5}": Role.MEMBER}), project_id="proj_1")
    for k in range(50)
]
"""50 callers; as in the gateway, where a key's principal is built once and kept in the key cache."""


def one_request(snap: Snapshot, observers: Observers, n: int) -> None:
    """What the gateway's layers do around the observers for one whole answer from one attempt."""
    started = time.perf_counter()
    headers = {
        "traceparent": f"00-{n:032x}-{n + 1:016x}-01",
        "user-agent": "OpenAI/Python 1.54.0",
        "authorization": "Bearer wg-never-read",
    }
    ctx = RequestContext(f"req-{n}", snap, headers, "10.0.0.7", started)
    observers.started(ctx)
    ctx.principal = PRINCIPALS[n % 50]
    request = ProxyRequest(Endpoint.CHAT, b"", body={"model": "chat", "messages": PROMPT}, model="chat")
    client = snap.clients["openai-main"]
    attempt = Attempt("openai-main", "gpt-4o-mini", started=time.perf_counter(), deployment="openai-main/gpt-4o-mini")
    attempt.route = "chat"
    ctx.attempts.append(attempt)
    trace = ctx.trace
    if trace is not None:
        ctx.upstream_headers = trace.attempt_started(attempt, client)
    response = ProxyResponse(body=ANSWER)
    attempt.status, attempt.first_byte = 200, time.perf_counter()
    attempt.finished = attempt.first_byte
    if trace is not None:
        trace.attempt_answered(attempt, response)
    ctx.usage, ctx.cost_usd = Usage(112, 38), Decimal("0.0000396")
    ctx.status = 200
    observers.responded(ctx, response)
    observers.ended(RequestEnd(ctx, request, 200, None, time.perf_counter(), time.time()))


@dataclass(frozen=True, slots=True)
class Cost:
    total: float
    """µs of CPU per request in the whole process (every thread, kernel time included), the drain included."""
    on_path: float
    """µs of CPU per request in the requests themselves (the event loop's thread while it runs them)."""


async def run(args: argparse.Namespace, url: str, collector_port: int, observed: bool) -> Cost:
    transport = Transport()
    snap = snapshot(collector_port, transport)
    observers = Observers()
    trail = tracing = None
    parts = set(args.only.split(",")) if observed else set()
    if "audit" in parts:
        db = Database(url)
        await upgrade(db)
        trail = AuditTrail(db, Path(tempfile.mkdtemp()) / "spool", seal_key=SealKey.derive(b"k" * 32, "bench"))
        await trail.start()
        observers.add(AuditObserver(trail))
    if "metrics" in parts:
        observers.add(MetricsObserver())
    if "traces" in parts:
        tracing = open_tracing(snap.config.observability.tracing)
        assert tracing is not None
        observers.add(tracing)
    tune_gc()  # as the gateway does once started
    total = int(args.rate * args.seconds)
    tick = 0.01
    per_tick = max(1, int(args.rate * tick))
    cpu = time.process_time()
    began = time.perf_counter()
    on_path = 0.0
    for first in range(0, total, per_tick):
        tick_cpu = time.thread_time()
        for n in range(first, min(total, first + per_tick)):
            one_request(snap, observers, n)
        on_path += time.thread_time() - tick_cpu
        await asyncio.sleep(max(0.0, began + (first + per_tick) / args.rate - time.perf_counter()))
    if tracing is not None:
        await tracing.close()
    if trail is not None:
        await trail.close(60)
        assert trail.stats.shipped == total, trail.snapshot()
        await trail.db.close()
    spent = time.process_time() - cpu
    await transport.close()
    return Cost(spent * 1e6 / total, on_path * 1e6 / total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0, help="requests per second (default 2000)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file per round")
    parser.add_argument("--only", default="audit,metrics,traces", help="comma-separated subset (default: all)")
    args = parser.parse_args()
    collector = subprocess.Popen([sys.executable, str(BENCH / "otlp_sink.py")], stdout=subprocess.PIPE, text=True)
    assert collector.stdout is not None
    port = int(collector.stdout.readline())
    try:
        bare: list[Cost] = []
        observed: list[Cost] = []
        for _ in range(args.rounds):
            url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
            bare.append(uvloop.run(run(args, url, port, observed=False)))
            observed.append(uvloop.run(run(args, url, port, observed=True)))
            print(f"round: bare {bare[-1]}, observed {observed[-1]}", file=sys.stderr)
    finally:
        collector.terminate()
    where = "PostgreSQL" if args.database else "SQLite"
    what = args.only.replace("audit", f"audit ({where})").replace("traces", "traces (OTLP)").replace(",", " + ")
    print(f"{what} at {args.rate:.0f} requests/s, {args.rounds} rounds (best observed - best bare; medians):")
    for label, field in (("all of it", "total"), ("on the request path", "on_path")):
        b = [getattr(c, field) for c in bare]
        o = [getattr(c, field) for c in observed]
        print(
            f"  {label}: {min(o) - min(b):.1f} µs CPU per request "
            f"(median {statistics.median(o) - statistics.median(b):.1f})"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
