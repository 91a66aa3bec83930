"""Time to first token: N sequential streaming chat completions over one keep-alive connection, each timed from
just before the request is written to the first received ``data:`` line, and to the end of the response.

Raw asyncio streams (uvloop when installed) and a tiny HTTP/1.1 reader keep the client's own cost small and the
same for every target. Run: ``python bench/ttft.py --url http://127.0.0.1:4000/v1/chat/completions --key K`` —
prints one JSON object (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024


class ResponseError(RuntimeError):
    """A non-200 status or a malformed response."""


@dataclass(frozen=True)
class Timing:
    ttft_ms: float
    total_ms: float


def request_bytes(host: str, port: int, path: str, key: str, model: str) -> bytes:
    body = json.dumps(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hello in one short sentence."},
            ],
            "max_tokens": 64,
            "temperature": 0,
            "stream": True,
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class ChunkedBody:
    """Incremental decoder of an HTTP/1.1 chunked body (trailers are not expected)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """Decode what ``data`` completes; returns the payload bytes decoded by this call."""
        self._buf += data
        out = bytearray()
        while not self.done:
            line_end = self._buf.find(b"\r\n")
            if line_end < 0:
                break
            size = int(bytes(self._buf[:line_end]).split(b";")[0], 16)
            end = line_end + 2 + size + 2
            if len(self._buf) < end:
                break
            out += self._buf[line_end + 2 : line_end + 2 + size]
            del self._buf[:end]
            self.done = size == 0
        return bytes(out)


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> float | None:
    """Read the whole body; returns when the first ``data:`` arrived (perf_counter), if it did."""
    first: float | None = None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoder = ChunkedBody()
        while not decoder.done:
            data = await reader.read(65536)
            if not data:
                raise ResponseError("connection closed mid-stream")
            payload = decoder.feed(data)
            if first is None and b"data:" in payload:
                first = time.perf_counter()
        return first
    remaining = int(headers.get("content-length", "0"))
    while remaining > 0:
        data = await reader.read(min(remaining, 65536))
        if not data:
            raise ResponseError("connection closed mid-body")
        remaining -= len(data)
        if first is None and b"data:" in data:
            first = time.perf_counter()
    return first


async def one_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Timing:
    started = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, headers = parse_head(head[:-4])
    first = await _read_body(reader, headers)
    ended = time.perf_counter()
    if status != 200 or first is None:
        raise ResponseError(f"status {status}, data line seen: {first is not None}")
    return Timing((first - started) * 1000, (ended - started) * 1000)


async def measure(url: str, key: str, model: str, count: int, warmup: int) -> list[Timing]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_bytes(host, port, parts.path, key, model)
    reader, writer = await asyncio.open_connection(host, port, limit=HEAD_LIMIT)
    try:
        timings = [await one_stream(reader, writer, request) for _ in range(warmup + count)]
    finally:
        writer.close()
    return timings[warmup:]


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def summarize(timings: Sequence[Timing]) -> dict[str, float]:
    """Milliseconds: TTFT median / p99 / mean and whole-stream median / p99."""
    ttft = [t.ttft_ms for t in timings]
    total = [t.total_ms for t in timings]
    return {
        "count": len(timings),
        "ttft_median_ms": statistics.median(ttft),
        "ttft_p99_ms": percentile(ttft, 99),
        "ttft_mean_ms": statistics.fmean(ttft),
        "total_median_ms": statistics.median(total),
        "total_p99_ms": percentile(total, 99),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure streaming time to first token")
    parser.add_argument("--url", required=True, help="full chat completions URL")
    parser.add_argument("--key", default="sk-bench")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("-n", "--count", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--samples", action="store_true", help="print every [ttft_ms, total_ms] instead")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    timings = runner(measure(args.url, args.key, args.model, args.count, args.warmup))
    if args.samples:
        print(json.dumps([[t.ttft_ms, t.total_ms] for t in timings]))
    else:
        print(json.dumps(summarize(timings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
