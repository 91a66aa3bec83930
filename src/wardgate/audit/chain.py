"""Appending to the hash chain, and sealing it.

Every writer (each replica's shipper, an admin change's transaction) appends in a transaction that first locks the
chain's head row (``UPDATE audit_head … RETURNING``: a row lock on PostgreSQL, the write lock on SQLite), so the
chain has one order whatever the number of replicas. Each row's ``hash`` is

    sha256("v1|{seq}|{id}|{at}|{record_hash}|{prev_hash}")

with ``at`` in the canonical form of ``canonical_time`` and ``record_hash`` the SHA-256 of the record's stored
bytes. Changing, removing or reordering any row therefore breaks the chain at that row. A seal (``audit_seals``)
stores the head's ``seq`` and ``hash`` with an HMAC-SHA256 under a key derived from the vault's master key: rewriting
the chain after an edit would also need that key. Seals are taken by whichever writer finds the last one older than
the seal interval, under the same lock.

Appending is idempotent by record id: ids already in the trail are skipped (a spool replay after a crash).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.record import index_of
from wardgate.storage.driver import sqlite_datetime
from wardgate.storage.schema import GENESIS_HASH, audit_head, audit_log, audit_seals
from wardgate.vault import Keyring

SEAL_INFO = b"wardgate audit seal v1"


INDEX = ("kind", "request_id", "team_id", "key_id", "user_id", "model", "status", "flags")


@dataclass(frozen=True, slots=True)
class Entry:
    """A record ready to append: its id, time, stored bytes and index columns."""

    id: str
    at: datetime
    data: bytes
    index: tuple[Any, ...]
    """The values of ``INDEX`` (kind, request_id, team_id, key_id, user_id, model, status, flags)."""

    @classmethod
    def of(cls, record: dict[str, Any], data: bytes) -> Entry:
        """From a record and its encoded bytes (``record.encode``)."""
        at = record["at"] if isinstance(record["at"], datetime) else parse_time(record["at"])
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return cls(record["id"], at, data, _index(record))

    def spooled(self) -> bytes:
        """The spool form: the id, time and index as a small JSON array, a newline, then the record's bytes (so
        the shipper never parses the whole record)."""
        return orjson.dumps([self.id, canonical_time(self.at), *self.index]) + b"\n" + self.data

    @staticmethod
    def spool_form(record: dict[str, Any], data: bytes) -> bytes:
        """``Entry.of(record, data).spooled()`` for a record whose ``at`` is already canonical text
        (``record.record_time``): the request path's way, without the datetimes."""
        return orjson.dumps([record["id"], record["at"], *_index(record)]) + b"\n" + data

    @classmethod
    def parse(cls, data: bytes) -> Entry:
        """From the spool form, or from a record's bytes alone (raises ``ValueError`` when it is neither)."""
        if data[:1] == b"[":
            head, _, body = data.partition(b"\n")
            fields = orjson.loads(head)
            if not isinstance(fields, list) or len(fields) != 2 + len(INDEX) or not body:
                raise ValueError("not a spooled audit record")
            return cls(fields[0], parse_time(fields[1]), body, tuple(fields[2:]))
        record = orjson.loads(data)
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ValueError("not an audit record")
        return cls.of(record, data)


@dataclass(frozen=True, slots=True)
class SealKey:
    """The HMAC key of seals, derived from a vault master key (``key_id`` names which)."""

    key_id: str
    key: bytes

    @classmethod
    def derive(cls, master_key: bytes, key_id: str) -> SealKey:
        return cls(key_id, hmac.new(master_key, SEAL_INFO, hashlib.sha256).digest())

    def mac(self, seq: int, chain_hash: str) -> str:
        return hmac.new(self.key, f"{seq}|{chain_hash}".encode(), hashlib.sha256).hexdigest()


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a record needs an 'at' time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def canonical_time(moment: datetime) -> str:
    """``at`` as hashed: UTC, microseconds always present (a database hands back naive UTC on SQLite)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"  # = strftime("%Y-%m-%dT%H:%M:%S.%fZ"), 5x faster


def record_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link(seq: int, record_id: str, at: datetime, rec_hash: str, prev_hash: str) -> str:
    text = f"v1|{seq}|{record_id}|{canonical_time(at)}|{rec_hash}|{prev_hash}"  # (``batch.link_rows`` inlines it)
    return hashlib.sha256(text.encode()).hexdigest()


async def lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """Lock the chain for this transaction; returns its last (seq, hash)."""
    statement = (
        update(audit_head)
        .where(audit_head.c.id == 1)
        .values(updated_at=datetime.now(UTC))
        .returning(audit_head.c.seq, audit_head.c.hash)
    )
    row = (await conn.execute(statement)).one_or_none()
    if row is None:
        raise RuntimeError("the audit trail's head row is missing: run `wardgate db upgrade`")
    return int(row.seq), str(row.hash)


async def append(
    conn: AsyncConnection,
    entries: Sequence[Entry],
    *,
    seal_key: SealKey | None = None,
    seal_interval: float | None = None,
) -> int:
    """Append ``entries`` (in order) inside the caller's transaction; returns how many were new. Seals the chain
    when ``seal_interval`` is given and the last seal is older than that."""
    seq, prev = await lock_head(conn)
    unique = list({e.id: e for e in entries}.values())
    if unique:
        ids = [e.id for e in unique]
        present = set((await conn.execute(select(audit_log.c.id).where(audit_log.c.id.in_(ids)))).scalars())
        unique = [e for e in unique if e.id not in present]
    rows = []
    for entry in unique:
        seq += 1
        rec_hash = record_hash(entry.data)
        chain_hash = link(seq, entry.id, entry.at, rec_hash, prev)
        rows.append((seq, entry.id, entry.at, *entry.index, entry.data.decode(), rec_hash, prev, chain_hash))
        prev = chain_hash
    if rows:
        await _insert(conn, rows)
        await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    if seal_interval is not None:
        await _seal_if_due(conn, seq, prev, seal_key, seal_interval)
    return len(rows)


COLUMNS = ("seq", "id", "at", *INDEX, "record", "record_hash", "prev_hash", "hash")
_NAMES = ", ".join(COLUMNS)  # constants: no value is ever formatted into the statements
SQLITE_INSERT = f"INSERT INTO audit_log ({_NAMES}) VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608
_PG_INSERT = f"INSERT INTO audit_log ({_NAMES}) VALUES ({', '.join(f'${n + 1}' for n in range(len(COLUMNS)))})"  # noqa: S608


async def _insert(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """One driver-level ``executemany`` in the caller's transaction: SQLAlchemy's per-row parameter processing
    cost more than everything else the shipper does per record. The values are what SQLAlchemy would bind: on
    SQLite, times as its DATETIME text (UTC)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if conn.dialect.name == "sqlite":
        at = 2
        rows = [(*row[:at], sqlite_datetime(row[at]), *row[at + 1 :]) for row in rows]
        await driver.executemany(SQLITE_INSERT, rows)
    else:
        await driver.executemany(_PG_INSERT, rows)


async def _seal_if_due(conn: AsyncConnection, seq: int, chain_hash: str, key: SealKey | None, interval: float) -> None:
    last = (
        await conn.execute(select(audit_seals.c.seq, audit_seals.c.at).order_by(audit_seals.c.id.desc()).limit(1))
    ).one_or_none()
    now = datetime.now(UTC)
    if last is not None:
        if int(last.seq) >= seq:
            return
        at = last.at if last.at.tzinfo is not None else last.at.replace(tzinfo=UTC)
        if now - at < timedelta(seconds=interval):
            return
    if seq == 0 or chain_hash == GENESIS_HASH:
        return
    await conn.execute(
        insert(audit_seals).values(
            seq=seq,
            hash=chain_hash,
            at=now,
            key_id=key.key_id if key is not None else None,
            mac=key.mac(seq, chain_hash) if key is not None else None,
        )
    )


async def seal_now(conn: AsyncConnection, key: SealKey | None, interval: float = 0.0) -> tuple[int, str]:
    """Seal the chain's current head (at shutdown, when idle; with ``interval``, only when the last seal is older
    than that); returns (seq, hash)."""
    seq, chain_hash = await lock_head(conn)
    await _seal_if_due(conn, seq, chain_hash, key, interval)
    return seq, chain_hash


def _index(record: dict[str, Any]) -> tuple[Any, ...]:
    """The values of ``INDEX`` for a record (``record.index_of``, with the kind and request id clipped)."""
    columns = index_of(record)
    kind, request_id = str(record.get("kind") or "request")[:16], _clip(record.get("request_id"), 128)
    return (kind, request_id, *(columns[name] for name in INDEX[2:]))


def _clip(value: Any, length: int) -> str | None:
    return str(value)[:length] if value is not None else None


def seal_key_of(keyring: Keyring) -> SealKey:
    """The key new seals are made with: derived from the vault's current master key."""
    current = keyring.current
    return SealKey.derive(current.key, current.key_id)


def seal_keys(keyring: Keyring) -> Callable[[str], SealKey | None]:
    """Seal key by id, for verification (seals made under a previous master key verify while it is configured)."""

    def find(key_id: str) -> SealKey | None:
        if key_id not in keyring:
            return None
        return SealKey.derive(keyring.get(key_id).key, key_id)

    return find
