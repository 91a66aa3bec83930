"""The AWS event-stream decoder: framing, CRCs, every header value type, incremental feeding; the fake's encoder
checked against botocore's own parser."""

from __future__ import annotations

import datetime
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from wardgate.providers.bedrock.eventstream import EventStreamDecoder, EventStreamError, decode_headers
from wardgate.testing.fake_bedrock import encode_message, event_frame


def _raw_message(headers: bytes, payload: bytes) -> bytes:
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def test_known_empty_message_bytes() -> None:
    # The event-stream spec's empty-message vector: total 16, headers 0, prelude CRC, message CRC.
    message = _raw_message(b"", b"")
    assert message[:8] == b"\x00\x00\x00\x10\x00\x00\x00\x00"
    assert message[8:12] == bytes.fromhex("05c248eb")
    assert message[12:] == bytes.fromhex("7d98c8ff")
    [decoded] = EventStreamDecoder().feed(message)
    assert decoded.headers == {} and decoded.payload == b""


def test_every_header_type_hand_built() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = (
        b"\x01t\x00"
        + b"\x01f\x01"
        + b"\x01b\x02\xff"
        + b"\x01s\x03"
        + struct.pack(">h", -300)
        + b"\x01i\x04"
        + struct.pack(">i", 70000)
        + b"\x01l\x05"
        + struct.pack(">q", 2**40)
        + b"\x01a\x06\x00\x03xyz"
        + b"\x01S\x07\x00\x06h\xc3\xa9llo"
        + b"\x01d\x08"
        + struct.pack(">q", int(when.timestamp() * 1000))
        + b"\x01u\x09"
        + ident.bytes
    )
    [message] = EventStreamDecoder().feed(_raw_message(headers, b"{}"))
    assert message.headers == {
        "t": True,
        "f": False,
        "b": -1,
        "s": -300,
        "i": 70000,
        "l": 2**40,
        "a": b"xyz",
        "S": "héllo",
        "d": when,
        "u": ident,
    }
    assert message.header("S") == "héllo" and message.header("i") is None


def test_byte_by_byte_and_several_messages_in_one_slice() -> None:
    frames = [event_frame("contentBlockDelta", {"delta": {"text": str(n)}}) for n in range(5)]
    data = b"".join(frames)
    decoder = EventStreamDecoder()
    out = []
    for position in range(len(data)):
        out.extend(decoder.feed(data[position : position + 1]))
        if position < len(data) - 1:
            assert len(out) < 5
    assert [m.payload for m in out] == [f'{{"delta":{{"text":"{n}"}}}}'.encode() for n in range(5)]
    assert decoder.pending == 0
    assert len(EventStreamDecoder().feed(data)) == 5


def test_pending_counts_an_incomplete_message() -> None:
    decoder = EventStreamDecoder()
    frame = event_frame("messageStart", {"role": "assistant"})
    assert decoder.feed(frame[:-3]) == []
    assert decoder.pending == len(frame) - 3


def test_prelude_crc_mismatch() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[9] ^= 0xFF
    with pytest.raises(EventStreamError, match="prelude checksum"):
        EventStreamDecoder().feed(bytes(frame))


def test_message_crc_mismatch() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-6] ^= 0x01  # a payload byte
    with pytest.raises(EventStreamError, match="message checksum"):
        EventStreamDecoder().feed(bytes(frame))


def test_invalid_lengths_are_rejected() -> None:
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="lengths"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    prelude = struct.pack(">II", 100, 200 * 1024)
    with pytest.raises(EventStreamError, match="headers length"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_header_errors() -> None:
    with pytest.raises(EventStreamError, match="duplicate"):
        decode_headers(b"\x01a\x00\x01a\x01")
    with pytest.raises(EventStreamError, match="unknown header value type"):
        decode_headers(b"\x01a\x0a")
    with pytest.raises(EventStreamError):
        decode_headers(b"\x01a\x07\x00\x09abc")


def test_fake_encoder_is_read_by_botocore() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    headers = {":event-type": "metadata", "flag": True, "count": 7, "big": 2**40, "raw": b"\x00\x01", "when": when}
    data = encode_message(headers, b'{"x":1}')
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    [message] = list(buffer)
    assert message.payload == b'{"x":1}'
    parsed = message.headers
    assert parsed[":event-type"] == "metadata" and parsed["flag"] is True and parsed["count"] == 7
    assert parsed["big"] == 2**40 and parsed["raw"] == b"\x00\x01"
    [ours] = EventStreamDecoder().feed(data)
    assert ours.headers["when"] == when and ours.headers["raw"] == b"\x00\x01"
