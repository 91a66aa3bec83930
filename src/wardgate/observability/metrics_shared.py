"""Metrics shared by the workers of one server (``wardgate serve --workers N``): every worker writes its numbers
into files of one private directory, and a scrape of any worker merges them all.

The files are prometheus_client's multiprocess format, read by its ``MultiProcessCollector`` (``le`` buckets kept
per bucket and accumulated when read, counters summed, gauges merged by their mode) and cleaned by its
``mark_process_dead``. The directory is named by ``WARDGATE_METRICS_DIR`` (not ``PROMETHEUS_MULTIPROC_DIR``): the
gateway writes these files itself, and a metric some library creates through prometheus_client can never open
one of them a second time. ``wardgate serve`` creates a fresh directory per start, removes it at the end, and
marks exited workers dead (``Reaper``); a custom process manager may set the variable itself, to an empty
directory private to one server.

Per process:

- ``counter_<pid>-<token>.db`` and ``histogram_<pid>-<token>.db``: what the request path counts, written in place
  (``SharedFile``: an mmap, one 8-byte store per value; readers see every update at once). The token keeps a
  reused pid from ever writing over a dead worker's totals, which stay in the sums after it exits;
- ``counter_<pid>-<token>-state.db`` and ``gauge_<mode>_<pid>.db``: state read from routing (attempt counts,
  breakers, in-flight, rate-limit store), rewritten whole every few seconds and before a scrape
  (``replace_file``: written aside, then renamed over, so a reader sees one version or the other).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import mmap
import os
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from prometheus_client.multiprocess import mark_process_dead

METRICS_DIR_ENV = "WARDGATE_METRICS_DIR"
GAUGE_MODES = ("livesum", "livemax", "livemin")
"""The gauge merge modes the gateway uses (``live``: an exited worker's values leave the merge)."""

_log = logging.getLogger("wardgate.metrics")
_HEADER = struct.Struct("ii")
_USED = struct.Struct("i")
_DOUBLE = struct.Struct("d").pack
_INITIAL = 1 << 20
_LIVE_GAUGE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def shared_dir() -> Path | None:
    """The directory the workers of this server share (``WARDGATE_METRICS_DIR``), or None: one process alone."""
    value = os.environ.get(METRICS_DIR_ENV)
    if not value:
        return None
    path = Path(value)
    if not path.is_dir():
        raise RuntimeError(f"{METRICS_DIR_ENV}={value} is not a directory")
    return path


def entry_key(metric: str, sample: str, labels: Mapping[str, str], documentation: str) -> str:
    """An entry's key as prometheus_client's multiprocess collector parses it."""
    return json.dumps([metric, sample, dict(labels), documentation], sort_keys=True)


def _entry(key: str, value: float) -> bytes:
    encoded = key.encode()
    padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
    return struct.pack(f"i{len(padded)}sdd", len(encoded), padded, value, 0.0)


class SharedFile:
    """One process's append-only file of values, mapped into memory; that process is its only writer. ``slot``
    adds a value (0) and returns where it lives; ``write`` stores a new value there (one 8-byte copy)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "x+b")  # noqa: SIM115 - kept open for the life of the process
        self._capacity = _INITIAL
        self._file.truncate(self._capacity)
        self.m = mmap.mmap(self._file.fileno(), self._capacity)
        self._used = _HEADER.size
        self.m[: _HEADER.size] = _HEADER.pack(self._used, 0)
        self._lock = threading.Lock()  # appends only (a new series): values are written without it

    def slot(self, key: str) -> int:
        entry = _entry(key, 0.0)
        with self._lock:
            end = self._used + len(entry)
            if end > self._capacity:
                while end > self._capacity:
                    self._capacity *= 2
                self._file.truncate(self._capacity)
                self.m = mmap.mmap(self._file.fileno(), self._capacity)
            self.m[self._used : end] = entry
            self._used = end
            self.m[: _USED.size] = _USED.pack(end)  # published only once the entry is whole
        return end - 16

    def write(self, position: int, value: float) -> None:
        self.m[position : position + 8] = _DOUBLE(value)

    def close(self) -> None:
        self.m.close()
        self._file.close()


def encode(entries: Iterable[tuple[str, float]]) -> bytes:
    """A whole file of ``(key, value)`` entries."""
    body = b"".join(_entry(key, value) for key, value in entries)
    return _HEADER.pack(_HEADER.size + len(body), 0) + body


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` aside, then rename it over ``path``: a reader sees the old file or the new one, never half."""
    aside = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
    aside.write_bytes(data)
    os.replace(aside, path)


def process_token() -> str:
    """Names this process's files: its pid (what ``mark_process_dead`` matches) and a random part."""
    return f"{os.getpid()}-{os.urandom(4).hex()}"


def dead_workers(path: Path) -> set[int]:
    """Pids that still have live-gauge files but no process."""
    dead = set()
    for name in os.listdir(path):
        found = _LIVE_GAUGE.match(name)
        if found is not None and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Reaper:
    """In the server's parent process: once a second, ``mark_process_dead`` every worker that exited (crashed,
    restarted or stopped), so its gauges (in flight, breaker state…) leave the merge; its counters stay."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wardgate-metrics-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def reap(self) -> set[int]:
        dead = dead_workers(self.path)
        for pid in dead:
            mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]
        return dead

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reap()
            except OSError as exc:  # the directory went away: the server is stopping
                _log.debug("metrics reaper: %r", exc)


@contextlib.contextmanager
def server_metrics_dir() -> Iterator[Path]:
    """For ``wardgate serve --workers N``: a fresh private directory (mode 0700) named in the environment the
    workers inherit, its reaper running, and everything removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="wardgate-metrics-"))
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = str(path)
    reaper = Reaper(path)
    reaper.start()
    try:
        yield path
    finally:
        reaper.stop()
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def files_in(path: Path) -> list[str]:
    return glob.glob(os.path.join(path, "*.db"))
