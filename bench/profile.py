"""Profile wardgate under load with py-spy and summarise where its CPU goes.

Run from the repo root: ``.venv/bin/python bench/profile.py --py-spy PATH [--stream] [--seconds 10]
[--provider openai|anthropic|gemini|bedrock]``. It starts the fast upstream and one wardgate worker (same config and
pinning as bench/run.py; with ``--provider`` other than openai, the worker translates to that dialect, as the
benchmark's ``wardgate→<provider>`` target), saturates it with wrk while ``py-spy record --gil`` samples it, saves
the collapsed stacks to bench/results/profile-[<provider>-]<kind>.collapsed and prints: the functions with the most
self time; the samples charged to the innermost wardgate frame of each stack (that frame's own time plus the
library code it called, e.g. aiohttp under ``Transport.send``), also summed per wardgate file; and the wardgate
functions by inclusive time (the share of samples with that function anywhere on the stack).
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
from targets import DIALECTS, port_of, start_upstream, start_wardgate
from wrkload import Load, run_wrk

OWN_CODE = "wardgate/"
_LINE = re.compile(r":\d+\)")
_PREFIX = re.compile(r"/\S*?/(site-packages|lib/python3\.\d+|src)/")
_FILE = re.compile(r"\((\S+?)\)$")
OUTSIDE = "(outside wardgate: server loop, I/O, framework)"
Stacks = list[tuple[list[str], int]]


def frame_name(frame: str) -> str:
    """``func (path:line)`` → ``func (short/path)``: no line numbers, no environment prefixes."""
    return _PREFIX.sub("", _LINE.sub(")", frame))


def read_collapsed(path: Path) -> Stacks:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def self_time(stacks: Stacks) -> Counter[str]:
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[frames[-1]] += count
    return counts


def _entry_point(frame: str) -> bool:
    return "wardgate/cli.py" in frame or "wardgate/__main__.py" in frame


def _own(frame: str) -> bool:
    return OWN_CODE in frame and not _entry_point(frame)


def own_code_time(stacks: Stacks) -> Counter[str]:
    """Each sample charged to the innermost frame of wardgate's own code (``(outside wardgate)`` if none)."""
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        own = next((f for f in reversed(frames) if _own(f)), None)
        counts[own or OUTSIDE] += count
    return counts


def own_file_time(stacks: Stacks) -> Counter[str]:
    """:func:`own_code_time` summed per wardgate source file."""
    counts: Counter[str] = Counter()
    for frame, count in own_code_time(stacks).items():
        match = _FILE.search(frame)
        counts[match.group(1) if match and frame != OUTSIDE else OUTSIDE] += count
    return counts


def inclusive_time(stacks: Stacks) -> Counter[str]:
    """Samples with each wardgate function anywhere on the stack (counted once per sample)."""
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in {f for f in frames if _own(f)}:
            counts[frame] += count
    return counts


def summary(stacks: Stacks, top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    lines = [f"{total} samples"]
    sections = (
        ("self time", self_time(stacks)),
        ("innermost wardgate frame", own_code_time(stacks)),
        ("innermost wardgate frame, per file", own_file_time(stacks)),
        ("wardgate functions, inclusive", inclusive_time(stacks)),
    )
    for title, counts in sections:
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
        _, gateway = start_wardgate(children, port_of(direct), Path(tmp), "0", args.provider)
        connections = 16 if args.stream else 64

        def load(seconds: float) -> Load:
            return Load(gateway.url, gateway.key, gateway.model, connections, seconds, args.stream)

        run_wrk(load(plan.warmup), cpus="1")
        log(f"profiling {gateway.name} (pid {gateway.pid}) for {plan.seconds:.0f} s")
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
    parser.add_argument(
        "--provider",
        choices=sorted(DIALECTS),
        default="openai",
        help="the upstream dialect: openai (same-dialect path, default) or a translated one",
    )
    args = parser.parse_args(argv)
    prefix = "" if args.provider == "openai" else f"{args.provider}-"
    out = BENCH_DIR / "results" / f"profile-{prefix}{'stream' if args.stream else 'nonstream'}.collapsed"
    out.parent.mkdir(parents=True, exist_ok=True)
    profile(args, out)
    print(summary(read_collapsed(out), args.top))
    log(f"collapsed stacks in {out} (feed them to flamegraph.pl or speedscope)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
