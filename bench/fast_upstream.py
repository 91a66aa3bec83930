"""A minimal, fast fake upstream for benchmarks: raw asyncio (uvloop when installed) HTTP/1.1 keep-alive.

It answers ``POST /v1/chat/completions`` (a canned ``chat.completion``, or with ``"stream": true`` a canned SSE
stream of one role chunk, ``--chunks`` content chunks, a finish chunk, an optional usage chunk and
``data: [DONE]``, each frame written separately as one HTTP chunk), ``POST /v1/embeddings`` and
``GET /v1/models``; and the same reply in the other dialects the gateway translates to (wire formats in
``bench/dialects.py``): ``POST /v1/messages`` (Anthropic Messages, streaming when the body says
``"stream": true``), ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` (Gemini), ``POST /model/{modelId}/converse`` and ``/converse-stream``
(Bedrock, AWS event-stream). It checks no credentials and no signatures. Everything else is a 404. Request bodies
must carry ``Content-Length`` (every HTTP client used by the gateways under test sends one). It exists so that the
upstream costs as little CPU as possible on a machine it shares with the load generator and the gateway;
``wardgate.testing fake-openai`` (and its Anthropic, Gemini and Bedrock siblings) are the full-featured fakes used
by the test suite.

Run: ``python bench/fast_upstream.py --port 9000 [--chunks 20]``; prints ``listening on <url>`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import dialects
import orjson

MODEL = "gpt-4o-mini"
_USAGE = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
_ids = itertools.count(1)


def completion_id() -> bytes:
    return b"chatcmpl-bench%020d" % next(_ids)


def _chunk_json(cid: bytes, created: int, delta: dict[str, object], finish: str | None) -> bytes:
    body = {
        "id": cid.decode(),
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return orjson.dumps(body)


def completion_body(cid: bytes) -> bytes:
    body = {
        "id": cid.decode(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(dialects.pieces(20)), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
        "system_fingerprint": "fp_bench",
    }
    return orjson.dumps(body)


def sse_frames(chunks: int, include_usage: bool) -> list[bytes]:
    """Every SSE frame of one streamed reply (each already wrapped as one HTTP/1.1 chunk)."""
    cid, created = completion_id(), int(time.time())
    events = [_chunk_json(cid, created, {"role": "assistant", "content": ""}, None)]
    events += [_chunk_json(cid, created, {"content": piece}, None) for piece in dialects.pieces(chunks)]
    events.append(_chunk_json(cid, created, {}, "stop"))
    if include_usage:
        usage = {"id": cid.decode(), "object": "chat.completion.chunk", "created": created, "model": MODEL}
        events.append(orjson.dumps({**usage, "choices": [], "usage": _USAGE}))
    frames = [dialects.http_chunk(b"data: " + event + b"\n\n") for event in events]
    frames.append(dialects.http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return frames


def json_response(status: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, len(body))
    return head + body


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
MODELS_BODY = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})
EMBEDDING_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.01] * 16}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
)
NOT_FOUND = json_response(b"404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error"}}')


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a request head (0 when absent)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@dataclass(frozen=True)
class Canned:
    """The prebuilt answers of the other dialects: whole non-streaming responses, and streams as the response head
    followed by one HTTP chunk per frame (written separately, as the OpenAI stream is)."""

    anthropic: bytes
    anthropic_stream: list[bytes]
    gemini: bytes
    gemini_stream: list[bytes]
    bedrock: bytes
    bedrock_stream: list[bytes]

    @classmethod
    def build(cls, chunks: int) -> Canned:
        return cls(
            dialects.anthropic_response(),
            dialects.anthropic_stream(chunks),
            dialects.gemini_response(),
            dialects.gemini_stream(chunks),
            dialects.bedrock_response(),
            dialects.bedrock_stream(chunks),
        )


def write_all(transport: asyncio.Transport, frames: Sequence[bytes]) -> None:
    for frame in frames:
        transport.write(frame)


def wants_stream(body: bytes) -> bool | None:
    """The request's ``"stream": true`` (None when the body is not JSON)."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return isinstance(request, dict) and request.get("stream") is True


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests as they complete, answer each in order."""

    def __init__(self, chunks: int, canned: Canned) -> None:
        self._chunks = chunks
        self._canned = canned
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while self._transport is not None and self._next_request():
            pass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _next_request(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buf[:end])
        total = end + 4 + content_length(head)
        if len(self._buf) < total:
            return False
        body = bytes(self._buf[end + 4 : total])
        del self._buf[:total]
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0]
        self._answer(method, path, body)
        return True

    def _answer(self, method: bytes, path: bytes, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if method == b"POST" and path == b"/v1/chat/completions":
            self._chat(transport, body)
        elif method == b"POST":
            self._other_post(transport, path, body)
        elif method == b"GET" and path == b"/v1/models":
            transport.write(json_response(b"200 OK", MODELS_BODY))
        else:
            transport.write(NOT_FOUND)

    def _other_post(self, transport: asyncio.Transport, path: bytes, body: bytes) -> None:
        canned = self._canned
        if path == b"/v1/messages":
            stream = wants_stream(body)
            if stream is None:
                transport.write(json_response(b"400 Bad Request", b'{"type":"error","error":{"type":"invalid"}}'))
            else:
                write_all(transport, canned.anthropic_stream if stream else [canned.anthropic])
        elif path.startswith(b"/v1beta/models/") and path.endswith(b":generateContent"):
            transport.write(canned.gemini)
        elif path.startswith(b"/v1beta/models/") and path.endswith(b":streamGenerateContent?alt=sse"):
            write_all(transport, canned.gemini_stream)
        elif path.startswith(b"/model/") and path.endswith(b"/converse"):
            transport.write(canned.bedrock)
        elif path.startswith(b"/model/") and path.endswith(b"/converse-stream"):
            write_all(transport, canned.bedrock_stream)
        elif path == b"/v1/embeddings":
            transport.write(json_response(b"200 OK", EMBEDDING_BODY))
        else:
            transport.write(NOT_FOUND)

    def _chat(self, transport: asyncio.Transport, body: bytes) -> None:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            transport.write(json_response(b"400 Bad Request", b'{"error":{"message":"invalid JSON"}}'))
            return
        if request.get("stream") is not True:
            transport.write(json_response(b"200 OK", completion_body(completion_id())))
            return
        options = request.get("stream_options") or {}
        transport.write(STREAM_HEAD)
        for frame in sse_frames(self._chunks, options.get("include_usage") is True):
            transport.write(frame)


async def serve(host: str, port: int, chunks: int) -> None:
    loop = asyncio.get_running_loop()
    canned = Canned.build(chunks)
    server = await loop.create_server(lambda: UpstreamProtocol(chunks, canned), host, port, backlog=1024)
    print(f"fast upstream listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="minimal fast fake upstream (OpenAI and the translated dialects)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port, args.chunks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
