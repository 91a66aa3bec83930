"""Profile wardgate under load with py-spy and summarise where its CPU goes.

Run from the repo root: ``.venv/bin/python bench/profile.py --py-spy PATH [--stream] [--seconds 10]``. It starts
the fast upstream and one wardgate worker (same config and pinning as bench/run.py), saturates it with wrk while
``py-spy record --gil`` samples it, saves the collapsed stacks to bench/results/profile-<kind>.collapsed and prints:
the functions with the most self time, and the samples charged to the innermost wardgate frame of each stack
(that frame's own time plus the library code it called, e.g. aiohttp under ``Transport.send``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from measure import BENCH_DIR, Plan, log
from procs import Children
from targets import port_of, start_upstream, start_wardgate
from wrkload import Load, run_wrk

OWN_CODE = "wardgate/"
_LINE = re.compile(r":\d+\)")
_PREFIX = re.compile(r"/\S*?/(site-packages|lib/python3\.\d+|src)/")


def frame_name(frame: str) -> str:
    """``func (path:line)`` → ``func (short/path)``: no line numbers, no environment prefixes."""
    return _PREFIX.sub("", _LINE.sub(")", frame))


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def self_time(stacks: list[tuple[list[str], int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[frames[-1]] += count
    return counts


def _entry_point(frame: str) -> bool:
    return "wardgate/cli.py" in frame or "wardgate/__main__.py" in frame


def own_code_time(stacks: list[tuple[list[str], int]]) -> Counter[str]:
    """Each sample charged to the innermost frame of wardgate's own code (``(outside wardgate)`` if none)."""
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        own = next((f for f in reversed(frames) if OWN_CODE in f and not _entry_point(f)), None)
        counts[own or "(outside wardgate: server loop, I/O, framework)"] += count
    return counts


def summary(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    lines = [f"{total} samples"]
    for title, counts in (("self time", self_time(stacks)), ("innermost wardgate frame", own_code_time(stacks))):
        lines.append(f"\n== {title}")
        lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in counts.most_common(top)]
    return "\n".join(lines)


def record(py_spy: str, pid: int, seconds: float, out: Path, native: bool) -> subprocess.Popen[bytes]:
    argv = [py_spy, "record", "--gil", "-p", str(pid), "-d", str(round(seconds)), "-r", "250", "-f", "raw"]
    argv += ["-o", str(out), *(["--native"] if native else [])]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile(args: argparse.Namespace, out: Path) -> None:
    plan = Plan(seconds=args.seconds, warmup=2, repeat=1, ttft_count=0, ttft_warmup=0)
    with Children() as children, tempfile.TemporaryDirectory(prefix="wardgate-profile-") as tmp:
        _, direct = start_upstream(children, "fast", Path(tmp), "1")
        _, gateway = start_wardgate(children, port_of(direct), Path(tmp), "0")
        connections = 16 if args.stream else 64

        def load(seconds: float) -> Load:
            return Load(gateway.url, gateway.key, gateway.model, connections, seconds, args.stream)

        run_wrk(load(plan.warmup), cpus="1")
        log(f"profiling wardgate pid {gateway.pid} for {plan.seconds:.0f} s")
        driver = threading.Thread(target=run_wrk, args=(load(plan.seconds + 2),), kwargs={"cpus": "1"})
        driver.start()
        spy = record(args.py_spy, gateway.pid, plan.seconds, out, args.native)
        _, err = spy.communicate(timeout=plan.seconds + 60)
        driver.join(timeout=plan.seconds + 60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode()[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--py-spy", required=True, help="py-spy executable (pip install py-spy into any venv)")
    parser.add_argument("--stream", action="store_true", help="profile 20-chunk streams instead of plain requests")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--native", action="store_true", help="include native frames (C extensions, uvloop)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    out = BENCH_DIR / "results" / f"profile-{'stream' if args.stream else 'nonstream'}.collapsed"
    out.parent.mkdir(parents=True, exist_ok=True)
    profile(args, out)
    print(summary(read_collapsed(out), args.top))
    log(f"collapsed stacks in {out} (feed them to flamegraph.pl or speedscope)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
