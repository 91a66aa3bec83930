"""aiohttp response helpers for the fake servers: JSON, raw errors, SSE streams and abrupt disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


def _headers(content_type: str, extra: Mapping[str, str] | None) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": content_type})
    if extra:
        headers.update(extra)
    return headers


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, headers=_headers(JSON_TYPE, headers))


def raw_response(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, headers=_headers(JSON_TYPE, headers))


def body_response(
    body: dict[str, Any] | bytes | str, status: int, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response whose body is a dict (JSON-encoded) or raw bytes/str sent verbatim."""
    if isinstance(body, str):
        return raw_response(body.encode(), status, headers)
    if isinstance(body, bytes):
        return raw_response(body, status, headers)
    return json_response(body, status, headers)


def drop_connection(request: web.BaseRequest) -> None:
    """Close the TCP connection now: buffered bytes are flushed, nothing else is ever sent."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def send_stream(
    request: web.BaseRequest,
    frames: list[bytes],
    *,
    interval: float,
    disconnect_after: int | None,
    headers: Mapping[str, str] | None,
    on_client_gone: Callable[[], None],
) -> web.StreamResponse:
    """Send SSE ``frames`` (chunked transfer encoding); returns the response for aiohttp to finish.

    With ``disconnect_after`` only that many frames are sent and the connection is closed without the
    terminating chunk. If the client goes away first, ``on_client_gone`` is called (no traceback logged).
    With no interval and no disconnect the whole stream is one prebuilt response (cheapest path; a client
    vanishing during that single write is not reported).
    """
    complete = disconnect_after is None
    if complete and interval <= 0:
        # Fast path: headers, every frame and the terminating chunk leave in a single write.
        whole = web.Response(body=b"".join(frames), status=200, headers=_headers(SSE_TYPE, headers))
        whole.headers["Cache-Control"] = "no-cache"
        whole.enable_chunked_encoding()
        return whole
    resp = web.StreamResponse(status=200, headers=_headers(SSE_TYPE, headers))
    resp.headers["Cache-Control"] = "no-cache"
    to_send = frames if disconnect_after is None else frames[:disconnect_after]
    # When the stream completes, the last frame and the terminating chunk go out in one write, so a client
    # that hangs up right after ``[DONE]`` is never mistaken for one that went away mid-stream.
    try:
        await resp.prepare(request)
        if interval <= 0:
            await resp.write(b"".join(to_send))
        else:
            last = len(to_send) - 1
            for position, frame in enumerate(to_send):
                if position:
                    await asyncio.sleep(interval)
                await (resp.write_eof(frame) if complete and position == last else resp.write(frame))
        if not complete:
            drop_connection(request)
    except ConnectionError:
        on_client_gone()
    return resp
