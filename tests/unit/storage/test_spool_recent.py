"""What the spool's reader takes from memory (``RecentWrites``) is exactly what the disk holds, in order, however
batches split writes, whether memory forgot older writes (its bound) or the disk reader read part of one; and a
spool whose memory holds nothing reads everything back from its segments."""

from __future__ import annotations

from pathlib import Path

from wardgate.storage.spool import Spool, SpoolOptions
from wardgate.storage.spool_recent import Position, RecentWrites


def records(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i:06d}".encode() * (1 + i % 3) for i in range(start, start + n)]


def framed(items: list[bytes]) -> int:
    return sum(8 + len(r) for r in items)


def test_take_splits_trims_and_stops_at_a_gap() -> None:
    recent = RecentWrites(1 << 20)
    first, second = records(10), records(5, 10)
    end1 = Position(1, framed(first))
    recent.remember(Position(1, 0), end1, first)
    recent.remember(end1, Position(1, end1.offset + framed(second)), second)
    taken = recent.take(Position(1, 0), 4, 1 << 20)
    assert taken is not None and taken[0] == first[:4] and taken[1] == Position(1, framed(first[:4]))
    partway = Position(1, framed(first[:7]))  # the disk reader took three more meanwhile
    rest = recent.take(partway, 100, 1 << 20)
    assert rest is not None and rest[0] == first[7:] + second and rest[2] == framed(first[7:] + second)
    assert recent.bytes == 0 and recent.take(rest[1], 10, 1 << 20) is None
    recent.remember(Position(3, 0), Position(3, 40), [b"x" * 32])
    assert recent.take(Position(2, 17), 10, 1 << 20) is None  # a gap: the disk reader decides what to skip


def test_the_bound_forgets_the_oldest_writes() -> None:
    recent = RecentWrites(100)
    for n in range(5):
        recent.remember(Position(1, 40 * n), Position(1, 40 * (n + 1)), [b"y" * 32])
    assert recent.bytes <= 100
    assert recent.take(Position(1, 0), 10, 1 << 20) is None  # forgotten: read from disk
    kept = recent.take(Position(1, 120), 10, 1 << 20)
    assert kept is not None and len(kept[0]) == 2


async def read_all(spool: Spool, max_records: int) -> list[bytes]:
    out: list[bytes] = []
    while (batch := await spool.read(max_records=max_records)) is not None:
        out += batch.records
        await spool.ack(batch)
    return out


async def test_memory_and_disk_reads_interleave_to_the_same_log(tmp_path: Path) -> None:
    for limit in (0, 300, 1 << 20):  # nothing kept, a few writes kept, everything kept
        spool = await Spool.open(tmp_path / str(limit), SpoolOptions(recent_bytes=limit, segment_bytes=2_000))
        expected: list[bytes] = []
        got: list[bytes] = []
        for round_ in range(12):
            batch = records(7 + round_, len(expected))
            for record in batch:
                spool.append(record)
            await spool.flush()
            expected += batch
            if round_ % 3 == 2:
                got += await read_all(spool, max_records=5)
        got += await read_all(spool, max_records=5)
        assert got == expected, limit
        assert spool.drained and spool.stats.unshipped_bytes == 0
        await spool.close()
        again = await Spool.open(tmp_path / str(limit))
        left = await again.read()  # every acknowledgement reached the cursor by the close
        assert left is None or left.records == []  # (at most a step over the end of a full segment)
        await again.close()
