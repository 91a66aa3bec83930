"""CPU accounting around one load run: the CPU time of the target's process tree, and how much CPU the rest of
the machine (processes that are not part of the benchmark) and the hypervisor (steal) took meanwhile."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from procs import cpu_seconds, process_tree, system_cpu_seconds

T = TypeVar("T")


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy: float
    steal: float
    target: float
    ours: float


@dataclass(frozen=True)
class CpuUse:
    """What happened between two samples: wall seconds, the target's CPU seconds, other load in cores."""

    seconds: float
    target_cpu: float
    background_cores: float
    steal_cores: float

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "target_cpu_s": round(self.target_cpu, 3),
            "background_cores": round(self.background_cores, 3),
            "steal_cores": round(self.steal_cores, 3),
        }


def _own_usage() -> float:
    """CPU seconds of this process and of its waited-for children (wrk, the TTFT client)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def sample(target_pid: int, helper_pids: Sequence[int]) -> CpuSample:
    target_tree = set(process_tree(target_pid))
    helpers = {pid for root in helper_pids for pid in process_tree(root)} - target_tree
    busy, steal = system_cpu_seconds()
    ours = cpu_seconds(helpers) + _own_usage()
    return CpuSample(time.monotonic(), busy, steal, cpu_seconds(target_tree), ours)


def between(before: CpuSample, after: CpuSample) -> CpuUse:
    wall = max(after.wall - before.wall, 1e-9)
    target = after.target - before.target
    ours = after.ours - before.ours
    background = max(0.0, (after.busy - before.busy) - target - ours)
    return CpuUse(wall, target, background / wall, (after.steal - before.steal) / wall)


def metered(target_pid: int, helper_pids: Sequence[int], work: Callable[[], T]) -> tuple[T, CpuUse]:
    """Run ``work``; return its result and the CPU use around it."""
    before = sample(target_pid, helper_pids)
    result = work()
    return result, between(before, sample(target_pid, helper_pids))


def cpu_probe_ms(cpu: int | None, rounds: int = 3) -> float:
    """The best of ``rounds`` timings of a fixed pure-Python loop on ``cpu``: how fast that CPU is right now
    (a VM's CPU speed drifts with its neighbours; compare this number between runs, not between machines)."""
    previous = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            total = 0
            for value in range(300_000):
                total += value % 7
            best = min(best, time.perf_counter() - started)
        return best * 1000
    finally:
        os.sched_setaffinity(0, previous)


def _trees_cpu(pids: Sequence[int]) -> float:
    return cpu_seconds({pid for root in pids for pid in process_tree(root)})


def wait_idle(pids: Sequence[int], below_cores: float = 0.05, window: float = 0.25, timeout: float = 30.0) -> float:
    """Wait until the process trees of ``pids`` use less than ``below_cores`` of a CPU over ``window`` seconds
    (or ``timeout`` passed); returns the seconds waited."""
    started = time.monotonic()
    before = _trees_cpu(pids)
    while time.monotonic() - started < timeout:
        time.sleep(window)
        after = _trees_cpu(pids)
        if after - before < below_cores * window:
            break
        before = after
    return time.monotonic() - started
