"""Child processes for the benchmark: start each in its own process group (optionally pinned to CPUs), wait until
it answers HTTP, read its CPU time and peak RSS from /proc (summed over its process tree), and stop it for sure."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartupError(RuntimeError):
    """A child process exited or never became ready."""


def pinned(argv: Sequence[str], cpus: str | None) -> list[str]:
    """``argv`` prefixed with ``taskset -c cpus`` (taskset execs, so the pid stays the program's own)."""
    if cpus is None:
        return list(argv)
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *argv] if taskset else list(argv)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, limit: int = 3000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")


@dataclass
class Children:
    """Every process the benchmark started; ``stop_all`` (also on ``with`` exit) kills their process groups."""

    started: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> Child:
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                process_group=0,
            )
        child = Child(name, popen, log_path)
        self.started.append(child)
        return child

    def stop(self, child: Child, grace: float = 5.0) -> None:
        if child in self.started:
            self.started.remove(child)
        stop_group(child.popen, grace)

    def stop_all(self) -> None:
        while self.started:
            self.stop(self.started[-1])

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def stop_group(popen: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it has not exited within ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        _kill_leftovers(popen.pid)
        return


def _kill_leftovers(pgid: int) -> None:
    """Members of the group that outlived its leader (e.g. forked workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET path``, or None when nothing answers (plain http.client: no proxy settings apply)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(child: Child, host: str, port: int, path: str, timeout: float) -> float:
    """Poll ``GET path`` until it answers 200; returns the seconds it took. Raises if the child dies or times out."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise StartupError(f"{child.name} exited with {child.popen.returncode}:\n{child.log_tail()}")
        if http_status(host, port, path) == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise StartupError(f"{child.name} was not ready after {timeout:.0f} s:\n{child.log_tail()}")


# ----------------------------------------------------------------------------------------------- /proc readings


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; everything after its closing parenthesis is space-separated
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all of its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the given processes, plus the CPU time of their already reaped children."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:  # fields[11:15] = utime, stime, cutime, cstime
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    return cpu_seconds(process_tree(root))


def _status_value(pid: int, key: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def tree_peak_rss_mib(root: int) -> float:
    """The sum of VmHWM (peak resident set size) over the process tree, in MiB."""
    return sum(_status_value(pid, "VmHWM") for pid in process_tree(root)) / 1024


def tree_threads(root: int) -> int:
    return sum(_status_value(pid, "Threads") for pid in process_tree(root))


def system_cpu_seconds() -> tuple[float, float]:
    """(user + nice + system, steal) over all CPUs from /proc/stat, in seconds. Interrupt time is left out: the
    loopback traffic of the benchmark itself is processed there."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system) / CLOCK_TICKS, steal / CLOCK_TICKS
