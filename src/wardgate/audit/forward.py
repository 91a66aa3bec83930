"""``AuditForwarder``: delivers the audit trail to the configured sinks (``audit.sinks``), behind the requests.

For each sink, in its own task:

* **Cursor.** A row in ``audit_cursors`` (``name`` = the sink's name) holds the last ``seq`` delivered. A sink
  seen for the first time starts at the trail's current head (``start: now``) or at 0 (``start: beginning``).
* **Lease.** One process at a time delivers a sink, whatever the number of replicas: it takes the cursor row's
  lease with a conditional UPDATE (free, expired, or already its own) for ``lease_seconds`` (30 s), renews it every
  third of that while it holds it, and gives it back at ``close()``. A process that dies keeps it until it
  expires; another replica then takes over (it tries every ``lease_seconds / 3``). Lease times are wall-clock UTC
  of the processes (they must agree to well under the lease, as NTP gives).
* **Delivery.** Rows with ``seq`` > cursor are read in order, ``batch_records`` at a time (cut at
  ``max_batch_bytes``), delivered, and only then is the cursor advanced — by a conditional UPDATE that also checks
  the lease. Delivery is therefore **at least once**: a crash or a lost lease between delivery and advance sends
  that batch again, and a receiver deduplicates by the record's ``id``. Order is the chain's (``seq``).
* **Failures** (receiver down, 5xx, 429, timeouts, a full disk, a database outage) are retried for ever with
  exponential backoff (``retry_initial`` doubling to ``retry_max``, or the receiver's ``Retry-After``), counted in
  ``stats()`` and logged at most every 30 s per sink; a sink that recovers says so once. A receiver that answers
  413 gets the batch in halves. One failing sink never holds up another, and nothing on the request path waits
  for any of this (the request path writes the trail; this only reads it).
* **Purged rows** (retention cleared ``record``) are delivered as stubs (``sinks.record_stub``), not skipped, so a
  receiver can count every record and see which ones it will never get in full.

Sink changes in the config need a restart (the lead process builds one forwarder at startup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from wardgate.audit.sinks import AuditRow, DeliveryError, Item, Sink, SinkConfig, build_sink, prepare
from wardgate.config.audit_sinks_config import sink_problems
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_cursors, audit_head, audit_log

_log = logging.getLogger("wardgate.audit")
_LOG_EVERY = 30.0
ROW_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.id,
    audit_log.c.at,
    audit_log.c.kind,
    audit_log.c.request_id,
    audit_log.c.team_id,
    audit_log.c.record,
    audit_log.c.record_hash,
    audit_log.c.purged_at,
)
"""What sinks and exports read of a row."""


@dataclass(slots=True)
class SinkStats:
    type: str
    cursor: int | None = None
    """The last ``seq`` delivered, as this process last saw it (``None`` until it has read the cursor)."""
    holding: bool = False
    """Whether this process holds the sink's lease (is the one delivering it)."""
    delivered: int = 0
    """Records delivered by this process (a batch sent again counts again)."""
    stubs: int = 0
    """Of which purged rows sent as stubs."""
    batches: int = 0
    failures: int = 0
    """Failed delivery attempts (each is retried) and database errors."""
    failing_since: float | None = None
    """Epoch seconds of the first failure since the last success; ``None`` while healthy."""
    last_error: str | None = None
    last_delivery: float | None = None
    """Epoch seconds of the last successful delivery."""


async def head_seq(db: Database) -> int:
    """The trail's last ``seq`` (0 when empty)."""
    async with db.engine.connect() as conn:
        head = (await conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1))).scalar()
        last = (await conn.execute(select(func.max(audit_log.c.seq)))).scalar()
    return max(int(head or 0), int(last or 0))


class AuditForwarder:
    """Construct with the database, the ``audit.sinks`` configs and an id unique to this process (e.g.
    ``host:pid:random``); ``await start()`` at startup, ``await close()`` at shutdown, ``stats()`` any time."""

    def __init__(
        self,
        db: Database,
        sinks: Sequence[SinkConfig],
        owner_id: str,
        *,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        attempt_timeout: float = 120.0,
    ) -> None:
        problems = sink_problems(sinks)
        if problems:
            raise ValueError("; ".join(problems))
        self.db = db
        self.configs = tuple(sinks)
        self.owner_id = owner_id
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.attempt_timeout = attempt_timeout
        self._stats = {config.name: SinkStats(config.type) for config in self.configs}
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._tasks or not self.configs:
            return
        self._session = aiohttp.ClientSession()
        loop = asyncio.get_running_loop()
        for config in self.configs:
            worker = _Worker(self, build_sink(config, self._session), self._stats[config.name])
            self._workers.append(worker)
            self._tasks.append(loop.create_task(worker.run(), name=f"audit-sink-{config.name}"))

    async def close(self) -> None:
        """Stop delivering (a batch in flight is sent again by the next holder), give the leases back, close the
        sinks and the HTTP session."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for worker in self._workers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await worker.release()
            with contextlib.suppress(Exception):
                await worker.sink.close()
        self._workers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per sink name: ``SinkStats`` as a dict."""
        return {name: asdict(stats) for name, stats in self._stats.items()}


class _LeaseLost(Exception):
    """Another process took this sink's delivery lease: stop delivering it."""


class _Worker:
    """One sink's delivery loop."""

    def __init__(self, owner: AuditForwarder, sink: Sink, stats: SinkStats) -> None:
        self.owner = owner
        self.db = owner.db
        self.sink = sink
        self.config = sink.config
        self.name = sink.config.name
        self.stats = stats
        self._logged = 0.0
        self._streak = 0
        """Failures since the last success."""
        self._expires = 0.0
        """``time.monotonic()`` when the lease this process last took or renewed runs out."""

    async def run(self) -> None:
        retry = 0
        while True:
            try:
                cursor = await self._take()
                if cursor is None:
                    retry = 0
                    await asyncio.sleep(self.owner.lease_seconds / 3)
                    continue
                retry = 0
                self.stats.holding = True
                await self._hold(cursor)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is unreachable, or a bug: never let the task die
                self._failed(f"database: {type(exc).__name__}")
                await asyncio.sleep(self._backoff(retry))
                retry += 1
            finally:
                self.stats.holding = False

    # --- lease ---------------------------------------------------------------------------------------------------

    async def _take(self) -> int | None:
        """Take (or keep) the lease; the cursor when this process holds it, ``None`` when another one does."""
        await self._ensure_cursor()
        now = _now()
        row = audit_cursors.c
        async with self.db.engine.begin() as conn:
            taken = await conn.execute(
                update(audit_cursors)
                .where(
                    row.name == self.name,
                    or_(
                        row.lease_owner.is_(None),
                        row.lease_owner == self.owner.owner_id,
                        row.lease_until.is_(None),
                        row.lease_until < now,
                    ),
                )
                .values(lease_owner=self.owner.owner_id, lease_until=self._until(now))
            )
            if taken.rowcount != 1:
                return None
            cursor = int((await conn.execute(select(row.seq).where(row.name == self.name))).scalar_one())
        self.stats.cursor = cursor
        return cursor

    async def _ensure_cursor(self) -> None:
        async with self.db.engine.connect() as conn:
            found = await conn.execute(select(audit_cursors.c.seq).where(audit_cursors.c.name == self.name))
            if found.first() is not None:
                return
        start = 0 if self.config.start == "beginning" else await head_seq(self.db)
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(insert(audit_cursors).values(name=self.name, seq=start, updated_at=_now()))
        except IntegrityError:
            return  # another replica created it first
        _log.info("audit sink %s starts after seq %d (%s)", self.name, start, self.config.start)

    def _until(self, now: datetime) -> datetime:
        self._expires = time.monotonic() + self.owner.lease_seconds
        return now + timedelta(seconds=self.owner.lease_seconds)

    def _mine(self) -> Any:
        return and_(audit_cursors.c.name == self.name, audit_cursors.c.lease_owner == self.owner.owner_id)

    async def _renew(self, **values: Any) -> bool:
        """Extend the lease (and set ``values``, e.g. the cursor) if this process still holds it."""
        now = _now()
        async with self.db.engine.begin() as conn:
            done = await conn.execute(
                update(audit_cursors).where(self._mine()).values(lease_until=self._until(now), **values)
            )
        return done.rowcount == 1

    async def release(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(update(audit_cursors).where(self._mine()).values(lease_owner=None, lease_until=None))

    async def _keep_lease(self) -> None:
        """Renew every third of the lease; return once it is lost (taken over, or expired while the database
        could not be reached)."""
        while True:
            await asyncio.sleep(self.owner.lease_seconds / 3)
            try:
                if not await self._renew():
                    return
            except Exception as exc:
                self._failed(f"database: {type(exc).__name__}")
                if time.monotonic() >= self._expires:
                    return

    # --- delivery ------------------------------------------------------------------------------------------------

    async def _hold(self, cursor: int) -> None:
        """Deliver while holding the lease; returns when it is lost."""
        keeper = asyncio.create_task(self._keep_lease())
        deliverer = asyncio.create_task(self._deliver(cursor))
        try:
            done, _ = await asyncio.wait((keeper, deliverer), return_when=asyncio.FIRST_COMPLETED)
            if deliverer in done and not isinstance(deliverer.exception(), _LeaseLost):
                deliverer.result()  # a database error: raised to run(), which backs off and starts over
        finally:
            for task in (keeper, deliverer):
                task.cancel()
            await asyncio.gather(keeper, deliverer, return_exceptions=True)

    async def _deliver(self, cursor: int) -> None:
        limit = self.config.batch_records
        while True:
            async with self.db.engine.connect() as conn:
                query = select(*ROW_COLUMNS).where(audit_log.c.seq > cursor).order_by(audit_log.c.seq).limit(limit)
                result = await conn.execute(query)  # buffered: decoding the rows waits for the thread below
            items, stubs = await asyncio.to_thread(_items, result, self.config.include_content)
            if not items:
                self._ok()
                await asyncio.sleep(self.owner.poll_interval)
                continue
            for chunk in _chunks(items, self.config.max_batch_bytes):
                await self._send(chunk)
                cursor = chunk[-1].seq
                self._delivered(chunk, sum(item.seq in stubs for item in chunk))
                if not await self._renew(seq=cursor, updated_at=_now()):
                    raise _LeaseLost
                self.stats.cursor = cursor

    async def _send(self, chunk: Sequence[Item]) -> None:
        """Deliver one chunk, retrying until it is delivered; a chunk too large for the receiver goes in halves."""
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.owner.attempt_timeout):
                    await self.sink.deliver(chunk)
                return
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = DeliveryError(f"no answer within {self.owner.attempt_timeout:g} s")
            except Exception as exc:  # a bug in a sink must not end delivery
                _log.exception("audit sink %s: delivery raised", self.name)
                error = DeliveryError(type(exc).__name__)
            if error.too_large and len(chunk) > 1:
                half = len(chunk) // 2
                await self._send(chunk[:half])
                await self._send(chunk[half:])
                return
            self._failed(error.reason)
            delay = self.owner.retry_max if error.permanent else self._backoff(attempt)
            if error.retry_after is not None:
                delay = min(self.owner.retry_max, max(error.retry_after, self.owner.retry_initial))
            await asyncio.sleep(delay)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.owner.retry_max, self.owner.retry_initial * 2 ** min(attempt, 30))
        return random.uniform(ceiling / 2, ceiling)

    # --- accounting ----------------------------------------------------------------------------------------------

    def _delivered(self, chunk: Sequence[Item], stubs: int) -> None:
        self._ok()
        stats = self.stats
        stats.delivered += len(chunk)
        stats.stubs += stubs
        stats.batches += 1
        stats.last_delivery = time.time()

    def _ok(self) -> None:
        """A delivery or a database read succeeded: the end of a run of failures, if there was one."""
        stats = self.stats
        if stats.failing_since is not None:
            _log.warning(
                "audit sink %s works again (%d failed attempts over %.0f s)",
                self.name,
                self._streak,
                time.time() - stats.failing_since,
            )
            stats.failing_since, self._logged, self._streak = None, 0.0, 0

    def _failed(self, reason: str) -> None:
        stats = self.stats
        stats.failures += 1
        stats.last_error = reason
        self._streak += 1
        if stats.failing_since is None:
            stats.failing_since = time.time()
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            _log.error(
                "audit sink %s (%s): delivery failing for %.0f s (%d attempts), last error: %s; retrying",
                self.name,
                self.config.type,
                time.time() - stats.failing_since,
                self._streak,
                reason,
            )


def _items(result: Any, include_content: bool) -> tuple[list[Item], set[int]]:
    """A fetched batch as items to send, and the seqs of the stubs among them (run in a thread: decoding hundreds
    of rows, and stripping content, would otherwise stall the event loop for milliseconds)."""
    rows = [AuditRow.of(row) for row in result.mappings()]
    return prepare(rows, include_content), {row.seq for row in rows if row.record is None}


def _chunks(items: Sequence[Item], max_bytes: int) -> list[list[Item]]:
    """Consecutive runs of items of at most ``max_bytes`` of text each (a larger item alone)."""
    chunks: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        length = len(item.text) + 1
        if current and size + length > max_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += length
    if current:
        chunks.append(current)
    return chunks


def _now() -> datetime:
    return datetime.now(UTC)
