"""What the audit trail, the metrics and the traces cost the gateway, per request: the same gateway twice against
the fast fake upstream — once with all three on (audit records shipped to SQLite and chained, Prometheus metrics,
OpenTelemetry spans exported over OTLP/HTTP to a receiver, content off) and once with all three off — loaded
alternately with wrk, the gateway's own CPU (its process tree, so the shipper's and the span exporter's threads
count) divided by the requests it answered. The difference is the cost of the path. Access log and spend ledger
are on in both.

Run from the repo root: ``.venv/bin/python bench/observe.py [--duration 10] [--repeat 5] [--stream]``. Needs ``wrk``.
The target (issue 9): ≤ 60 µs CPU per request for audit + metrics + traces together.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import Bench, Target, load_for, log, wrk_run
from procs import Children, wait_ready
from targets import ALIAS, CLIENT_KEY, HOST, chat_url, free_port, start_upstream, wardgate_env

BENCH = Path(__file__).resolve().parent

ON = """
audit: {{enabled: true, seal_interval_seconds: 60}}
observability:
  tracing: {{enabled: true, endpoint: "http://127.0.0.1:{otlp}/v1/traces", sample_ratio: 1.0}}
"""
OFF = """
audit: {enabled: false}
"""


def config(upstream_port: int, extra: str, metrics: bool) -> str:
    return f"""server:
  access_log: true
  metrics: {str(metrics).lower()}
providers:
  - name: bench-upstream
    type: openai
    base_url: http://{HOST}:{upstream_port}/v1
    api_key: ${{BENCH_UPSTREAM_KEY}}
models:
  - name: {ALIAS}
    deployments:
      - provider: bench-upstream
        model: gpt-4o-mini
{extra}"""


def start(children: Children, name: str, text: str, tmp: Path) -> Target:
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    port = free_port()
    argv = [sys.executable, "-m", "wardgate", "serve", "--config", str(path), "--host", HOST, "--port", str(port)]
    argv += ["--data-dir", str(tmp / f"{name}-data")]
    child = children.spawn(name, argv, tmp / f"{name}.log", wardgate_env())
    wait_ready(child, HOST, port, "/readyz", timeout=60)
    return Target(name, chat_url(port), CLIENT_KEY, ALIAS, child.pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--stream", action="store_true", help="streaming requests (20 chunks) instead")
    args = parser.parse_args()
    sink = subprocess.Popen([sys.executable, str(BENCH / "otlp_sink.py")], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    otlp_port = int(sink.stdout.readline())
    with tempfile.TemporaryDirectory() as name, Children() as children:
        tmp = Path(name)
        upstream, direct = start_upstream(children, "fast", tmp, None)
        port = int(direct.url.split(":")[2].split("/")[0])
        on = start(children, "observed", config(port, ON.format(otlp=otlp_port), True), tmp)
        off = start(children, "bare", config(port, OFF, False), tmp)
        bench = Bench(load_cpus=None, helper_pids=[upstream.pid], probe_cpu=None, quiet_pids=[on.pid, off.pid])
        for target in (on, off):
            wrk_run(target, bench, load_for(target, args.connections, 3, args.stream))  # warm-up
        cpu: dict[str, list[float]] = {on.name: [], off.name: []}
        for round_ in range(args.repeat):
            for target in (on, off) if round_ % 2 == 0 else (off, on):
                run = wrk_run(target, bench, load_for(target, args.connections, args.duration, args.stream))
                assert run.wrk.error_count == 0, f"{target.name}: {run.wrk.error_count} errors"
                cpu[target.name].append(run.cpu_us_per_request or 0.0)
                log(f"[{target.name}] {run.wrk.rps:.0f} req/s, {run.cpu_us_per_request:.1f} µs CPU per request")
    kind = "stream" if args.stream else "request"
    med_on, med_off = statistics.median(cpu[on.name]), statistics.median(cpu[off.name])
    deltas = [a - b for a, b in zip(cpu[on.name], cpu[off.name], strict=True)]
    print(f"gateway CPU per {kind}: observed {med_on:.1f} µs, bare {med_off:.1f} µs (medians of {args.repeat})")
    print(f"audit + metrics + traces: {med_on - med_off:.1f} µs per {kind} (paired rounds: "
          f"{', '.join(f'{d:.1f}' for d in deltas)})")  # fmt: skip
    sink.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
