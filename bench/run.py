"""Benchmark wardgate against a fake upstream, side by side with the upstream alone (direct) and LiteLLM, and
wardgate translating to the Anthropic, Gemini and Bedrock dialects against its same-dialect (OpenAI) path.

Run from the repo root: ``.venv/bin/python bench/run.py [--quick] [--duration S] [--skip-litellm]
[--skip-translation] [--litellm PATH]``. Writes bench/results/latest.json, updates the table in bench/README.md
and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from measure import BENCH_DIR, Bench, Plan, Target, log, measure_all
from procs import Children
from report import render, update_readme
from targets import (
    TRANSLATED,
    UPSTREAMS,
    find_litellm,
    litellm_version,
    port_of,
    start_litellm,
    start_upstream,
    start_wardgate,
)

REPO = BENCH_DIR.parent
BACKGROUND_WARN_CORES = 0.15
Results = dict[str, Any]


@dataclass(frozen=True)
class Pinning:
    """CPU sets for the gateway under test and for everything else (load generator, upstream, TTFT client)."""

    proxy: str | None
    load: str | None

    def describe(self) -> str:
        if self.proxy is None:
            return "off"
        return f"gateway under test on CPU {self.proxy}; wrk, upstream and TTFT client on CPU {self.load}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs per measurement; the median is reported")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 s runs, no repeats, 40 TTFT probes")
    parser.add_argument("--skip-litellm", action="store_true", help="do not measure LiteLLM")
    parser.add_argument(
        "--skip-translation",
        action="store_true",
        help="do not measure wardgate translating to Anthropic, Gemini and Bedrock",
    )
    parser.add_argument("--litellm", default=None, help="litellm executable or the venv holding it (default: PATH)")
    parser.add_argument("--upstream", choices=sorted(UPSTREAMS), default="fast", help="fake upstream (default fast)")
    parser.add_argument("--ttft-count", type=int, default=200, help="sequential TTFT probes per target")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--output", type=Path, default=None, help="JSON results (default bench/results/latest.json)")
    parser.add_argument("--no-readme", action="store_true", help="do not update the table in bench/README.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with configs and logs")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(seconds=2, warmup=1, repeat=1, ttft_count=40, ttft_warmup=5)
    return Plan(seconds=args.duration, warmup=2, repeat=max(1, args.repeat), ttft_count=args.ttft_count, ttft_warmup=20)


def make_pinning(args: argparse.Namespace) -> Pinning:
    if args.no_pin or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return Pinning(None, None)
    return Pinning("0", "1")


# ----------------------------------------------------------------------------------------------------- facts


def command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str:
    """The commit, plus a fingerprint of uncommitted changes under src/ (others may be editing it)."""
    commit = command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "unknown"
    diff = command_output(["git", "-C", str(REPO), "diff", "HEAD", "--", "src"])
    if not diff:
        return commit
    return f"{commit} + uncommitted changes in src/ (diff sha1 {hashlib.sha1(diff.encode()).hexdigest()[:10]})"


def machine_facts(args: argparse.Namespace, pinning: Pinning) -> Results:
    from wardgate import __version__

    wrk_version = command_output(["wrk", "-v"]).splitlines()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wardgate_version": __version__,
        "git_commit": git_commit(),
        "litellm_version": None,
        "wrk_version": wrk_version[0] if wrk_version else None,
        "upstream": UPSTREAMS[args.upstream],
        "pinning": pinning.describe(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


# ---------------------------------------------------------------------------------------------------- driver


def start_translations(
    args: argparse.Namespace, children: Children, direct: Target, tmp: Path, pinning: Pinning, results: Results
) -> list[Target]:
    """One more wardgate worker per translated dialect (same config as the wardgate target but for the provider),
    unless skipped; only the fast upstream speaks those dialects."""
    if args.skip_translation:
        return []
    if args.upstream != "fast":
        results["warnings"].append("translation was not measured: only the fast upstream speaks the other dialects")
        return []
    started = []
    for dialect in TRANSLATED:
        log(f"starting wardgate → {dialect}")
        started.append(start_wardgate(children, port_of(direct), tmp, pinning.proxy, dialect)[1])
    return started


def start_litellm_if_found(
    args: argparse.Namespace, children: Children, direct: Target, tmp: Path, pinning: Pinning, results: Results
) -> list[Target]:
    exe = None if args.skip_litellm else find_litellm(args.litellm)
    if exe is None:
        if not args.skip_litellm:
            results["warnings"].append("LiteLLM was not found (pass --litellm PATH), so it was not measured")
        return []
    results["meta"]["litellm_version"] = litellm_version(exe)
    log(f"starting LiteLLM {results['meta']['litellm_version']} ({exe})")
    return [start_litellm(children, exe, port_of(direct), tmp, pinning.proxy)[1]]


def run_all(args: argparse.Namespace, plan: Plan, pinning: Pinning, tmp: Path, results: Results) -> None:
    """Start the upstream, wardgate, its translating twins and (if found) LiteLLM, then measure them all in
    interleaved rounds (the translated targets right after wardgate, so that each round compares them closely)."""
    with Children() as children:
        upstream, direct = start_upstream(children, args.upstream, tmp, pinning.load)
        log("starting wardgate")
        _, gateway = start_wardgate(children, port_of(direct), tmp, pinning.proxy)
        targets = [direct, gateway]
        targets += start_translations(args, children, direct, tmp, pinning, results)
        targets += start_litellm_if_found(args, children, direct, tmp, pinning, results)
        probe_cpu = None if pinning.proxy is None else int(pinning.proxy)
        bench = Bench(pinning.load, [upstream.pid], probe_cpu, [target.pid for target in targets])
        results["targets"] = measure_all(targets, bench, plan)


def add_warnings(results: Results) -> None:
    """Flag wrk errors and runs during which something outside the benchmark used CPU."""
    for name, target in results["targets"].items():
        for kind, runs in target["runs"].items():
            for index, run in enumerate(runs, 1):
                where = f"{name} {kind} run {index}"
                if any(run["errors"].values()):
                    results["warnings"].append(f"{where}: wrk counted errors {run['errors']}")
                background = run["cpu"]["background_cores"]
                if background > BACKGROUND_WARN_CORES:
                    results["warnings"].append(f"{where}: other processes used {background:.2f} cores meanwhile")


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit so that every ``finally`` (so every child process kill) runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def publish(args: argparse.Namespace, results: Results) -> None:
    output = args.output or BENCH_DIR / "results" / ("quick.json" if args.quick else "latest.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if not args.no_readme and not args.quick:
        update_readme(BENCH_DIR / "README.md", results)
    print(render(results))
    log(f"results written to {output}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan, pinning = make_plan(args), make_pinning(args)
    started = time.monotonic()
    results: Results = {"meta": machine_facts(args, pinning), "plan": asdict(plan), "targets": {}, "warnings": []}
    tmp = Path(tempfile.mkdtemp(prefix="wardgate-bench-"))
    try:
        with sigterm_as_exit():
            run_all(args, plan, pinning, tmp, results)
    except KeyboardInterrupt:
        log("interrupted; every started process was stopped")
        return 130
    finally:
        if args.keep_logs:
            log(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    mode = "--quick" if args.quick else f"{plan.repeat} runs of {plan.seconds:.0f} s per wrk measurement"
    results["meta"]["run"] = f"{mode}; the whole run took {time.monotonic() - started:.0f} s"
    add_warnings(results)
    publish(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
