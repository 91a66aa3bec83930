"""``SpoolShipper``: the write-behind pipeline shared by the spend ledger and the audit trail. The request path's
one call is ``append(bytes)`` (append to the spool's memory buffer: no I/O, no await). Everything else happens
behind the requests:

* the spool (``storage.spool``) writes and fdatasyncs its buffer every ``sync_interval`` (50 ms by default): the
  crash window of a SIGKILL or power loss is those last 50 ms (plus one write); nothing that was synced is lost;
* a shipper task reads the spool in order, hands batches to the subclass's ``ship`` (which writes them to the
  database idempotently) and only then acknowledges them to the spool; after a batch that was not full it lingers
  (``linger``, 0.25 s) so the next one fills: a transaction costs far more than a row, so records reach the
  database at most about a quarter of a second later and cost a fraction of the CPU;
* a database outage (any length) stops nothing on the request path: records keep spooling on disk (bounded by
  ``SpoolOptions.max_bytes``; beyond it records are refused, counted and logged, never silently) and the shipper
  retries with exponential backoff (``retry_initial`` doubling to ``retry_max``; one attempt may take
  ``attempt_timeout``), then replays the backlog in order;
* ``close()`` (at shutdown, after SIGTERM) flushes the spool to disk, ships for up to ``drain_seconds`` and leaves
  what it could not ship in the spool for the next ``start()`` of any process using that directory;
* lanes of the spool directory that no live process holds (a worker that is gone, a crashed process) are adopted
  and shipped at ``start()`` and every ``adopt_interval`` seconds.

A record the database refuses for its content (not for an outage) is set aside in ``<spool_dir>/rejected.jsonl``
and counted (``reject``), so one bad record never blocks the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from wardgate.storage.database import Database
from wardgate.storage.spool import Batch, Spool, SpoolOptions

_LOG_EVERY = 30.0


@dataclass(slots=True)
class ShipperStats:
    recorded: int = 0
    """Records ``append()`` accepted into the spool."""
    refused: int = 0
    """Records ``append()`` could not spool (full, closed or not started): logged, and the reason this is nonzero
    must be fixed — they are not in the database."""
    shipped: int = 0
    """Rows written to the database."""
    replayed: int = 0
    """Records the database already had (a replay after a crash): skipped."""
    batches: int = 0
    failures: int = 0
    """Failed attempts to write a batch (outages): each is retried."""
    rejected: int = 0
    """Records the database refused for their content, or that could not be decoded: in ``rejected.jsonl``."""
    adopted_lanes: int = 0


class SpoolShipper(ABC):
    """Subclasses implement ``ship(lane, records) -> None`` (write a batch of spooled records, counting into
    ``stats.shipped`` / ``stats.replayed``; raise on an outage). ``await start()`` at startup, ``append()`` on the
    request path, ``await close()`` at shutdown."""

    label = "shipper"
    """How logs name this pipeline ("spend ledger", "audit trail")."""
    logger_name = "wardgate.storage"

    def __init__(
        self,
        db: Database,
        spool_dir: Path,
        *,
        options: SpoolOptions | None = None,
        batch_records: int = 500,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        attempt_timeout: float = 30.0,
        adopt_interval: float = 60.0,
        linger: float = 0.25,
    ) -> None:
        self.db = db
        self.spool_dir = spool_dir
        self.options = options or SpoolOptions()
        self.batch_records = batch_records
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.attempt_timeout = attempt_timeout
        self.adopt_interval = adopt_interval
        self.linger = linger
        self.stats = ShipperStats()
        self.log = logging.getLogger(self.logger_name)
        self._spool: Spool | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = self._aborted = False
        self._stop = asyncio.Event()
        self._down_since: float | None = None
        self._logged = self._refused_logged = 0.0
        self._next_adopt = 0.0

    async def start(self) -> None:
        """Claim a spool lane and start shipping (what an earlier process left in the directory included)."""
        self._spool = await Spool.open(self.spool_dir, self.options)
        self._task = asyncio.create_task(self._run(), name=f"{self.label} shipper")

    # --- the request path ---------------------------------------------------------------------------------------

    def append(self, data: bytes) -> bool:
        """Hand one encoded record to the spool: never blocks and never raises; a record it cannot keep (not
        started, closed, spool full) is counted in ``stats.refused`` and logged (rate-limited)."""
        spool = self._spool
        if spool is not None and spool.append(data):
            self.stats.recorded += 1
            return True
        self.refused()
        return False

    def refused(self) -> None:
        self.stats.refused += 1
        now = time.monotonic()
        if self._spool is None and now - self._refused_logged >= _LOG_EVERY:  # the spool logs its own refusals
            self._refused_logged = now
            self.log.error("%s is not started: %d records were not stored", self.label, self.stats.refused)

    # --- shipping -----------------------------------------------------------------------------------------------

    @abstractmethod
    async def ship(self, lane: Path, raw: list[bytes], replay: bool) -> None:
        """Write one batch of spooled records to the database idempotently; raise on an outage. ``replay``: some
        may be there already (recovered from an earlier process, or an earlier attempt's outcome is unknown);
        when it is false, none can be."""

    @property
    def pending_bytes(self) -> int:
        """Spooled bytes not yet in the database (after ``close``: what stays in the spool for the next start)."""
        return self._spool.stats.unshipped_bytes if self._spool is not None else 0

    def snapshot(self) -> dict[str, Any]:
        """Counters for metrics and the admin API."""
        spool = self._spool.stats if self._spool is not None else None
        return {**asdict(self.stats), "spool": asdict(spool) if spool is not None else None}

    async def _run(self) -> None:
        spool = self._spool
        assert spool is not None
        while not self._aborted:
            try:
                if time.monotonic() >= self._next_adopt and not self._closing:
                    await self._adopt_orphans()
                batch = await spool.read(self.batch_records)
                if batch is None:
                    if self._closing and spool.drained:
                        return
                    await self.idle()
                    await spool.wait(1.0)
                    continue
                await self._deliver(spool, batch)
                if len(batch.records) < self.batch_records and self.linger and not self._closing:
                    with contextlib.suppress(TimeoutError):  # let the next batch fill (a transaction costs far
                        async with asyncio.timeout(self.linger):  # more than a row), unless closing
                            await self._stop.wait()
            except Exception:  # the spool's disk (reading, the cursor): keep going, the data stays where it is
                self.log.exception("%s: shipping from %s failed; retrying", self.label, spool.path)
                await asyncio.sleep(self.retry_max if not self._closing else 0.1)

    async def idle(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called when the spool is empty (before waiting for more): periodic work of a subclass."""

    async def _deliver(self, spool: Spool, batch: Batch) -> None:
        """Ship ``batch`` until it is in the database (retrying with backoff through an outage), then ack it."""
        delay, replay = self.retry_initial, batch.recovered
        while batch.records:  # (a batch may only step over a segment's end or a torn tail: nothing to ship)
            try:  # a database that black-holes packets must not hang the shipper: give up and retry
                async with asyncio.timeout(self.attempt_timeout):  # (``wait_for`` of Python 3.11 can lose a
                    await self.ship(spool.path, batch.records, replay)  # cancellation that meets a failure)
            except Exception as exc:
                if self._aborted:  # ``close`` gave up: a driver may turn its cancellation into an error
                    raise asyncio.CancelledError from exc
                replay = True  # a commit whose answer was lost may have stored the batch
                self.stats.failures += 1
                self._note_failure(exc, spool)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            break
        await spool.ack(batch)
        self.stats.batches += 1
        if self._down_since is not None:
            self.log.warning(
                "%s: the database is reachable again after %.1f s; replaying the backlog",
                self.label,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    async def reject(self, lane: Path, data: bytes, why: str) -> None:
        self.stats.rejected += 1
        self.log.error("%s: a record from %s was set aside in rejected.jsonl (%s)", self.label, lane, why)
        await asyncio.to_thread(_append_line, self.spool_dir / "rejected.jsonl", data)

    def _note_failure(self, exc: Exception, spool: Spool) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            self.log.error(
                "%s: cannot write to the database (%s: %s); %d bytes wait in the spool, retrying",
                self.label,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                spool.stats.unshipped_bytes,
            )

    async def _adopt_orphans(self) -> None:
        """Ship what lanes without a live owner hold (a worker that is gone); one lane at a time."""
        self._next_adopt = time.monotonic() + self.adopt_interval
        own = self._spool.path if self._spool is not None else None
        for lane_dir in Spool.lanes(self.spool_dir):
            if lane_dir == own or self._closing:
                continue
            orphan = await Spool.adopt(lane_dir)
            if orphan is None:
                continue
            self.stats.adopted_lanes += 1
            self.log.info("%s: shipping %d bytes left in %s", self.label, orphan.stats.unshipped_bytes, lane_dir)
            try:
                while not self._closing and (batch := await orphan.read(self.batch_records)) is not None:
                    await self._deliver(orphan, batch)
            finally:
                await orphan.close()

    # --- shutdown -----------------------------------------------------------------------------------------------

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Flush the spool to disk, ship for up to ``drain_seconds``, stop. What is not shipped stays in the spool
        for the next start. Idempotent."""
        spool, task = self._spool, self._task
        if spool is None or self._closing:
            return
        self._closing = True
        self._stop.set()
        with contextlib.suppress(OSError):
            await spool.flush()  # durable before anything else
        spool.wake()
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=drain_seconds)
            if not done:
                self.log.warning(
                    "%s: %d bytes not shipped within %.1f s; they stay in %s for the next start",
                    self.label,
                    spool.stats.unshipped_bytes,
                    drain_seconds,
                    spool.path,
                )
                self._aborted = True
                task.cancel()
                if not (await asyncio.wait({task}, timeout=5.0))[0]:  # it ends at its next retry in any case
                    self.log.error("%s shipper did not stop", self.label)
            elif not task.cancelled() and task.exception() is not None:
                self.log.error("%s shipper failed", self.label, exc_info=task.exception())
        await spool.close()  # kept: ``append`` now counts refusals, ``pending_bytes`` tells what stays behind


def content_error(exc: BaseException) -> bool:
    """Whether the database (or the driver) refused a write for what it contains — a value out of range, a
    constraint — rather than because it is unreachable, locked or not migrated yet (those are retried)."""
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    if isinstance(exc, DBAPIError):  # PostgreSQL: SQLSTATE class 22 (data exception) or 23 (integrity)
        return str(getattr(exc.orig, "sqlstate", "") or "")[:2] in ("22", "23")
    sqlstate = getattr(exc, "sqlstate", None)  # the drivers' own errors (statements sent without SQLAlchemy)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in ("22", "23")
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError)):
        return True
    inner = exc.orig if isinstance(exc, StatementError) else exc
    return isinstance(inner, (ArithmeticError, ValueError, TypeError))


def _append_line(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data.replace(b"\n", b" ") + b"\n")
