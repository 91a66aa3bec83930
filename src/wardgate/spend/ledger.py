"""``SpendLedger``: the request path's one call is ``record(SpendRecord)`` (≈2 µs: encode and append to the spool's
memory buffer; no I/O, no await). Everything else happens behind the request, in the write-behind pipeline it
shares with the audit trail (``storage.shipper.SpoolShipper``: durable spool under ``spool_dir``, batched
fdatasync with a 50 ms crash window, a shipper that retries through database outages, replays after a restart and
drains on SIGTERM). Batches are written by ``ship.write_batch`` (rows, tags and rollups in one transaction;
stored ids are looked up only when the shipper says the batch may be a replay).

Delivery to the database is effectively exactly-once: the spool delivers at least once (a crash between the commit
and the acknowledgement replays that batch) and the database write ignores ids it already has.
"""

from __future__ import annotations

import logging
from pathlib import Path

from wardgate.spend.record import SpendRecord, decode, encode
from wardgate.spend.ship import write_batch
from wardgate.storage.shipper import ShipperStats, SpoolShipper, content_error

_log = logging.getLogger("wardgate.spend")
LedgerStats = ShipperStats
__all__ = ["LedgerStats", "SpendLedger", "content_error"]


class SpendLedger(SpoolShipper):
    """Construct with the database and a spool directory (``<data_dir>/spool/spend``), ``await start()`` at
    startup, ``record()`` on the request path, ``await close()`` at shutdown."""

    label = "spend ledger"
    logger_name = "wardgate.spend"

    def record(self, record: SpendRecord) -> None:
        """Hand one request's spend to the ledger: never blocks and never raises; a record it cannot keep (not
        started, closed, spool full, not encodable) is counted in ``stats.refused`` and logged (rate-limited)."""
        try:
            data = encode(record)
        except (TypeError, ValueError, AttributeError):  # not a well-formed SpendRecord (orjson: TypeError)
            _log.exception("spend ledger: record %r could not be encoded", getattr(record, "id", None))
            self.refused()
            return
        self.append(data)

    async def ship(self, lane: Path, raw: list[bytes], replay: bool) -> None:
        records: list[SpendRecord] = []
        for data in raw:
            try:
                records.append(decode(data))
            except ValueError as exc:
                await self.reject(lane, data, f"undecodable: {exc}")
        try:
            new, rejected = await write_batch(self.db, records, replay=replay), 0
        except Exception as exc:
            if not content_error(exc):
                raise
            new, rejected = await self._ship_one_by_one(lane, records)  # a duplicate id lands here too
        self.stats.shipped += new
        self.stats.replayed += len(records) - new - rejected

    async def _ship_one_by_one(self, lane: Path, records: list[SpendRecord]) -> tuple[int, int]:
        """A batch the database refused for its content: find the bad records (an outage still raises).
        Returns (new rows, rejected records)."""
        new = rejected = 0
        for record in records:
            try:
                new += await write_batch(self.db, [record])
            except Exception as exc:
                if not content_error(exc):
                    raise
                await self.reject(lane, encode(record), f"refused by the database: {type(exc).__name__}")
                rejected += 1
        return new, rejected
