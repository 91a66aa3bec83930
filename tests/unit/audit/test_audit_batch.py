"""The shipper's append (``audit.batch``) on SQLite and PostgreSQL: its rows verify as a chain with those of
``chain.append`` (admin changes) in any interleaving and with concurrent writers; a batch that may be a replay
skips the ids already stored; one that cannot be (and still holds a stored id) fails as a content error, and the
trail then appends it record by record, counting the duplicate as replayed; a lane whose acknowledgement was lost
in a crash is replayed by the next process without a duplicate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from wardgate.audit.batch import append_batch, parse
from wardgate.audit.chain import Entry, SealKey, append, canonical_time
from wardgate.audit.record import encode, record_time
from wardgate.audit.trail import AuditTrail
from wardgate.audit.verify import verify
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log
from wardgate.storage.shipper import content_error
from wardgate.storage.spool import SpoolOptions

KEY = SealKey.derive(b"k" * 32, "test-key")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def entry(n: int) -> Entry:
    record: dict[str, Any] = {
        "v": 1,
        "id": f"aud_{n:08d}",
        "kind": "request",
        "at": T0 + timedelta(seconds=n, microseconds=n % 3),  # also a whole second (no microseconds)
        "request_id": f"req-{n}",
        "principal": {"kind": "key", "key_id": f"key_{n % 3}", "user_id": None, "team_id": "team_a"},
        "model": "gpt-4o",
        "status": 200,
        "flags": ["pii"] if n % 4 == 0 else [],
    }
    return Entry.of(record, encode(record))


def spooled(n: int) -> bytes:
    return entry(n).spooled()


async def rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(audit_log)) or 0)


async def test_the_spool_form_parses_to_the_same_entry() -> None:
    original = entry(7)
    parsed = parse(original.spooled())
    assert (parsed.id, parsed.moment, parsed.index, parsed.data) == (
        original.id,
        original.at,
        original.index,
        original.data,
    )
    assert parsed.at == canonical_time(original.at)
    assert parse(original.data) == parsed  # a record's bytes alone (no index line) parse too
    for bad in (b"[1,2]\n{}", b"not json", b'["aud_1"]'):
        with pytest.raises(ValueError):
            parse(bad)


async def test_batches_and_admin_appends_make_one_chain(database: Database) -> None:
    n = 0
    for size in (3, 1, 50):
        records = [parse(spooled(k)) for k in range(n, n + size)]
        assert await append_batch(database, records, replay=False) == size
        n += size
        async with database.engine.begin() as conn:
            assert await append(conn, [entry(n)]) == 1
        n += 1
    report = await verify(database, lambda key_id: KEY)
    assert report.ok and report.rows == n == 57


async def test_concurrent_batch_writers_keep_one_chain(database: Database) -> None:
    async def writer(offset: int) -> None:
        for k in range(10):
            await append_batch(database, [parse(spooled(offset + 3 * k + i)) for i in range(3)], replay=False)

    await asyncio.gather(writer(0), writer(1000), writer(2000))
    report = await verify(database, lambda key_id: KEY)
    assert report.ok and report.rows == 90


async def test_a_replay_skips_what_is_stored_and_a_fresh_batch_refuses_it(database: Database) -> None:
    assert await append_batch(database, [parse(spooled(k)) for k in range(5)], replay=False) == 5
    again = [parse(spooled(k)) for k in range(3, 8)]
    with pytest.raises(Exception) as refused:  # the driver's own IntegrityError
        await append_batch(database, again, replay=False)
    assert content_error(refused.value)
    assert await rows(database) == 5
    assert await append_batch(database, again, replay=True) == 3
    assert await rows(database) == 8
    assert (await verify(database, lambda key_id: KEY)).ok


async def test_the_trail_counts_a_duplicate_as_replayed(database: Database, tmp_path: Path) -> None:
    await append_batch(database, [parse(spooled(1))], replay=False)
    trail = AuditTrail(database, tmp_path / "spool", options=SpoolOptions(sync_interval=0.01))
    await trail.start()
    for k in range(4):
        trail.record(spooled(k))
    await trail.close()
    assert (trail.stats.shipped, trail.stats.replayed, trail.stats.rejected) == (3, 1, 0)
    assert (await verify(database, lambda key_id: KEY)).ok


async def test_a_lost_acknowledgement_replays_without_duplicates(database: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = AuditTrail(database, spool, seal_key=KEY, options=SpoolOptions(sync_interval=0.01))
    await first.start()
    for k in range(50):
        first.record(spooled(k))
    await first.close()
    assert first.stats.shipped == 50
    for cursor in spool.glob("lane-*/cursor"):
        cursor.unlink()  # as if the process died between the commit and the acknowledgement
    second = AuditTrail(database, spool, seal_key=KEY, options=SpoolOptions(sync_interval=0.01))
    await second.start()
    second.record(spooled(50))
    await second.close()
    assert (second.stats.shipped, second.stats.replayed) == (1, 50)
    report = await verify(database, lambda key_id: KEY)
    assert report.ok and report.rows == 51


async def test_the_request_paths_spool_form_is_the_entrys() -> None:
    record: dict[str, Any] = {
        "v": 1,
        "id": "aud_0000000000000001",
        "kind": "request",
        "at": record_time(T0.timestamp() + 0.25),
        "request_id": "r" * 300,
        "principal": {"kind": "key", "key_id": "key_1", "user_id": "usr_1", "team_id": "team_a"},
        "model": "m" * 300,
        "status": 429,
        "flags": ["phi", "pii"],
    }
    data = encode(record)
    assert record["at"] == "2026-11-01T12:00:00.250000Z"
    assert Entry.spool_form(record, data) == Entry.of(record, data).spooled()
    record["at"] = record_time(T0.timestamp())
    assert record["at"] == "2026-11-01T12:00:00.000000Z"  # microseconds even when they are 0
