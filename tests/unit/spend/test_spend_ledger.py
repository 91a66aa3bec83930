"""``SpendLedger`` on SQLite and PostgreSQL: rows and minute/hour/day rollups exactly right, a replay (a crash
between commit and acknowledgement) counted once, ``close()`` draining under load, records refused when the
ledger is not running, and a record the database refuses set aside instead of blocking the rest."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from spend_fixtures import batch, count_rows, ledger_rows, make, rollups, summed, totals
from sqlalchemy import select

from wardgate.spend.ledger import SpendLedger, content_error
from wardgate.spend.ship import bucket_start, write_batch
from wardgate.storage.database import Database
from wardgate.storage.schema import spend_tags
from wardgate.storage.spool import SpoolOptions

FAST = SpoolOptions(sync_interval=0.01)


def ledger(db: Database, tmp_path: Path) -> SpendLedger:
    return SpendLedger(db, tmp_path / "spool", options=FAST, retry_initial=0.02, retry_max=0.1)


async def test_rows_and_rollups_are_exact(database: Database, tmp_path: Path) -> None:
    made = batch(240)  # 240 records 37 s apart: about 2.5 hours, over many minutes and three hours
    spend = ledger(database, tmp_path)
    await spend.start()
    for record in made:
        spend.record(record)
    await spend.close()
    assert spend.stats.recorded == 240 and spend.stats.shipped == 240 and spend.stats.refused == 0

    rows = await ledger_rows(database)
    assert set(rows) == {r.id for r in made}
    sample, stored = made[17], rows[made[17].id]
    assert stored["cost_usd"] == sample.cost_usd and isinstance(stored["cost_usd"], Decimal)
    assert stored["tags"] == list(sample.tags) and stored["team_id"] == sample.team_id
    assert stored["stream"] is sample.stream and stored["status"] == sample.status

    for bucket in ("minute", "hour", "day"):
        found = await rollups(database, bucket)
        assert summed(found) == totals(made), bucket
        expected: dict[tuple[datetime, str, str], Decimal] = defaultdict(Decimal)
        for r in made:
            expected[(bucket_start(r.at, bucket), r.team_id or "", r.model or "")] += r.cost_usd
        got: dict[tuple[datetime, str, str], Decimal] = defaultdict(Decimal)
        for row in found:
            start = row["bucket_start"].replace(tzinfo=UTC)
            got[(start, row["team_id"], row["model"])] += row["cost_usd"]
        assert got == expected, bucket
    hours = await rollups(database, "hour")
    assert {row["user_id"] for row in hours} >= {"", "user_1"}  # no user: "" in rollups (unique keys)


async def test_a_replayed_batch_is_counted_once(database: Database, tmp_path: Path) -> None:
    made = batch(50)
    assert await write_batch(database, made) == 50
    assert await write_batch(database, made[:30] + batch(10, 50)) == 10  # 30 replayed, 10 new
    assert await count_rows(database) == 60
    assert summed(await rollups(database, "day")) == totals(batch(60))
    async with database.engine.connect() as conn:
        tags = (await conn.execute(select(spend_tags.c.record_id, spend_tags.c.tag))).all()
    assert len(tags) == sum(len(r.tags) for r in batch(60))


async def test_a_batch_that_cannot_be_a_replay_refuses_a_stored_id(database: Database, tmp_path: Path) -> None:
    """Without ``replay`` the stored ids are not looked up: a duplicate fails the batch as a content error, and
    the ledger then writes it record by record, counting the duplicate as replayed, not rejected."""
    assert await write_batch(database, batch(3), replay=False) == 3
    with pytest.raises(Exception) as refused:  # the driver's own IntegrityError
        await write_batch(database, batch(2, 2), replay=False)
    assert content_error(refused.value)
    assert await count_rows(database) == 3
    spend = ledger(database, tmp_path)
    await spend.start()
    for record in batch(3, 2):  # record 2 is stored already; 3 and 4 are not
        spend.record(record)
    await spend.close()
    assert (spend.stats.shipped, spend.stats.replayed, spend.stats.rejected) == (2, 1, 0)
    assert summed(await rollups(database, "day")) == totals(batch(5))


async def test_a_crash_before_the_acknowledgement_replays_without_double_counting(
    database: Database, tmp_path: Path
) -> None:
    spend = ledger(database, tmp_path)
    await spend.start()
    for record in batch(100):
        spend.record(record)
    await spend.close()
    lane = tmp_path / "spool" / "lane-0"
    (lane / "cursor").unlink()  # as if the process died after the commit, before the cursor moved

    again = ledger(database, tmp_path)
    await again.start()
    await again.close()
    assert again.stats.replayed + again.stats.shipped <= 100 and again.stats.shipped == 0
    assert await count_rows(database) == 100
    assert summed(await rollups(database, "minute")) == totals(batch(100))


async def test_close_drains_everything_recorded_under_load(database: Database, tmp_path: Path) -> None:
    spend = ledger(database, tmp_path)
    await spend.start()
    stop = asyncio.Event()
    sent = 0

    async def client(offset: int) -> None:
        nonlocal sent
        i = offset
        while not stop.is_set():
            spend.record(make(i))
            sent += 1
            i += 10
            await asyncio.sleep(0.0005)

    producers = [asyncio.create_task(client(n)) for n in range(10)]
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*producers)
    await spend.close(drain_seconds=30)
    assert sent > 1000 and spend.stats.recorded == sent
    assert await count_rows(database) == sent
    assert spend.stats.shipped == sent and spend.pending_bytes == 0


async def test_records_outside_start_and_close_are_refused_and_counted(database: Database, tmp_path: Path) -> None:
    spend = ledger(database, tmp_path)
    spend.record(make(1))
    await spend.start()
    spend.record(make(2))
    spend.record(make(4, tags=(object(),)))  # type: ignore[arg-type]  # not encodable: refused, never raised
    await spend.close()
    spend.record(make(3))
    assert spend.stats.refused == 3 and spend.stats.recorded == 1
    assert set(await ledger_rows(database)) == {make(2).id}
    await spend.close()  # idempotent


async def test_a_record_the_database_refuses_is_set_aside(database: Database, tmp_path: Path) -> None:
    bad = make(2, cost_usd=Decimal("1e12"))  # beyond NUMERIC(18, 9) (and beyond SQLite's 64-bit nano-dollars)
    spend = ledger(database, tmp_path)
    await spend.start()
    for record in (make(1), bad, make(3)):
        spend.record(record)
    await spend.close(drain_seconds=5)
    assert set(await ledger_rows(database)) == {make(1).id, make(3).id}
    assert spend.stats.rejected == 1 and spend.stats.shipped == 2 and spend.stats.replayed == 0
    assert spend.pending_bytes == 0
    assert bad.id.encode() in (tmp_path / "spool" / "rejected.jsonl").read_bytes()
