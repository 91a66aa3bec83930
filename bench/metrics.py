"""CPU per request of the metrics observer (``MetricsObserver.ended``), in one process and with shared files
(``serve --workers N``), for a whole answer, a stream, a retried failure and with team labels on; and what one
scrape costs.

    .venv/bin/python bench/metrics.py [--requests 200000]

Prints µs of CPU (``time.process_time``) per request: the best of 5 runs, and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.types import Attempt, Endpoint, Principal, ProxyRequest, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.observability.events import Observers, RequestEnd
from wardgate.observability.metrics import Metrics, Sources
from wardgate.observability.metrics_observer import MetricsObserver
from wardgate.observability.metrics_store import Store
from wardgate.providers.transport import Transport
from wardgate.runtime import Snapshot, build_snapshot
from wardgate.tokens.usage import Usage

MODELS = [{"name": f"model-{n}", "deployments": [{"provider": "sim", "model": f"sim-{n}"}]} for n in range(8)]


async def snapshot(team_labels: bool) -> Snapshot:
    config = GatewayConfig.model_validate(
        {
            "providers": [{"name": "sim", "type": "simulated"}],
            "models": MODELS,
            "observability": {"metrics": {"team_labels": team_labels}},
        }
    )
    transport = Transport()
    built = build_snapshot(LoadedConfig(config, "bench"), transport, Authenticator("x" * 64), Observers())
    await transport.close()
    return built


def ends(snap: Snapshot, kind: str) -> list[RequestEnd]:
    """A rotation of 64 ends over 8 models and 4 teams (the cells exist after the first round, as in a server)."""
    out = []
    for n in range(64):
        t0 = 1000.0 + n
        principal = Principal("key_1", kind="key", teams=MappingProxyType({f"team_{n % 4}": Role.MEMBER}))
        stream = kind == "stream"
        request = ProxyRequest(Endpoint.CHAT, b"", model=f"model-{n % 8}", stream=stream)
        ctx = RequestContext("req", snap, {}, None, t0, principal=principal)
        served = Attempt("sim", f"sim-{n % 8}", 200, None, t0 + 0.0004, t0 + 0.3, t0 + 0.9, f"sim/sim-{n % 8}")
        status, error = 200, None
        if kind == "retried":
            failed = Attempt("sim", f"sim-{n % 8}", 503, "overloaded", t0 + 0.0004, None, t0 + 0.1, served.deployment)
            ctx.attempts = [failed, served]
        elif kind == "failed":
            failed = Attempt("sim", f"sim-{n % 8}", 502, "bad_gateway", t0 + 0.0004, None, t0 + 0.1, served.deployment)
            ctx.attempts = [failed]
            status, error = 502, "bad_gateway"
        else:
            ctx.attempts = [served]
        if error is None:
            ctx.usage = Usage(input_tokens=120, output_tokens=300, cached_input_tokens=64)
            ctx.cost_usd = Decimal("0.000330")
        out.append(RequestEnd(ctx, request, status, error, t0 + 0.9012, 0.0))
    return out


def cpu_per_call(call: Callable[[RequestEnd], None], batch: list[RequestEnd], requests: int) -> tuple[float, float]:
    for end in batch:
        call(end)  # create the cells
    runs = []
    rounds = max(1, requests // len(batch))
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            for end in batch:
                call(end)
        runs.append((time.process_time() - started) / (rounds * len(batch)) * 1e6)
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    plain, teams = asyncio.run(snapshot(False)), asyncio.run(snapshot(True))
    print(f"{'case':<34} {'one process':>18} {'shared files':>18}   (µs CPU per request: best / median of 5)")
    with tempfile.TemporaryDirectory() as directory:
        for name, snap, kind in (
            ("whole answer", plain, "whole"),
            ("stream", plain, "stream"),
            ("retried (2 attempts)", plain, "retried"),
            ("failed (502)", plain, "failed"),
            ("whole answer, team labels on", teams, "whole"),
        ):
            cells = []
            for store in (Store(), Store(Path(directory))):
                observer = MetricsObserver(store)
                best, median = cpu_per_call(observer.ended, ends(snap, kind), args.requests)
                cells.append(f"{best:6.2f} / {median:6.2f}")
            print(f"{name:<34} {cells[0]:>18} {cells[1]:>18}")
        print(f"scrape of one process: {asyncio.run(scrape(None)):.2f} ms; of shared files: ", end="")
        print(f"{asyncio.run(scrape(Path(directory))):.2f} ms (everything above recorded)")


async def scrape(directory: Path | None) -> float:
    store = Store(directory)
    observer = MetricsObserver(store)
    for kind in ("whole", "stream", "retried", "failed"):
        for end in ends(await snapshot(True), kind):
            observer.ended(end)
    sources = Sources(lambda: {}, lambda: {}, lambda: {}, lambda: {"available": True})
    metrics = Metrics(sources, store)
    started = time.perf_counter()
    for _ in range(20):
        await metrics.render()
    return (time.perf_counter() - started) / 20 * 1000


if __name__ == "__main__":
    main()
