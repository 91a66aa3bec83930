"""Incremental decoder of the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Wire format (https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html, the same framing botocore's
``botocore/eventstream.py`` parses for Bedrock's ConverseStream)::

    [total_length:u32][headers_length:u32][prelude_crc:u32]   prelude, CRC32 over the first 8 bytes
    [headers: headers_length bytes]
    [payload: total_length - headers_length - 16 bytes]
    [message_crc:u32]                                       CRC32 over everything before it

All integers are big-endian. Each header is ``[name_len:u8][name][type:u8][value]`` with the value types below.
Pure: bytes in, messages out; it never blocks and keeps only the bytes of the message not yet complete.
"""

from __future__ import annotations

import datetime
import struct
import uuid
import zlib
from dataclasses import dataclass

HeaderValue = bool | int | bytes | str | datetime.datetime | uuid.UUID

PRELUDE_LENGTH = 12
_MIN_MESSAGE = PRELUDE_LENGTH + 4
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")

# Header value type codes (the event-stream spec; botocore's EventStreamHeaderParser uses the same table).
TYPE_TRUE = 0
TYPE_FALSE = 1
TYPE_BYTE = 2
TYPE_SHORT = 3
TYPE_INTEGER = 4
TYPE_LONG = 5
TYPE_BYTE_ARRAY = 6
TYPE_STRING = 7
TYPE_TIMESTAMP = 8
TYPE_UUID = 9

_FIXED: dict[int, struct.Struct] = {
    TYPE_BYTE: struct.Struct(">b"),
    TYPE_SHORT: struct.Struct(">h"),
    TYPE_INTEGER: struct.Struct(">i"),
    TYPE_LONG: struct.Struct(">q"),
    TYPE_TIMESTAMP: struct.Struct(">q"),
}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad length, checksum or header)."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One decoded message: its headers (``:message-type``, ``:event-type``, …) and raw payload."""

    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header's value, or None when absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Feed arbitrary slices of the body; get back every message they complete, CRCs verified."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message (non-zero at EOF means a cut stream)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buffer += data
        messages: list[EventMessage] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= PRELUDE_LENGTH:
            total, headers_length = _check_prelude(buffer, offset)
            if len(buffer) - offset < total:
                break
            messages.append(_decode_message(bytes(buffer[offset : offset + total]), headers_length))
            offset += total
        if offset:
            del buffer[:offset]
        return messages


def _check_prelude(buffer: bytearray, offset: int) -> tuple[int, int]:
    total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, offset)
    computed = zlib.crc32(buffer[offset : offset + 8])
    if computed != prelude_crc:
        raise EventStreamError(f"prelude checksum mismatch: expected {prelude_crc:08x}, computed {computed:08x}")
    if headers_length > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers length {headers_length} exceeds {MAX_HEADERS_LENGTH}")
    payload_length = total - headers_length - _MIN_MESSAGE
    if total < _MIN_MESSAGE or payload_length < 0:
        raise EventStreamError(f"invalid message lengths: total {total}, headers {headers_length}")
    if payload_length > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload length {payload_length} exceeds {MAX_PAYLOAD_LENGTH}")
    return total, headers_length


def _decode_message(message: bytes, headers_length: int) -> EventMessage:
    total = len(message)
    (expected,) = _U32.unpack_from(message, total - 4)
    view = memoryview(message)  # CRC and slices without copying the (possibly large) payload twice
    computed = zlib.crc32(view[: total - 4])
    if computed != expected:
        raise EventStreamError(f"message checksum mismatch: expected {expected:08x}, computed {computed:08x}")
    headers_end = PRELUDE_LENGTH + headers_length
    headers = decode_headers(message[PRELUDE_LENGTH:headers_end])
    return EventMessage(headers, message[headers_end : total - 4])


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    """Parse a headers block; duplicate names and unknown value types are errors."""
    headers: dict[str, HeaderValue] = {}
    position = 0
    try:
        while position < len(data):
            name_length = data[position]
            name = data[position + 1 : position + 1 + name_length].decode("utf-8")
            position += 1 + name_length
            kind = data[position]
            value, position = _decode_value(data, position + 1, kind)
            if name in headers:
                raise EventStreamError(f"duplicate header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError("truncated or invalid header block") from exc
    return headers


def _decode_value(data: bytes, position: int, kind: int) -> tuple[HeaderValue, int]:
    if kind == TYPE_TRUE:
        return True, position
    if kind == TYPE_FALSE:
        return False, position
    fixed = _FIXED.get(kind)
    if fixed is not None:
        (number,) = fixed.unpack_from(data, position)
        end = position + fixed.size
        if kind == TYPE_TIMESTAMP:
            return _EPOCH + datetime.timedelta(milliseconds=number), end
        return number, end
    if kind in (TYPE_BYTE_ARRAY, TYPE_STRING):
        (length,) = struct.unpack_from(">H", data, position)
        raw = data[position + 2 : position + 2 + length]
        if len(raw) != length:
            raise EventStreamError("header value runs past the header block")
        return (raw.decode("utf-8") if kind == TYPE_STRING else raw), position + 2 + length
    if kind == TYPE_UUID:
        raw = data[position : position + 16]
        if len(raw) != 16:
            raise EventStreamError("uuid header value runs past the header block")
        return uuid.UUID(bytes=raw), position + 16
    raise EventStreamError(f"unknown header value type {kind}")
