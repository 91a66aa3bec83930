"""The durable spool (``storage.spool``): append/flush/read/ack, replay after a restart, the crash window of a
SIGKILL'd writer, torn tails, rotation, the size and memory bounds (refusals counted and logged), write errors
retried, lanes per process and adoption of a dead process's lane, and what ``append`` costs on the request path."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wardgate.storage.spool import Spool, SpoolOptions

SRC = Path(__file__).resolve().parents[3] / "src"


async def read_all(spool: Spool, *, ack: bool = True) -> list[bytes]:
    found: list[bytes] = []
    while (batch := await spool.read(max_records=64)) is not None:
        found += batch.records
        if ack:
            await spool.ack(batch)
    return found


def records(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i:06d}".encode() for i in range(start, start + n)]


async def test_append_flush_read_ack_and_nothing_left_after_restart(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    assert all(spool.append(r) for r in records(300))
    await spool.flush()
    assert spool.stats.synced == 300 and spool.stats.fsyncs >= 1
    assert await read_all(spool) == records(300)
    assert spool.drained and spool.stats.unshipped_bytes == 0
    await spool.close()

    again = await Spool.open(tmp_path)
    assert again.path == spool.path  # the lane is free again
    assert await read_all(again) == []
    await again.close()


async def test_a_restart_replays_exactly_what_was_not_acknowledged(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    for r in records(200):
        spool.append(r)
    await spool.flush()
    first = await spool.read(max_records=50)
    assert first is not None and first.records == records(50)
    await spool.ack(first)
    second = await spool.read(max_records=50)  # read, shipped nowhere, never acknowledged
    assert second is not None and second.records == records(50, 50)
    await spool.close()

    again = await Spool.open(tmp_path)
    assert again.stats.unshipped_bytes > 0
    assert await read_all(again) == records(150, 50)  # from the cursor on: no loss, no repeat of the acked part
    await again.close()


async def test_batches_say_whether_an_earlier_process_spooled_them(tmp_path: Path) -> None:
    """What an earlier process left may have been shipped before it died (its acknowledgement lost): such batches
    are ``recovered``; what this process spooled itself is not."""
    spool = await Spool.open(tmp_path)
    for r in records(10):
        spool.append(r)
    await spool.flush()
    own = await spool.read()
    assert own is not None and not own.recovered
    await spool.close()  # read, never acknowledged

    again = await Spool.open(tmp_path)
    for r in records(5, 10):
        again.append(r)
    await again.flush()
    left = await again.read(max_records=10)
    assert left is not None and left.recovered and left.records == records(10)
    mine = await again.read()
    assert mine is not None and not mine.recovered and mine.records == records(5, 10)
    await again.close()
    orphan = await Spool.adopt(again.path)
    assert orphan is not None
    adopted = await orphan.read()
    assert adopted is not None and adopted.recovered
    await orphan.close()


async def test_the_writer_syncs_on_its_own_within_the_interval(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, SpoolOptions(sync_interval=0.02))
    spool.append(b"one")
    deadline = time.monotonic() + 2
    while spool.stats.synced < 1 and time.monotonic() < deadline:
        await spool.wait(0.05)
    assert spool.stats.synced == 1
    assert await read_all(spool) == [b"one"]
    await spool.close()


async def test_segments_rotate_and_shipped_ones_are_deleted(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, SpoolOptions(segment_bytes=256, sync_records=4))
    for r in records(100):
        spool.append(r)
        if len(spool._buffer) >= 4:
            await spool.flush()
    await spool.flush()
    assert len(list(spool.path.glob("*.seg"))) > 5
    assert await read_all(spool) == records(100)
    await read_all(spool)  # the last read steps into the open segment
    assert len(list(spool.path.glob("*.seg"))) <= 2
    await spool.close()


async def test_a_write_that_fills_its_segment_leaves_nothing_unread(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, SpoolOptions(segment_bytes=10 * (8 + 13)))  # exactly ten frames
    for r in records(10):
        spool.append(r)
    await spool.flush()
    assert await read_all(spool) == records(10)
    assert spool.drained  # a stopping owner must not wait for a segment nobody writes
    spool.append(b"next")
    await spool.flush()
    assert await read_all(spool) == [b"next"]
    await spool.close()


async def test_a_torn_tail_ends_its_segment_and_reading_goes_on(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path)
    for r in records(10):
        spool.append(r)
    await spool.close()
    segment = sorted(spool.path.glob("*.seg"))[-1]
    with segment.open("ab") as out:  # a frame cut short by a crash: header says 100 bytes, 3 follow
        out.write((100).to_bytes(4, "little") + (0).to_bytes(4, "little") + b"abc")

    again = await Spool.open(tmp_path)  # writes go to a new segment, never after the torn frame
    for r in records(5, 10):
        again.append(r)
    await again.flush()
    assert await read_all(again) == records(15)
    assert again.stats.torn == 1
    await again.close()


async def test_the_bound_refuses_and_counts_never_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = await Spool.open(tmp_path, SpoolOptions(max_bytes=1000, max_record_bytes=100))
    with caplog.at_level(logging.ERROR, "wardgate.storage.spool"):
        accepted = [spool.append(b"x" * 92) for _ in range(20)]  # 100 bytes framed: 10 fit
        assert not spool.append(b"y" * 101)  # too large
        assert not spool.append(b"")  # empty records are not records
    assert accepted == [True] * 10 + [False] * 10
    assert spool.stats.dropped == 12 and spool.stats.appended == 10
    assert "refused" in caplog.text
    await spool.flush()
    assert len(await read_all(spool)) == 10  # acknowledging frees room
    assert spool.append(b"z" * 92)
    await spool.close()
    assert not spool.append(b"late")  # after close: refused, counted
    assert spool.stats.dropped == 13


async def test_memory_is_bounded_when_the_disk_does_not_keep_up(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, SpoolOptions(max_buffer_records=5))
    assert [spool.append(r) for r in records(7)] == [True] * 5 + [False] * 2  # no await: nothing written yet
    assert spool.stats.dropped == 2
    await spool.flush()
    assert spool.append(b"room again")
    await spool.close()


async def test_a_failed_write_is_retried_in_a_new_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = await Spool.open(tmp_path)
    real = os.fdatasync
    calls = {"n": 0}

    def flaky(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", flaky)
    for r in records(20):
        spool.append(r)
    with pytest.raises(OSError):
        await spool.flush()
    await spool.flush()
    found = await read_all(spool)
    assert found[-20:] == records(20) and set(found) == set(records(20))  # maybe twice, never lost
    assert len(list(spool.path.glob("*.seg"))) >= 1
    await spool.close()


async def test_each_process_gets_its_own_lane_and_a_dead_ones_lane_is_adopted(tmp_path: Path) -> None:
    one, two = await Spool.open(tmp_path), await Spool.open(tmp_path)
    assert {one.path.name, two.path.name} == {"lane-0", "lane-1"}
    assert await Spool.adopt(two.path) is None  # held
    for r in records(30):
        two.append(r)
    await two.close()  # its owner stopped before shipping

    orphan = await Spool.adopt(two.path)
    assert orphan is not None and not orphan.writable
    assert await read_all(orphan) == records(30)
    await orphan.close()
    assert await Spool.adopt(two.path) is None  # nothing left
    assert Spool.lanes(tmp_path) == [one.path, two.path]
    await one.close()


CHILD = """
import asyncio, sys, time
from pathlib import Path
from wardgate.storage.spool import Spool, SpoolOptions

async def main() -> None:
    spool = await Spool.open(Path(sys.argv[1]), SpoolOptions(sync_interval=0.05))
    print("ready", flush=True)
    i = 0
    while True:
        now = time.time()
        spool.append(f"{i} {now:.6f}".encode())
        if i % 20 == 0:
            print(i, now, flush=True)  # what the parent knows was appended, and when
        i += 1
        await asyncio.sleep(0.0005)

asyncio.run(main())
"""


async def test_sigkill_loses_at_most_the_unsynced_window(tmp_path: Path) -> None:
    """A writer killed without warning: what survives is a gap-free prefix, and of what the writer reported
    appending, nothing older than the sync interval (50 ms) plus one write (and scheduling slack) is missing."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "spool")], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(0.8)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reported = [line.split() for line in child.stdout.read().splitlines()]
    last_reported = float(reported[-1][1])

    survivor = await Spool.adopt(tmp_path / "spool" / "lane-0")
    assert survivor is not None
    found = [line.split() for line in await read_all(survivor)]
    await survivor.close()
    numbers = [int(n) for n, _ in found]
    assert numbers == list(range(len(numbers))) and len(numbers) > 100
    newest = float(found[-1][1])
    print(f"SIGKILL: {len(numbers)} records survived; the newest was appended {last_reported - newest:.3f} s before")
    assert last_reported - newest < 0.05 + 0.3, f"lost {last_reported - newest:.3f} s of records"
