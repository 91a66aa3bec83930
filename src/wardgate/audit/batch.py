"""The shipper's side of the hash chain: a batch of spooled audit records appended with the database driver's own
statements, in one transaction — lock the head row, skip the ids already stored when the batch may be a replay,
insert the rows (``executemany`` on SQLite, binary ``COPY`` on PostgreSQL), move the head.

Per record that is one small JSON parse (the spool form's index line, never the record), two SHA-256 and a row
tuple; SQLAlchemy's per-statement and per-parameter work, which cost more than all of that, stays out of the
shipper. The chain's rules (``link``, the head lock, idempotence by id) are ``chain``'s, and admin changes append
through ``chain.append`` in their own transactions under the same lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from wardgate.audit.chain import COLUMNS, INDEX, SQLITE_INSERT, Entry, canonical_time, parse_time
from wardgate.storage.database import Database
from wardgate.storage.driver import raw_connection, sqlite_datetime, stored_ids, transaction


@dataclass(slots=True)
class Spooled:
    """A spooled record as the shipper needs it: id, time (canonical text, ``chain.canonical_time``), index
    columns (``chain.INDEX``) and the record's bytes. (Not frozen: a frozen dataclass costs a microsecond more to
    build, per record.)"""

    id: str
    at: str
    index: tuple[Any, ...]
    data: bytes

    @property
    def moment(self) -> datetime:
        return datetime.fromisoformat(self.at[:26]).replace(tzinfo=UTC)


def parse(data: bytes) -> Spooled:
    """From the spool form (``Entry.spooled``), or a record's bytes alone; ``ValueError`` when it is neither."""
    if data[:1] != b"[":
        entry = Entry.parse(data)
        return Spooled(entry.id, canonical_time(entry.at), entry.index, entry.data)
    head, _, body = data.partition(b"\n")
    fields = orjson.loads(head)
    if type(fields) is not list or len(fields) != 2 + len(INDEX) or not body or type(fields[0]) is not str:
        raise ValueError("not a spooled audit record")
    at = fields[1]
    if not (type(at) is str and _CANONICAL.fullmatch(at)):  # the request path writes it canonical already
        at = canonical_time(parse_time(at))
    return Spooled(fields[0], at, tuple(fields[2:]), body)


def link_rows(records: Sequence[Spooled], seq: int, prev: str, sqlite: bool) -> tuple[list[tuple[Any, ...]], int, str]:
    """The rows (``chain.COLUMNS``) that append ``records`` after (``seq``, ``prev``); returns them with the new
    head. On SQLite ``at`` is SQLAlchemy's DATETIME text (UTC), on PostgreSQL a datetime."""
    rows = []
    sha256 = hashlib.sha256
    for record in records:
        seq += 1
        record_hash = sha256(record.data).hexdigest()
        chain_hash = sha256(f"v1|{seq}|{record.id}|{record.at}|{record_hash}|{prev}".encode()).hexdigest()
        at: Any = f"{record.at[:10]} {record.at[11:26]}" if sqlite else record.moment
        rows.append((seq, record.id, at, *record.index, record.data.decode(), record_hash, prev, chain_hash))
        prev = chain_hash
    return rows, seq, prev


async def append_batch(db: Database, records: Sequence[Spooled], *, replay: bool) -> int:
    """Append ``records`` in order, in one transaction; returns how many were new. ``replay``: some may be stored
    already (they are looked up and skipped); without it a duplicate id fails the batch (``IntegrityError``)."""
    sqlite = db.is_sqlite
    async with raw_connection(db) as driver, transaction(driver, sqlite):  # on SQLite the write lock: the head's
        if sqlite:
            seq, prev = _head(await driver.execute_fetchall(_SQLITE_LOCK, (sqlite_datetime(datetime.now(UTC)),)))
        else:
            seq, prev = _head([await driver.fetchrow(_PG_LOCK)])
        if replay:
            stored = await stored_ids(driver, sqlite, "audit_log", {r.id for r in records})
            records = [r for r in {r.id: r for r in records}.values() if r.id not in stored]
        rows, seq, prev = link_rows(records, seq, prev, sqlite=sqlite)
        if rows and sqlite:
            await driver.executemany(SQLITE_INSERT, rows)
            await driver.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
        elif rows:
            await driver.copy_records_to_table("audit_log", records=rows, columns=COLUMNS)
            await driver.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev)
    return len(rows)


def _head(rows: Sequence[Any]) -> tuple[int, str]:
    if not rows or rows[0] is None:
        raise RuntimeError("the audit trail's head row is missing: run `wardgate db upgrade`")
    return int(rows[0][0]), str(rows[0][1])


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_SQLITE_LOCK = "UPDATE audit_head SET updated_at = ? WHERE id = 1 RETURNING seq, hash"
_PG_LOCK = "UPDATE audit_head SET updated_at = now() WHERE id = 1 RETURNING seq, hash"
