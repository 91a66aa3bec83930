"""``verify``: walk the audit chain and say exactly where it was tampered with.

For every row in ``seq`` order it checks that ``seq`` follows the previous one (a gap: rows deleted), that
``prev_hash`` is the previous row's ``hash`` (rows deleted or moved), that the stored record still hashes to
``record_hash`` (content edited; a record may be absent only when retention purged it), that ``hash`` is the link of
the row's own fields (any column of the chain edited, or rows swapped), and that the index columns and the record
agree (an index column edited). At the end the last row must be the head (rows deleted at the end), and every seal
must match the chain and — when the vault's key is at hand — carry a valid HMAC (a rewritten chain). Rows are read
in pages, so a trail of any size verifies in constant memory.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.chain import SealKey, link, parse_time, record_hash
from wardgate.audit.record import index_of
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_head, audit_log, audit_seals

PAGE = 2000
_INDEX = ("team_id", "key_id", "user_id", "model", "status", "flags")


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None
    record_id: str | None
    kind: str
    """deleted | reordered | edited | truncated | seal"""
    message: str

    def line(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain"
        ident = f" ({self.record_id})" if self.record_id else ""
        return f"{where}{ident}: {self.kind}: {self.message}"


@dataclass(slots=True)
class Report:
    rows: int = 0
    purged: int = 0
    seals: int = 0
    seals_verified: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(
    db: Database,
    keys: Callable[[str], SealKey | None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Verify the whole chain. ``keys`` maps a seal's ``key_id`` to its key (None: that seal's MAC is not checked)."""
    report = Report()
    async with db.engine.connect() as conn:
        head = (await conn.execute(select(audit_head).where(audit_head.c.id == 1))).mappings().one_or_none()
        if head is None:
            report.problems.append(Problem(None, None, "edited", "the chain's head row is missing"))
            return report
        hashes = await _walk(conn, head, report, progress)
        await _check_seals(conn, hashes, report, keys)
    return report


async def _walk(
    conn: AsyncConnection, head: Any, report: Report, progress: Callable[[int], None] | None
) -> dict[int, str]:
    """Check every row; returns seq → hash of the rows that seals point at (all, bounded by the seals' count)."""
    seal_seqs = set((await conn.execute(select(audit_seals.c.seq))).scalars())
    hashes: dict[int, str] = {}
    expected_seq, prev_hash = int(head["base_seq"]) + 1, str(head["base_hash"])
    last = -1
    while True:
        rows = (
            (await conn.execute(select(audit_log).where(audit_log.c.seq > last).order_by(audit_log.c.seq).limit(PAGE)))
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            _check_row(row, expected_seq, prev_hash, report)
            expected_seq, prev_hash = int(row["seq"]) + 1, str(row["hash"])
            if row["seq"] in seal_seqs:
                hashes[int(row["seq"])] = str(row["hash"])
        last = int(rows[-1]["seq"])
        if progress is not None:
            progress(report.rows)
    if int(head["seq"]) != expected_seq - 1 or (report.rows and str(head["hash"]) != prev_hash):
        report.problems.append(
            Problem(
                int(head["seq"]),
                None,
                "truncated",
                f"the head says the chain ends at seq {head['seq']}, the last row is seq {expected_seq - 1}: "
                "rows were deleted at the end (or the head was edited)",
            )
        )
    return hashes


def _check_row(row: Any, expected_seq: int, prev_hash: str, report: Report) -> None:
    seq, ident = int(row["seq"]), str(row["id"])
    report.rows += 1
    report.first_seq = seq if report.first_seq is None else report.first_seq
    report.last_seq = seq
    problems = report.problems
    if seq > expected_seq:
        problems.append(Problem(seq, ident, "deleted", f"rows {expected_seq}..{seq - 1} are missing"))
    if row["prev_hash"] != prev_hash:
        problems.append(
            Problem(seq, ident, "reordered", "does not follow the previous row (rows deleted, inserted or moved)")
        )
    data = row["record"]
    if data is None:
        if row["purged_at"] is None:
            problems.append(Problem(seq, ident, "edited", "the record was removed (not by retention)"))
        report.purged += 1
    elif record_hash(data.encode()) != row["record_hash"]:
        problems.append(Problem(seq, ident, "edited", "the record's content was changed"))
    else:
        _check_index(row, data, problems)
    at = row["at"] if row["at"].tzinfo is not None else row["at"].replace(tzinfo=UTC)
    if link(seq, ident, at, str(row["record_hash"]), str(row["prev_hash"])) != row["hash"]:
        problems.append(
            Problem(seq, ident, "edited", "the row's hash does not match its fields (edited or swapped with another)")
        )


def _check_index(row: Any, data: str, problems: list[Problem]) -> None:
    seq, ident = int(row["seq"]), str(row["id"])
    try:
        record = orjson.loads(data)
        at = parse_time(record.get("at"))
    except (ValueError, TypeError):
        problems.append(Problem(seq, ident, "edited", "the record is not valid JSON"))
        return
    row_at = row["at"] if row["at"].tzinfo is not None else row["at"].replace(tzinfo=UTC)
    if record.get("id") != ident or at != row_at.astimezone(UTC):
        problems.append(Problem(seq, ident, "edited", "the row's id or time differs from its record"))
    expected = index_of(record)
    changed = [name for name in _INDEX if expected[name] != row[name]]
    if changed:
        problems.append(Problem(seq, ident, "edited", f"column(s) {', '.join(changed)} differ from the record"))


async def _check_seals(
    conn: AsyncConnection, hashes: dict[int, str], report: Report, keys: Callable[[str], SealKey | None] | None
) -> None:
    seals = (await conn.execute(select(audit_seals).order_by(audit_seals.c.id))).mappings().all()
    for seal in seals:
        report.seals += 1
        seq = int(seal["seq"])
        found = hashes.get(seq)
        if found is None:
            if report.first_seq is not None and seq >= report.first_seq:
                report.problems.append(Problem(seq, None, "seal", "a seal points at a row that is missing"))
            continue  # before the retained part of the chain
        if found != seal["hash"]:
            report.problems.append(Problem(seq, None, "seal", "the chain at this seal differs from the sealed hash"))
            continue
        key = keys(seal["key_id"]) if keys is not None and seal["key_id"] else None
        if key is None:
            continue
        if seal["mac"] is None or not hmac.compare_digest(key.mac(seq, str(seal["hash"])), str(seal["mac"])):
            report.problems.append(Problem(seq, None, "seal", "the seal's HMAC is invalid (a forged seal)"))
        else:
            report.seals_verified += 1


def summary(report: Report, now: datetime | None = None) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "checked_at": (now or datetime.now(UTC)).isoformat(),
        "rows": report.rows,
        "purged_by_retention": report.purged,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "seals": report.seals,
        "seals_verified": report.seals_verified,
        "problems": [{"seq": p.seq, "id": p.record_id, "kind": p.kind, "message": p.message} for p in report.problems],
    }
