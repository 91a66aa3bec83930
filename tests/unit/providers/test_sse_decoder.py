"""Tests of the incremental SSE decoder: fast path, WHATWG field handling, every chunk boundary (hypothesis is not
installed, so splits are enumerated deterministically), CR/LF handling and the pending-size limit."""

from __future__ import annotations

import itertools

import pytest

from wardgate.providers.sse import SSEDecoder, SSEEvent

# (frame bytes, the event it completes or None)
FRAMES: list[tuple[bytes, SSEEvent | None]] = [
    (b": keep-alive\n\n", None),
    (b'data: {"id":"c1","choices":[]}\n\n', SSEEvent(b'{"id":"c1","choices":[]}')),
    (b"event: ping\ndata: x\n\n", SSEEvent(b"x", "ping")),
    (b"data: line1\ndata: line2\n\n", SSEEvent(b"line1\nline2")),
    (b"data: crlf\r\n\r\n", SSEEvent(b"crlf")),
    (b"id: 7\r\nevent: e2\r\ndata:tight\r\n\r\n", SSEEvent(b"tight", "e2")),
    (b"data: cr-only\r\r", SSEEvent(b"cr-only")),
    (b": comment\ndata: after comment\nretry: 10\n\n", SSEEvent(b"after comment")),
    (b"data: [DONE]\n\n", SSEEvent(b"[DONE]")),
]
STREAM = b"".join(frame for frame, _ in FRAMES)
EXPECTED = [event for _, event in FRAMES if event is not None]

LF_FRAMES = [(frame, event) for frame, event in FRAMES if b"\r" not in frame]
LF_STREAM = b"".join(frame for frame, _ in LF_FRAMES)


def decode(chunks: list[bytes], max_event_bytes: int = 1 << 20) -> tuple[list[SSEEvent], bytes]:
    decoder = SSEDecoder(max_event_bytes)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events, decoder.pending


def split(data: bytes, *points: int) -> list[bytes]:
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --- single blocks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'data: {"a":1}\n\n', [SSEEvent(b'{"a":1}')]),
        (b"data:no-space\n\n", [SSEEvent(b"no-space")]),
        (b"data:  two spaces\n\n", [SSEEvent(b" two spaces")]),
        (b"data\n\n", [SSEEvent(b"")]),
        (b"data:\n\n", [SSEEvent(b"")]),
        (b"data: a\ndata:\ndata: b\n\n", [SSEEvent(b"a\n\nb")]),
        (b"event: delta\ndata: {}\n\n", [SSEEvent(b"{}", "delta")]),
        (b"data: {}\nevent: late\n\n", [SSEEvent(b"{}", "late")]),
        (b"event: one\nevent: two\ndata: x\n\n", [SSEEvent(b"x", "two")]),
        (b"event: only-a-name\n\n", []),
        (b": just a comment\n\n", []),
        (b":\n\n", []),
        (b"id: 1\nretry: 5\nunknown: z\n\n", []),
        (b"id: 1\nunknown: z\ndata: kept\n\n", [SSEEvent(b"kept")]),
        (b"data: has: colons: inside\n\n", [SSEEvent(b"has: colons: inside")]),
        (b"data: a\n\ndata: b\n\n", [SSEEvent(b"a"), SSEEvent(b"b")]),
        (b"\n\n\ndata: a\n\n", [SSEEvent(b"a")]),
        ("data: héllo\n\n".encode(), [SSEEvent("héllo".encode())]),
    ],
)
def test_block_parsing(raw: bytes, expected: list[SSEEvent]) -> None:
    events, pending = decode([raw])
    assert events == expected
    assert pending == b""


def test_fast_path_frame_yields_payload_without_prefix() -> None:
    decoder = SSEDecoder()
    [event] = decoder.feed(b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n')
    assert event.data == b'{"choices":[{"delta":{"content":"hi"}}]}'
    assert event.event is None


def test_incomplete_event_stays_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial") == []
    assert decoder.pending == b"data: partial"
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [SSEEvent(b"partial")]
    assert decoder.pending == b""


def test_several_events_in_one_chunk_keep_their_order() -> None:
    events, pending = decode([STREAM])
    assert events == EXPECTED
    assert pending == b""


# --- chunk boundaries -----------------------------------------------------------------------------------------


def test_every_single_split_point() -> None:
    for point in range(len(STREAM) + 1):
        events, pending = decode(split(STREAM, point))
        assert (events, pending) == (EXPECTED, b""), point


def test_every_pair_of_split_points() -> None:
    for first, second in itertools.combinations(range(1, len(STREAM)), 2):
        events, pending = decode(split(STREAM, first, second))
        assert (events, pending) == (EXPECTED, b""), (first, second)


def test_byte_by_byte() -> None:
    events, pending = decode([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert events == EXPECTED
    assert pending == b""


def test_empty_chunks_change_nothing() -> None:
    chunks = [b"", b"data: a", b"", b"\n", b"", b"\n", b""]
    assert decode(chunks) == ([SSEEvent(b"a")], b"")


def test_events_are_emitted_as_soon_as_their_blank_line_arrives() -> None:
    ends: list[tuple[int, SSEEvent]] = []
    offset = 0
    for frame, event in LF_FRAMES:
        offset += len(frame)
        if event is not None:
            ends.append((offset, event))
    for point in range(len(LF_STREAM) + 1):
        decoder = SSEDecoder()
        early = decoder.feed(LF_STREAM[:point])
        assert early == [event for end, event in ends if end <= point], point
        assert early + decoder.feed(LF_STREAM[point:]) == [event for _, event in ends]


# --- CR and CRLF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: a\r", b"\n\r\n"],
        [b"data: a\r\n\r", b"\n"],
        [b"data: a\r", b"\n\r", b"\n"],
        [b"data: a\r", b"\n", b"\r", b"\n"],
        [b"data: a", b"\r", b"\n", b"\r", b"\n"],
    ],
)
def test_crlf_split_across_chunks_is_one_line_break(chunks: list[bytes]) -> None:
    # A CR ending one chunk and the LF starting the next are one line break; taken as two, the LF would make a blank
    # line of its own (ending the event early, or leaving a stray byte pending).
    assert decode(chunks) == ([SSEEvent(b"a")], b"")


def test_crlf_split_between_data_lines_does_not_end_the_event() -> None:
    chunks = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert decode(chunks) == ([SSEEvent(b"a\nb")], b"")


def test_lone_cr_is_a_line_break() -> None:
    assert decode([b"data: a\rdata: b\r\r", b"data: c\n\n"]) == ([SSEEvent(b"a\nb"), SSEEvent(b"c")], b"")


def test_mixed_line_endings_in_one_event() -> None:
    assert decode([b"event: e\r\ndata: a\rdata: b\ndata: c\r\n\n"]) == ([SSEEvent(b"a\nb\nc", "e")], b"")


# --- size limit -----------------------------------------------------------------------------------------------


def test_pending_event_over_the_limit_raises() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(ValueError, match="size limit"):
        decoder.feed(b"data: " + b"x" * 100)


def test_pending_event_growing_over_several_chunks_raises() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(ValueError, match="size limit"):
        for _ in range(10):
            decoder.feed(b"data: " + b"x" * 10 + b"\n")


def test_pending_event_at_the_limit_is_accepted() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    payload = b"data: " + b"y" * 58
    assert len(payload) == 64
    assert decoder.feed(payload) == []
    assert decoder.feed(b"\n\n") == [SSEEvent(b"y" * 58)]


def test_completed_events_do_not_count_towards_the_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    frame = b"data: " + b"z" * 40 + b"\n\n"
    for _ in range(20):
        assert decoder.feed(frame) == [SSEEvent(b"z" * 40)]


def test_limit_also_applies_to_chunks_ending_in_cr() -> None:
    # Each chunk ends in CR, so the decoder keeps waiting for a possible LF; the pending event must still be bounded.
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(ValueError, match="size limit"):
        for _ in range(100):
            decoder.feed(b"data: " + b"x" * 10 + b"\r")
