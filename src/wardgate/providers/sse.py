"""Incremental Server-Sent Events decoder for upstream streams.

Feeds raw bytes as they arrive and yields complete events. The common OpenAI-style frame (``data: {...}`` followed
by a blank line) takes a fast path; other fields (``event:``, comments, multi-line data, CRLF) follow the
WHATWG rules: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class SSEEvent:
    data: bytes
    event: str | None = None


class SSEDecoder:
    __slots__ = ("_buffer", "_max_event_bytes")

    def __init__(self, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buffer = b""
        self._max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Return the events completed by ``chunk`` (possibly none)."""
        buffer = self._buffer + chunk if self._buffer else chunk
        carry = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # a CRLF may be split across chunks: keep that CR for the next call
                buffer, carry = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            event = _parse_block(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
        self._buffer = buffer[start:] + carry
        if len(self._buffer) > self._max_event_bytes:
            raise ValueError("upstream SSE event exceeds the size limit")
        return events

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet form a complete event."""
        return self._buffer


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(block[6:])
    data: list[bytes] = []
    event: str | None = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(b"\n".join(data), event)
