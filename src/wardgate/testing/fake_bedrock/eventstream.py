"""Encoder of the AWS event-stream binary framing, the inverse of
:mod:`wardgate.providers.bedrock.eventstream` (kept apart so the decoder is never tested against itself only:
botocore's own parser reads what this writes in the tests).

``[total_length][headers_length][prelude_crc][headers][payload][message_crc]``, big-endian, CRC32 (zlib).
"""

from __future__ import annotations

import datetime
import struct
import uuid
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

HeaderInput = bool | int | bytes | str | datetime.datetime | uuid.UUID


def _encode_value(value: HeaderInput) -> bytes:
    if value is True:
        return b"\x00"
    if value is False:
        return b"\x01"
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x04" + struct.pack(">i", value)
        return b"\x05" + struct.pack(">q", value)
    if isinstance(value, bytes):
        return b"\x06" + struct.pack(">H", len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return b"\x07" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, datetime.datetime):
        millis = int(value.timestamp() * 1000)
        return b"\x08" + struct.pack(">q", millis)
    return b"\x09" + value.bytes


def encode_headers(headers: Mapping[str, HeaderInput]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw = name.encode("utf-8")
        out += bytes([len(raw)]) + raw + _encode_value(value)
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderInput], payload: bytes) -> bytes:
    """One complete event-stream message with correct prelude and message CRCs."""
    header_bytes = encode_headers(headers)
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + header_bytes + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_frame(event_type: str, payload: Mapping[str, Any] | bytes) -> bytes:
    """A ConverseStream event as Bedrock frames it (``:event-type``, ``:content-type``, ``:message-type``)."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, data)


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modeled exception inside the stream (``:exception-type`` such as ``throttlingException``)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))
