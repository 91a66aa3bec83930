"""Measure all targets the same way, interleaved so that a drift in the machine's speed hits every target alike.

Sequence: a warm-up per target; then for each measurement (saturating non-streaming runs for max RPS and CPU per
request, concurrency-1 runs for latency, saturating streaming runs for CPU per stream) ``repeat`` rounds that run
each target once in turn, each run started only once the previous target has gone idle; then TTFT probes in
rounds as well; finally the peak RSS and thread count of each target's process tree. A measurement is reported
by its median run; every run is kept in the results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meter import CpuUse, cpu_probe_ms, metered, wait_idle
from procs import pinned, tree_peak_rss_mib, tree_threads
from ttft import Timing, summarize
from wrkload import Load, WrkResult, run_wrk

BENCH_DIR = Path(__file__).resolve().parent
TTFT_ROUNDS = 4


@dataclass(frozen=True)
class Plan:
    """How long and how hard each measurement runs."""

    seconds: float
    warmup: float
    repeat: int
    ttft_count: int
    ttft_warmup: int
    rps_connections: int = 64
    stream_connections: int = 16


@dataclass(frozen=True)
class Target:
    """A chat completions endpoint to load, and the process whose tree is charged for its CPU and memory."""

    name: str
    url: str
    key: str
    model: str
    pid: int


@dataclass(frozen=True)
class Bench:
    """Where the load comes from: the CPUs for wrk and the TTFT client, the helper processes (the upstream) whose
    CPU is part of the benchmark rather than background load, the CPU to time the speed probe on, and the
    processes (every target) that must be idle before a run starts."""

    load_cpus: str | None
    helper_pids: Sequence[int]
    probe_cpu: int | None
    quiet_pids: Sequence[int] = ()


@dataclass(frozen=True)
class Run:
    wrk: WrkResult
    cpu: CpuUse
    probe_ms: float
    settle_s: float

    @property
    def cpu_us_per_request(self) -> float | None:
        return self.cpu.target_cpu * 1e6 / self.wrk.requests if self.wrk.requests else None

    def to_json(self) -> dict[str, Any]:
        cpu = {**self.cpu.to_json(), "probe_ms": round(self.probe_ms, 2), "settle_s": round(self.settle_s, 2)}
        return {**self.wrk.to_json(), "cpu_us_per_request": self.cpu_us_per_request, "cpu": cpu}


@dataclass(frozen=True)
class Kind:
    """One wrk measurement: its name, connections, streaming or not, and how its median run is chosen."""

    name: str
    connections: int
    stream: bool
    order: Callable[[Run], float]


@dataclass
class Collected:
    runs: dict[str, list[Run]] = field(default_factory=dict)
    ttft: list[Timing] = field(default_factory=list)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def kinds(plan: Plan) -> list[Kind]:
    return [
        Kind("rps", plan.rps_connections, False, lambda run: run.wrk.rps),
        Kind("c1", 1, False, lambda run: run.wrk.latency_us["mean"]),
        Kind("stream", plan.stream_connections, True, lambda run: run.wrk.rps),
    ]


def load_for(target: Target, connections: int, seconds: float, stream: bool = False) -> Load:
    return Load(target.url, target.key, target.model, connections, seconds, stream)


def wrk_run(target: Target, bench: Bench, load: Load) -> Run:
    """Wait for every target to go idle (a slow gateway may still be draining the last run), time the speed
    probe, then run wrk and account the CPU around it."""
    settle = wait_idle([target.pid, *bench.quiet_pids])
    probe = cpu_probe_ms(bench.probe_cpu)
    result, cpu = metered(target.pid, bench.helper_pids, lambda: run_wrk(load, cpus=bench.load_cpus))
    return Run(result, cpu, probe, settle)


def warm_up(target: Target, bench: Bench, plan: Plan) -> None:
    """Same connection counts as the measured runs, so that connection pools are full before measuring."""
    log(f"[{target.name}] warm-up")
    run_wrk(load_for(target, plan.rps_connections, plan.warmup), cpus=bench.load_cpus)
    run_wrk(load_for(target, plan.stream_connections, plan.warmup, stream=True), cpus=bench.load_cpus)


def ttft_samples(target: Target, bench: Bench, count: int, warmup: int) -> list[Timing]:
    argv = [sys.executable, str(BENCH_DIR / "ttft.py"), "--url", target.url, "--key", target.key, "--samples"]
    argv += ["--model", target.model, "--count", str(count), "--warmup", str(warmup)]
    wait_idle([target.pid, *bench.quiet_pids])
    done = subprocess.run(pinned(argv, bench.load_cpus), capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"TTFT client failed for {target.name}: {done.stderr[-2000:]}")
    return [Timing(ttft, total) for ttft, total in json.loads(done.stdout)]


def collect_runs(targets: Sequence[Target], bench: Bench, plan: Plan, kind: Kind) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {target.name: [] for target in targets}
    for index in range(plan.repeat):
        for target in targets:
            progress = f"{plan.seconds:.0f} s ({index + 1}/{plan.repeat})"
            log(f"[{target.name}] {kind.name}, c={kind.connections}, {progress}")
            load = load_for(target, kind.connections, plan.seconds, kind.stream)
            runs[target.name].append(wrk_run(target, bench, load))
    return runs


def collect_ttft(targets: Sequence[Target], bench: Bench, plan: Plan) -> dict[str, list[Timing]]:
    timings: dict[str, list[Timing]] = {target.name: [] for target in targets}
    rounds = max(1, min(TTFT_ROUNDS, plan.ttft_count))
    count, warmup = plan.ttft_count // rounds, max(2, plan.ttft_warmup // rounds)
    for index in range(rounds):
        for target in targets:
            log(f"[{target.name}] TTFT, {count} sequential streams ({index + 1}/{rounds})")
            timings[target.name] += ttft_samples(target, bench, count, warmup)
    return timings


def collect(targets: Sequence[Target], bench: Bench, plan: Plan) -> dict[str, Collected]:
    for target in targets:
        warm_up(target, bench, plan)
    collected = {target.name: Collected() for target in targets}
    for kind in kinds(plan):
        for name, runs in collect_runs(targets, bench, plan, kind).items():
            collected[name].runs[kind.name] = runs
    for name, timings in collect_ttft(targets, bench, plan).items():
        collected[name].ttft = timings
    return collected


def median_run(runs: Sequence[Run], key: Callable[[Run], float]) -> Run:
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


def summarize_target(target: Target, collected: Collected, plan: Plan) -> dict[str, Any]:
    medians = {kind.name: median_run(collected.runs[kind.name], kind.order) for kind in kinds(plan)}
    return {
        "rps": medians["rps"].wrk.to_json(),
        "cpu_us_per_request": medians["rps"].cpu_us_per_request,
        "c1": medians["c1"].wrk.to_json(),
        "cpu_us_per_request_c1": medians["c1"].cpu_us_per_request,
        "stream": medians["stream"].wrk.to_json(),
        "cpu_us_per_stream": medians["stream"].cpu_us_per_request,
        "ttft": summarize(collected.ttft),
        "peak_rss_mib": tree_peak_rss_mib(target.pid),
        "threads": tree_threads(target.pid),
        "runs": {name: [run.to_json() for run in runs] for name, runs in collected.runs.items()},
    }


def measure_all(targets: Sequence[Target], bench: Bench, plan: Plan) -> dict[str, dict[str, Any]]:
    collected = collect(targets, bench, plan)
    return {target.name: summarize_target(target, collected[target.name], plan) for target in targets}
