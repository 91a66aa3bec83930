"""A bounded, durable local spool: what the request path hands over (spend rows, audit records) waits here, on local
disk, until a background shipper has written it to the database.

Layout: ``<root>/lane-<n>/``, one lane per process, claimed with an exclusive ``flock`` on ``lane-<n>/lock`` (the
workers of ``wardgate serve --workers N`` share a root, never a lane; the kernel releases a dead process's lock).
A lane holds append-only segments ``<seq>.seg`` of frames ``<u32 length><u32 crc32><payload>``, rotated by size,
and a ``cursor`` file (``<seq> <offset>``) marking what was shipped.

Durability (the guarantees callers document):

* ``append`` only puts the record in an in-memory buffer (no syscall: well under 1 µs). A background task writes
  the buffer and syncs it (``fdatasync``) every ``sync_interval`` seconds, or at once when ``sync_records`` are waiting.
* The crash window: a SIGKILL, OOM kill, crash or power loss loses the records appended in the last
  ``sync_interval`` (plus those appended while one write + fdatasync runs); nothing synced is lost. ``flush()`` and
  ``close()`` (SIGTERM, via the owner's shutdown) write and sync everything: a graceful stop loses nothing.
* Delivery is at-least-once: ``ack(batch)`` moves the cursor after the shipper committed the batch, so a crash
  between commit and ack replays that batch. The shipper's write must be idempotent (a unique record id). The
  cursor is replaced atomically but not synced: after a power loss it may be older (or unreadable: everything
  left replays), never ahead. Batches holding records an earlier process spooled say so (``Batch.recovered``).
* A torn tail (a frame cut by a crash, or a bad checksum) ends that segment's valid data; the reader counts it
  (``stats.torn``) and goes on with the next segment. Writers never append after a restart: they start a new segment.
* Bounded: unshipped bytes (buffer + files past the cursor) stay under ``max_bytes`` and records waiting in memory
  under ``max_buffer_records``; beyond either, ``append`` refuses the record and returns ``False``, counted in
  ``stats.dropped`` and logged (rate-limited), never silently. Disk use: ``max_bytes`` plus one shipped segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_log = logging.getLogger("wardgate.storage.spool")
_HEADER = struct.Struct("<II")
MAX_LANES = 1024
_READ_MAX = 1 << 26  # the largest frame a reader accepts (``max_record_bytes`` is capped to it)
_WARN_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class SpoolOptions:
    sync_interval: float = 0.05
    """Seconds a record may wait in memory before it is written and synced: the crash window."""
    sync_records: int = 512
    """Write at once when this many records wait (group commit under load)."""
    segment_bytes: int = 8 << 20
    max_bytes: int = 1 << 30
    """Unshipped bytes (buffer + files) beyond which ``append`` refuses records."""
    max_record_bytes: int = 1 << 20
    max_buffer_records: int = 100_000  # waiting in memory (a disk that stalls or fails): beyond it, refused


@dataclass(frozen=True, slots=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Records read from a lane, oldest first; ``ack`` it once they are shipped."""

    records: list[bytes]
    end: Position
    size: int  # bytes this batch frees once acknowledged (frames, and any torn tail skipped)
    recovered: bool = False
    """Some records were spooled before this spool was opened (an earlier process's, or an adopted lane's): the
    earlier process may have shipped them and crashed before its acknowledgement."""


@dataclass(slots=True)
class SpoolStats:
    appended: int = 0
    dropped: int = 0  # refused: the spool was full or closed, or the record too large (logged, rate-limited)
    synced: int = 0
    fsyncs: int = 0
    write_errors: int = 0
    acked: int = 0
    torn: int = 0
    unshipped_bytes: int = 0


@dataclass(slots=True)
class _Lane:
    path: Path
    lock: IO[bytes]
    cursor: Position
    segments: list[int] = field(default_factory=list)


class Spool:
    """One lane of a spool root. ``await Spool.open(root)`` claims a free lane for writing and reading;
    ``await Spool.adopt(lane_dir)`` takes over a lane no process holds (read-only) to ship what it left."""

    def __init__(self, lane: _Lane, *, writable: bool, options: SpoolOptions | None = None) -> None:
        self.path = lane.path
        self._lane = lane
        self.writable = writable
        self.options = options = options or SpoolOptions()
        self.max_bytes = options.max_bytes
        self.max_record_bytes = min(options.max_record_bytes, _READ_MAX)
        self.stats, self._buffer = SpoolStats(unshipped_bytes=_unshipped(lane)), list[bytes]()
        self._unwritten = 0  # records appended and not yet written (buffered, or in the write running now)
        self._write_seq = max([lane.cursor.segment, *lane.segments]) + 1
        self._own_from = self._write_seq if writable else None  # the first segment this process writes
        self._written = Position(self._write_seq, 0)
        self._offset = 0  # bytes in the current write segment: writer-thread state (readers see ``_written``)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="spool-writer")  # writes never overlap
        self._out: IO[bytes] | None = None
        self._read_pos = lane.cursor
        self._acked: Batch | None = None  # acknowledged, not yet on disk
        self._in: tuple[int, IO[bytes]] | None = None
        self._wake, self._urgent, self._data = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._closed, self._warned = False, 0.0
        self._task: asyncio.Task[None] | None = None
        self._data.set()  # a reader looks at once: an earlier process may have left records

    @classmethod
    async def open(cls, root: Path, options: SpoolOptions | None = None) -> Spool:
        """Claim the first lane of ``root`` no other process holds and start its writer."""
        spool = cls(await asyncio.to_thread(_claim, root), writable=True, options=options)
        await asyncio.get_running_loop().run_in_executor(spool._writer, spool._open_segment)
        spool._task = asyncio.create_task(spool._run(), name=f"spool writer {spool.path}")
        return spool

    @classmethod
    async def adopt(cls, lane_dir: Path) -> Spool | None:
        """A lane no live process holds, read-only, when it has anything left to ship; else ``None``."""
        lane = await asyncio.to_thread(_lock_lane, lane_dir)
        if lane is None:
            return None
        spool = cls(lane, writable=False)
        if spool.stats.unshipped_bytes == 0:
            await spool.close()
            return None
        return spool

    @staticmethod
    def lanes(root: Path) -> list[Path]:
        return sorted(p for p in root.glob("lane-*") if p.is_dir())

    # --- the request path ---------------------------------------------------------------------------------------

    def append(self, record: bytes) -> bool:
        """Queue one record (no I/O). ``False``: refused — full, closed or too large — and counted in ``dropped``."""
        size = len(record) + 8
        stats = self.stats
        full = stats.unshipped_bytes + size > self.max_bytes or self._unwritten >= self.options.max_buffer_records
        if self._closed or full or not 0 < size - 8 <= self.max_record_bytes:
            stats.dropped += 1
            self._warn_dropped()
            return False
        self._buffer.append(record)
        self._unwritten += 1
        stats.unshipped_bytes += size
        stats.appended += 1
        if len(self._buffer) == 1:
            self._wake.set()
        elif len(self._buffer) >= self.options.sync_records:
            self._urgent.set()
        return True

    def _warn_dropped(self) -> None:
        if (now := time.monotonic()) - self._warned >= _WARN_EVERY:
            self._warned, stats = now, self.stats
            _log.error("spool %s refused %d records so far (full, closed or oversized; %d of %d bytes unshipped)",
                       self.path, stats.dropped, stats.unshipped_bytes, self.max_bytes)  # fmt: skip

    # --- writing ------------------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write and sync every record appended before this call, then wake readers (``OSError`` if the disk
        refuses: the records stay buffered and the next flush retries them in a new segment)."""
        async with self._write_lock:
            while self._buffer:
                batch, self._buffer = self._buffer, []
                try:
                    self._written = await asyncio.get_running_loop().run_in_executor(self._writer, self._write, batch)
                except BaseException:
                    self._buffer[:0] = batch
                    raise
                self._unwritten -= len(batch)
                self._data.set()
            self._data.set()  # also when there was nothing to write: an owner that is stopping needs its reader

    async def _run(self) -> None:
        """The writer: wakes when the buffer stops being empty, waits up to ``sync_interval`` to gather a batch
        (less once ``sync_records`` wait), writes and syncs. Never cancelled mid-write: ``close`` lets it finish."""
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            if len(self._buffer) < self.options.sync_records and not self._closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.options.sync_interval):
                        await self._urgent.wait()
            self._urgent.clear()
            try:
                await self.flush()
            except Exception:
                self.stats.write_errors += 1
                _log.exception("spool %s: write failed; the records stay buffered and are retried", self.path)
                if not self._closed:
                    await asyncio.sleep(min(1.0, self.options.sync_interval * 10))
                    self._wake.set()

    def _write(self, records: list[bytes]) -> Position:
        """In a worker thread: frame, write, fdatasync, rotate when the segment is full. A failed write leaves a
        possibly torn segment behind: the next write starts a new one (readers skip a torn tail)."""
        data = b"".join(part for r in records for part in (_HEADER.pack(len(r), zlib.crc32(r)), r))
        if self._out is None:
            self._open_segment()
        out = self._out
        assert out is not None
        try:
            if out.write(data) != len(data):  # a regular file writes it all or fails; treat a short write as failed
                raise OSError(errno.EIO, "short write to the spool")
            os.fdatasync(out.fileno())
        except BaseException:
            self._close_segment()
            raise
        self.stats.synced, self.stats.fsyncs = self.stats.synced + len(records), self.stats.fsyncs + 1
        self._offset += len(data)
        end = Position(self._write_seq, self._offset)  # the end of the data, also when the segment is now full
        if self._offset >= self.options.segment_bytes:
            self._close_segment()
        return end

    def _open_segment(self) -> None:
        self._out = open(self.path / f"{self._write_seq:012d}.seg", "ab", buffering=0)  # noqa: SIM115 - closed later
        self._lane.segments.append(self._write_seq)
        _fsync_dir(self.path)

    def _close_segment(self) -> None:
        """Rotate: the next write opens segment ``seq + 1`` (never appending after a possibly torn frame)."""
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
        self._write_seq += 1
        self._offset = 0

    # --- reading and acknowledging ------------------------------------------------------------------------------

    def wake(self) -> None:
        """End a reader's ``wait`` now (its owner is closing)."""
        self._data.set()

    async def wait(self, seconds: float) -> None:
        """Until new records were written, ``wake`` was called, or ``seconds`` passed (a yield to the loop, at
        least)."""
        if self._data.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._data.wait()

    async def read(self, max_records: int = 500, max_bytes: int = 4 << 20) -> Batch | None:
        """The next records after the last ``read`` (not the last ``ack``: keep a batch until it is shipped), or
        ``None`` when everything written so far was read."""
        self._data.clear()
        acked, self._acked = self._acked, None
        batch = await asyncio.to_thread(self._ack_and_read, acked, max_records, max_bytes)
        if batch is not None:
            self._read_pos = batch.end
        return batch

    def _ack_and_read(self, acked: Batch | None, max_records: int, max_bytes: int) -> Batch | None:
        if acked is not None:
            self._ack(acked)
        return self._read(max_records, max_bytes)

    def _read(self, max_records: int, max_bytes: int) -> Batch | None:
        records: list[bytes] = []
        pos, size, recovered = self._read_pos, 0, self._own_from is None
        limit = self._written if self.writable else None
        while len(records) < max_records and size < max_bytes and (limit is None or pos < limit):
            handle = self._reader(pos.segment)
            end = limit.offset if limit is not None and limit.segment == pos.segment else None
            offset = (
                _frames(handle, pos.offset, end, max_records - len(records), max_bytes - size, records)
                if handle is not None
                else pos.offset
            )
            if offset != pos.offset:
                recovered = recovered or pos.segment < (self._own_from or 0)
                pos, size = Position(pos.segment, offset), size + offset - pos.offset
                continue
            later = [s for s in self._lane.segments if s > pos.segment and (limit is None or s <= limit.segment)]
            if not later:
                break
            rest = _size(self.path, pos.segment) - pos.offset
            if rest > 0:
                self.stats.torn += 1
                _log.error("spool %s: segment %d has a torn or corrupt tail of %d bytes", self.path, pos.segment, rest)
            pos, size = Position(later[0], 0), size + max(rest, 0)
        if pos == self._read_pos:
            return None
        return Batch(records, pos, size, recovered)

    def _reader(self, segment: int) -> IO[bytes] | None:
        if self._in is not None:
            if self._in[0] == segment:
                return self._in[1]
            self._in[1].close()
            self._in = None
        try:
            self._in = (segment, open(self.path / f"{segment:012d}.seg", "rb"))  # noqa: SIM115 - closed on switch
        except FileNotFoundError:
            return None
        return self._in[1]

    async def ack(self, batch: Batch) -> None:
        """``batch`` (and everything read before it) is shipped: move the cursor and delete finished segments —
        on disk with the next ``read`` (one thread hand-off fewer per batch) or at ``close``; a crash before that
        replays the batch, which the at-least-once contract allows."""
        self._acked = batch
        self.stats.acked += len(batch.records)
        self.stats.unshipped_bytes = max(0, self.stats.unshipped_bytes - batch.size)

    def _ack(self, batch: Batch) -> None:
        tmp = self.path / "cursor.tmp"
        with open(tmp, "w") as out:
            out.write(f"{batch.end.segment} {batch.end.offset}\n")
        os.replace(tmp, self.path / "cursor")
        self._lane.cursor = batch.end
        for segment in [s for s in self._lane.segments if s < batch.end.segment]:
            (self.path / f"{segment:012d}.seg").unlink(missing_ok=True)
            self._lane.segments.remove(segment)

    @property
    def drained(self) -> bool:
        """Nothing buffered, and every written record was read (shipped once the last batch is acked)."""
        return self._unwritten == 0 and (self._read_pos >= self._written if self.writable else False)

    async def close(self) -> None:
        """Write and sync what is buffered, stop the writer and release the lane. Idempotent. Records the disk
        refuses even now are logged and counted as dropped."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._urgent.set()
        if self._task is not None:
            await self._task  # it writes what is buffered, then returns
        if self.writable:
            try:
                await self.flush()
            except Exception:
                self.stats.dropped += len(self._buffer)
                _log.exception("spool %s: %d records could not be written at close", self.path, len(self._buffer))
        self._writer.shutdown(wait=True)
        if self._acked is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._ack, self._acked)
            self._acked = None
        for handle in (self._out, self._in[1] if self._in else None, self._lane.lock):
            if handle is not None:
                handle.close()  # closing the lock file releases the flock


def _frames(handle: IO[bytes], offset: int, end: int | None, max_records: int, max_bytes: int, out: list[bytes]) -> int:
    """Append to ``out`` the payloads of the whole, valid frames from ``offset`` (up to ``end``, at most
    ``max_records`` and about ``max_bytes``), reading the segment in one chunk rather than frame by frame; returns
    the offset after the last frame taken (``offset`` itself at the end, or at a torn or corrupt frame)."""
    handle.seek(offset)
    want = max(max_bytes, 1 << 16) if end is None else end - offset
    chunk = handle.read(want)
    view, at, taken = memoryview(chunk), 0, 0
    while taken < max_records and at + 8 <= len(chunk):
        length, crc = _HEADER.unpack_from(chunk, at)
        if not 0 < length <= _READ_MAX:
            break
        if at + 8 + length > len(chunk):
            if at > 0 or end is not None:
                break  # the rest of this frame is in the next read (or was never written: a torn tail)
            chunk = chunk + handle.read(length + 8 - len(chunk))  # one frame larger than the chunk
            view = memoryview(chunk)
            if at + 8 + length > len(chunk):
                break
        payload = bytes(view[at + 8 : at + 8 + length])
        if zlib.crc32(payload) != crc:
            break
        out.append(payload)
        at += 8 + length
        taken += 1
        if at >= max_bytes:
            break
    return offset + at


def _claim(root: Path) -> _Lane:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(MAX_LANES):
        lane = _lock_lane(root / f"lane-{n}")
        if lane is not None:
            return lane
    raise RuntimeError(f"spool {root}: all {MAX_LANES} lanes are held by live processes")


def _lock_lane(path: Path) -> _Lane | None:
    path.mkdir(parents=True, exist_ok=True)
    lock = open(path / "lock", "ab")  # noqa: SIM115 - held for the spool's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    segments = sorted(int(p.stem) for p in path.glob("*.seg") if p.stem.isdigit())
    cursor = _read_cursor(path, segments)
    for segment in [s for s in segments if s < cursor.segment]:
        (path / f"{segment:012d}.seg").unlink(missing_ok=True)
    return _Lane(path, lock, cursor, [s for s in segments if s >= cursor.segment])


def _read_cursor(path: Path, segments: list[int]) -> Position:
    try:
        return Position(*(int(part) for part in (path / "cursor").read_text().split()))
    except (FileNotFoundError, ValueError, TypeError):
        return Position(segments[0] if segments else 0, 0)


def _unshipped(lane: _Lane) -> int:
    done = lane.cursor.offset if lane.cursor.segment in lane.segments else 0
    return max(0, sum(_size(lane.path, s) for s in lane.segments) - done)


def _size(path: Path, segment: int) -> int:
    file = path / f"{segment:012d}.seg"  # segments disappear only in ``_ack``, never while this runs
    return file.stat().st_size if file.exists() else 0


def _fsync_dir(path: Path) -> None:
    """Make a new segment's directory entry durable (a synced file nobody can find is lost too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
