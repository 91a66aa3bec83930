"""``SpoolShipper`` through an outage that fails fast (a refused connection): ``close`` ends within its drain time
plus a bounded grace, however the cancellation meets a failing attempt, and everything stays in the spool."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from wardgate.storage.database import Database
from wardgate.storage.shipper import SpoolShipper


class RefusedShipper(SpoolShipper):
    """Every attempt fails at once, as a refused connection does: the retry loop spins as fast as it can."""

    label = "refused"

    async def ship(self, lane: Path, raw: list[bytes], replay: bool) -> None:
        await asyncio.sleep(0)
        raise ConnectionRefusedError(111, "refused")


async def test_close_ends_while_every_attempt_fails_at_once(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        for round_ in range(60):  # each close lands somewhere else in the attempt/retry cycle
            shipper = RefusedShipper(db, tmp_path / "spool", retry_initial=0.0, retry_max=0.0, linger=0)
            await shipper.start()
            shipper.append(b"record %d" % round_)
            await asyncio.sleep(0.001 * (round_ % 7))
            started = time.monotonic()
            async with asyncio.timeout(10):
                await shipper.close(drain_seconds=0.01)
            assert time.monotonic() - started < 6
            assert shipper.stats.shipped == 0 and shipper.stats.failures >= 1
        assert shipper.pending_bytes == 8 * 60 + sum(len(b"record %d" % n) for n in range(60))
    finally:
        await db.close()
