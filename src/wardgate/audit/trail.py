"""``AuditTrail``: the audit records' write-behind pipeline. The request path hands each record's bytes to
``record`` (append to the spool's memory buffer: no I/O, no await); the shipper (``storage.shipper``) writes batches
to ``audit_log`` through ``batch.append_batch`` — one transaction per batch under the chain's head lock, idempotent
by record id — retries through database outages, replays after a crash and drains on SIGTERM. The crash window is the
spool's ``sync_interval`` (50 ms by default): records handed over less than that before a SIGKILL or a power loss
may be lost; nothing synced is.

It also keeps the chain sealed (``seal_interval``: a seal when the last is older — looked at after a batch every
quarter interval, so seals are at most 1.25 intervals apart under load —, or when the spool is idle and the head
moved since), and applies retention (``retention``) about once an hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wardgate.audit.batch import Spooled, append_batch, parse
from wardgate.audit.chain import SealKey, seal_now
from wardgate.audit.retention import RetentionPolicy, purge
from wardgate.storage.database import Database
from wardgate.storage.shipper import SpoolShipper, content_error

_log = logging.getLogger("wardgate.audit")
RETENTION_EVERY = 3600.0


class AuditTrail(SpoolShipper):
    label = "audit trail"

    logger_name = "wardgate.audit"

    def __init__(
        self,
        db: Database,
        spool_dir: Path,
        *,
        seal_key: SealKey | None = None,
        seal_interval: float = 60.0,
        retention: Callable[[], RetentionPolicy | None] | None = None,
        **options: Any,
    ) -> None:
        """``options``: the pipeline's settings (``SpoolShipper``: spool options, batch size, retries)."""
        super().__init__(db, spool_dir, **options)
        self.seal_key = seal_key
        self.seal_interval = seal_interval
        self.retention = retention
        self.purged = 0
        self._unsealed_since: float | None = None
        self._next_retention = time.monotonic() + 60.0
        self._seal_check_at = time.monotonic()  # the first batch looks whether a seal is due

    def record(self, data: bytes) -> bool:
        """Hand one encoded record (``record.encode``) to the trail; never blocks, never raises."""
        return self.append(data)

    async def ship(self, lane: Path, raw: list[bytes], replay: bool) -> None:
        records: list[Spooled] = []
        for data in raw:
            try:
                records.append(parse(data))
            except ValueError as exc:
                await self.reject(lane, data, f"undecodable: {exc}")
        try:
            new, rejected = await append_batch(self.db, records, replay=replay), 0
        except Exception as exc:
            if not content_error(exc):
                raise
            new, rejected = await self._append_one_by_one(lane, records)  # a duplicate id lands here too
        self.stats.shipped += new
        self.stats.replayed += len(records) - new - rejected
        now = time.monotonic()
        if new and self._unsealed_since is None:
            self._unsealed_since = now
        if now >= self._seal_check_at:
            await self.seal(self.seal_interval)

    async def _append_one_by_one(self, lane: Path, records: list[Spooled]) -> tuple[int, int]:
        new = rejected = 0
        for record in records:
            try:
                new += await append_batch(self.db, [record], replay=True)
            except Exception as exc:
                if not content_error(exc):
                    raise
                await self.reject(lane, record.data, f"refused by the database: {type(exc).__name__}")
                rejected += 1
        return new, rejected

    async def idle(self) -> None:
        """Seal a head that moved and has stayed unsealed for a seal interval; run retention when due."""
        now = time.monotonic()
        if self._unsealed_since is not None and now - self._unsealed_since >= self.seal_interval:
            await self.seal()
        if self.retention is not None and now >= self._next_retention:
            self._next_retention = now + RETENTION_EVERY
            policy = self.retention()
            if policy is not None:
                try:
                    self.purged += await purge(self.db, policy)
                except Exception as exc:  # the database is down: next hour
                    _log.warning("audit retention failed", extra={"fields": {"error": repr(exc)}})

    async def seal(self, interval: float = 0.0) -> None:
        """Seal the head (with ``interval``: only when the last seal, whoever took it, is older than that)."""
        self._seal_check_at = time.monotonic() + self.seal_interval / 4
        try:
            async with self.db.engine.begin() as conn:
                await seal_now(conn, self.seal_key, interval)
        except Exception as exc:
            _log.warning("audit trail: sealing failed", extra={"fields": {"error": repr(exc)}})
            return
        if not interval:
            self._unsealed_since = None

    async def close(self, drain_seconds: float = 10.0) -> None:
        await super().close(drain_seconds)
        if self._unsealed_since is not None:
            await self.seal()
