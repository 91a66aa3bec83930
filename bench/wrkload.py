"""Run wrk with ``bench/wrk/chat.lua`` and read the JSON summary that the script's ``done()`` prints."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from procs import pinned

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk" / "chat.lua"
MARKER = "BENCH_JSON "


class WrkError(RuntimeError):
    """wrk failed or printed no summary."""


@dataclass(frozen=True)
class Load:
    """One wrk run: where, how many connections, how long, streaming or not, with which key and model."""

    url: str
    key: str
    model: str
    connections: int
    seconds: float
    stream: bool = False
    threads: int = 1


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def wall_us_per_request(self) -> float | None:
        """Run time / requests: at one connection the plain mean latency, without wrk's correction for
        coordinated omission (which adds synthetic samples after every response slower than the average)."""
        return self.seconds * 1e6 / self.requests if self.requests else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1), "wall_us_per_request": self.wall_us_per_request}


def wrk_argv(load: Load, wrk: str = "wrk") -> list[str]:
    duration = f"{max(1, round(load.seconds))}s"
    return [
        wrk,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{duration}",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        load.url,
    ]


def parse_summary(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=int(data["requests"]),
                seconds=data["duration_us"] / 1e6,
                errors={name: int(count) for name, count in data["errors"].items()},
                latency_us={name: float(value) for name, value in data["latency_us"].items()},
            )
    raise WrkError(f"wrk printed no summary:\n{stdout[-2000:]}")


def run_wrk(load: Load, *, cpus: str | None = None, wrk: str = "wrk") -> WrkResult:
    """Run one bounded wrk load (killed if it overruns by 30 s) and return its summary."""
    env = {
        **os.environ,
        "BENCH_KEY": load.key,
        "BENCH_MODEL": load.model,
        "BENCH_STREAM": "1" if load.stream else "0",
    }
    try:
        done = subprocess.run(
            pinned(wrk_argv(load, wrk), cpus),
            env=env,
            capture_output=True,
            text=True,
            timeout=load.seconds + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk overran its {load.seconds:.0f} s run") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr[-2000:]}")
    return parse_summary(done.stdout)
