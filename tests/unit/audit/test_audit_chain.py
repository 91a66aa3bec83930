"""The audit chain on SQLite and PostgreSQL: appended rows verify; an edited record, an edited index column, an
edited hash, a deleted row (in the middle and at the end), reordered rows and a forged seal are each reported at the
right place; a replayed record is appended once; retention purges content and the chain still verifies;
admin changes land in the same chain in their own transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select, update

from wardgate.audit.chain import Entry, SealKey, append, seal_now
from wardgate.audit.record import admin_record, encode
from wardgate.audit.retention import RetentionPolicy, purge
from wardgate.audit.trail import AuditTrail
from wardgate.audit.verify import Report, verify
from wardgate.core.types import Principal
from wardgate.storage.changes import Change, record_change
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_head, audit_log, audit_seals
from wardgate.storage.spool import SpoolOptions

KEY = SealKey.derive(b"k" * 32, "test-key")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def request_entry(n: int, *, team: str | None = "team_a", at: datetime | None = None) -> Entry:
    record: dict[str, Any] = {
        "v": 1,
        "id": f"aud_{n:06d}",
        "kind": "request",
        "at": at or T0 + timedelta(seconds=n),
        "request_id": f"req-{n}",
        "principal": {"kind": "key", "key_id": f"key_{n % 3}", "user_id": None, "team_id": team},
        "model": "gpt-4o",
        "status": 200 if n % 5 else 429,
        "flags": ["phi"] if n % 7 == 0 else [],
        "usage": {"input": n, "output": 2 * n},
    }
    data = encode(record)
    return Entry.parse(data)


async def fill(db: Database, count: int, *, per_batch: int = 10) -> None:
    for start in range(0, count, per_batch):
        async with db.engine.begin() as conn:
            await append(conn, [request_entry(n) for n in range(start, min(count, start + per_batch))])


async def seal(db: Database) -> None:
    async with db.engine.begin() as conn:
        await seal_now(conn, KEY)


def keys(key_id: str) -> SealKey | None:
    return KEY if key_id == KEY.key_id else None


async def check(db: Database) -> Report:
    return await verify(db, keys)


def kinds(report: Report) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in report.problems]


async def execute(db: Database, statement: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(statement)


async def test_an_untouched_chain_verifies(database: Database) -> None:
    await fill(database, 50)
    await seal(database)
    await fill(database, 0)
    report = await check(database)
    assert report.ok, [p.line() for p in report.problems]
    assert (report.rows, report.first_seq, report.last_seq, report.seals, report.seals_verified) == (50, 1, 50, 1, 1)


async def test_an_edited_record_is_reported_at_its_row(database: Database) -> None:
    await fill(database, 20)
    row = (await _row(database, 7))["record"]
    edited = row.replace('"status":200', '"status":500')
    assert edited != row
    await execute(database, update(audit_log).where(audit_log.c.seq == 7).values(record=edited))
    report = await check(database)
    assert kinds(report) == [(7, "edited")]
    assert "content was changed" in report.problems[0].message


async def test_a_record_rehashed_by_hand_still_breaks_the_chain(database: Database) -> None:
    """Someone who edits the record and recomputes its record_hash: the row's link hash no longer matches."""
    import hashlib

    await fill(database, 20)
    edited = (await _row(database, 9))["record"].replace('"gpt-4o"', '"gpt-5"')
    digest = hashlib.sha256(edited.encode()).hexdigest()
    await execute(
        database, update(audit_log).where(audit_log.c.seq == 9).values(record=edited, record_hash=digest, model="gpt-5")
    )
    report = await check(database)
    assert kinds(report) == [(9, "edited")]
    assert "hash does not match" in report.problems[0].message


async def test_an_edited_index_column_is_reported(database: Database) -> None:
    await fill(database, 10)
    await execute(database, update(audit_log).where(audit_log.c.seq == 4).values(team_id="team_other"))
    report = await check(database)
    assert kinds(report) == [(4, "edited")]
    assert "team_id" in report.problems[0].message


async def test_a_deleted_row_is_reported_where_it_was(database: Database) -> None:
    await fill(database, 20)
    await execute(database, delete(audit_log).where(audit_log.c.seq == 12))
    report = await check(database)
    assert (13, "deleted") in kinds(report) and (13, "reordered") in kinds(report)
    assert "12..12" in report.problems[0].message
    assert all(p.seq == 13 for p in report.problems)


async def test_rows_deleted_at_the_end_are_reported(database: Database) -> None:
    await fill(database, 20)
    await execute(database, delete(audit_log).where(audit_log.c.seq > 17))
    report = await check(database)
    assert kinds(report) == [(20, "truncated")]


async def test_reordered_rows_are_reported(database: Database) -> None:
    """Swap the positions of rows 5 and 6 (their seq numbers): both are reported."""
    await fill(database, 10)
    async with database.engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(seq=-5))
        await conn.execute(update(audit_log).where(audit_log.c.seq == 6).values(seq=5))
        await conn.execute(update(audit_log).where(audit_log.c.seq == -5).values(seq=6))
    report = await check(database)
    seqs = {seq for seq, _ in kinds(report)}
    assert seqs == {5, 6, 7}
    assert {(5, "reordered"), (5, "edited"), (6, "reordered"), (6, "edited"), (7, "reordered")} == set(kinds(report))


async def test_a_rewritten_chain_is_caught_by_its_seal(database: Database) -> None:
    """Rewrite row 3 and recompute every hash after it (what an attacker without the vault key can do): the
    chain is consistent again, but the seal no longer matches."""
    from wardgate.audit.chain import link, record_hash

    await fill(database, 10)
    await seal(database)
    edited = (await _row(database, 3))["record"].replace('"status":200', '"status":201')
    async with database.engine.begin() as conn:
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).mappings().all()
        prev = rows[1]["hash"]
        for row in rows[2:]:
            data = edited if row["seq"] == 3 else row["record"]
            digest = record_hash(data.encode())
            new_hash = link(row["seq"], row["id"], row["at"], digest, prev)
            status = 201 if row["seq"] == 3 else row["status"]
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(record=data, record_hash=digest, prev_hash=prev, hash=new_hash, status=status)
            )
            prev = new_hash
        await conn.execute(update(audit_head).values(hash=prev))
    report = await check(database)
    assert kinds(report) == [(10, "seal")]
    # forging the seal too needs the key: a seal recomputed without it fails its HMAC
    await execute(database, update(audit_seals).values(hash=prev, mac="0" * 64))
    report = await check(database)
    assert kinds(report) == [(10, "seal")] and "HMAC" in report.problems[0].message


async def test_a_replayed_record_is_appended_once(database: Database) -> None:
    entries = [request_entry(n) for n in range(5)]
    async with database.engine.begin() as conn:
        assert await append(conn, entries) == 5
    async with database.engine.begin() as conn:
        assert await append(conn, [*entries[3:], request_entry(5)]) == 1
    assert (await check(database)).ok
    async with database.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(audit_log)) == 6


async def test_retention_purges_content_and_the_chain_still_verifies(database: Database) -> None:
    await fill(database, 30)
    policy = RetentionPolicy(default_days=None, teams={"team_a": 10})
    purged = await purge(database, policy, now=T0 + timedelta(days=10, seconds=15))
    assert purged == 15  # records at T0 + 0..14 s are older than 10 days at that moment
    report = await check(database)
    assert report.ok and report.purged == 15
    row = await _row(database, 1)
    assert row["record"] is None and row["team_id"] == "team_a" and row["model"] == "gpt-4o"
    # a record removed by hand (no purged_at) is not retention
    await execute(database, update(audit_log).where(audit_log.c.seq == 20).values(record=None))
    assert kinds(await check(database)) == [(20, "edited")]


async def test_admin_changes_are_chained_in_their_transaction(database: Database) -> None:
    await fill(database, 3)
    admin = Principal("user:usr_1", kind="session", user_id="usr_1")
    async with database.engine.begin() as conn:
        await record_change(conn, admin, Change("create", "key", "key_9", "team_a", None, {"name": "ci"}), "r-1")
    with pytest.raises(RuntimeError):
        async with database.engine.begin() as conn:  # rolled back: neither the change nor its audit record stays
            await record_change(conn, admin, Change("delete", "key", "key_9", "team_a", {"name": "ci"}, None), "r-2")
            raise RuntimeError("the change failed")
    rows = await _rows(database)
    assert [r["kind"] for r in rows] == ["request"] * 3 + ["admin"]
    record = orjson.loads(rows[-1]["record"])
    assert record["action"] == "create" and record["actor"] == {"kind": "session", "id": "usr_1"}
    assert rows[-1]["user_id"] == "usr_1" and rows[-1]["team_id"] == "team_a"
    assert (await check(database)).ok


async def test_concurrent_writers_keep_one_chain(database: Database) -> None:
    """Two writers (think: two replicas' shippers) appending at once still produce one unbroken chain."""

    async def writer(offset: int) -> None:
        for n in range(10):
            async with database.engine.begin() as conn:
                await append(conn, [request_entry(offset + n * 2 + k) for k in range(2)])

    await asyncio.gather(writer(0), writer(1000))
    report = await check(database)
    assert report.ok and report.rows == 40


async def test_the_trail_ships_spooled_records_and_seals(database: Database, tmp_path: Path) -> None:
    trail = AuditTrail(
        database, tmp_path / "spool", seal_key=KEY, seal_interval=3600, options=SpoolOptions(sync_interval=0.01)
    )
    await trail.start()
    for n in range(100):
        assert trail.record(request_entry(n).data)
    trail.record(b"not json")
    await trail.close()
    assert trail.stats.shipped == 100 and trail.stats.rejected == 1
    report = await check(database)
    assert report.ok and report.rows == 100 and report.seals == 1 and report.seals_verified == 1
    assert (tmp_path / "spool" / "rejected.jsonl").read_bytes() == b"not json\n"


async def test_an_admin_record_encodes_without_secrets_it_was_not_given() -> None:
    record = admin_record(
        actor_kind="master",
        actor_id="master",
        action="rotate",
        object_kind="key",
        object_id="key_1",
        team_id=None,
        before={"name": "a"},
        after={"name": "a"},
        request_id=None,
    )
    entry = Entry.parse(encode(record))
    assert entry.index[0] == "admin" and entry.at.tzinfo is not None and entry.id == record["id"]
    assert Entry.parse(entry.spooled()) == entry


async def _row(db: Database, seq: int) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(audit_log).where(audit_log.c.seq == seq))).mappings().one()


async def _rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(audit_log).order_by(audit_log.c.seq))).mappings().all())
