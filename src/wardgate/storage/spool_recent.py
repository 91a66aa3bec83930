"""``RecentWrites``: what a spool wrote lately, kept in memory so that its reader takes it from there instead of
reading the segment files back (no disk read, no checksum, no thread hand-off per batch).

Each entry is one write: its records and where they went (start and end positions; a write never spans two
segments). Entries follow each other in the log; between two there may be a segment change (a rotation, or the
new segment after a failed write, whose torn tail the disk reader would skip the same way). Memory is bounded by
``limit`` bytes: beyond it the oldest entries are forgotten and the reader reads them from disk, as it reads what an
earlier process left.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in a spool lane: segment number, byte offset in it."""

    segment: int
    offset: int


class RecentWrites:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: deque[tuple[Position, Position, list[bytes]]] = deque()
        self.bytes = 0

    def remember(self, start: Position, end: Position, records: list[bytes]) -> None:
        self._entries.append((start, end, records))
        self.bytes += _framed(records)
        while self.bytes > self.limit and self._entries:
            self.bytes -= _framed(self._entries.popleft()[2])

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def take(self, at: Position, max_records: int, max_bytes: int) -> tuple[list[bytes], Position, int] | None:
        """The records from position ``at`` on (at most ``max_records``, about ``max_bytes``), the position after
        them and their framed size; ``None`` when memory does not hold what comes at ``at`` (read the disk)."""
        entries = self._entries
        while entries and entries[0][1] <= at:  # read from disk meanwhile
            self.bytes -= _framed(entries.popleft()[2])
        if not entries or not self._starts_at(at):
            return None
        records: list[bytes] = []
        end, size = at, 0
        while entries and len(records) < max_records and size < max_bytes:
            start, stop, items = entries[0]
            room = max_records - len(records)
            if len(items) <= room:
                entries.popleft()
                taken, end = items, stop
            else:
                taken, rest = items[:room], items[room:]
                end = Position(start.segment, start.offset + _framed(taken))
                entries[0] = (end, stop, rest)
            records += taken
            size += _framed(taken)
        self.bytes -= size
        return records, end, size

    def _starts_at(self, at: Position) -> bool:
        """Whether the first entry starts at ``at`` (trimming what of it the disk reader already took)."""
        start, stop, items = self._entries[0]
        if start == at:
            return True
        if not start < at or start.segment != at.segment:
            return False  # a gap (memory forgot it, or a segment change): the disk reader knows what to skip
        skipped, offset = 0, start.offset
        while skipped < len(items) and offset < at.offset:
            offset += 8 + len(items[skipped])
            skipped += 1
        if offset != at.offset:
            return False
        self.bytes -= _framed(items[:skipped])
        self._entries[0] = (at, stop, items[skipped:])
        return True


def _framed(records: list[bytes]) -> int:
    return sum(len(r) for r in records) + 8 * len(records)
