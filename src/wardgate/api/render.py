"""Render responses onto plain ASGI ``send``: JSON bodies, errors in the OpenAI shape, and SSE streams.

A stream is relayed event by event as it arrives; ``data: [DONE]`` is written only after a real finish. If the
stream breaks, the client gets an explicit ``data: {"error": …}`` event and no ``[DONE]``. If the client goes away,
the relay is cancelled, which closes the upstream request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from typing import Any

import orjson

from wardgate.core.errors import GatewayError, InternalError
from wardgate.core.streams import close_quietly
from wardgate.core.types import StreamSource

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
Headers = list[tuple[bytes, bytes]]

_log = logging.getLogger("wardgate.api")
JSON_TYPE = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


async def send_json(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON_TYPE, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_headers(error: GatewayError) -> Headers:
    return [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]


async def send_error(send: Send, error: GatewayError, headers: Headers) -> None:
    await send_json(send, error.http_status, orjson.dumps(error.to_dict()), [*headers, *error_headers(error)])


class DisconnectWatch:
    """Cancels the current request task when the client disconnects, so upstream work stops with it (the
    upstream response is closed by the ``finally`` blocks it unwinds through). Start it once the body is read;
    ``stop`` it when the response is complete.

    ``stop`` does not cancel the watcher: once the response is complete the server answers the pending
    ``receive`` with ``http.disconnect`` and the watcher ends by itself. Cancelling it would leave the
    ``CancelledError`` and its frames in reference cycles, one set per request, for the garbage collector."""

    __slots__ = ("_stopped", "_task", "_watcher", "fired")

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task: asyncio.Task[Any] | None = task
        self._stopped = False
        self.fired = False
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while not self._stopped:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._stopped and self._task is not None:
                    self.fired = True
                    self._task.cancel()
                break
        self._task = None

    def absorb(self) -> bool:
        """In an ``except CancelledError`` block: True (and the cancellation consumed) when the disconnect caused it."""
        if self.fired:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        return self.fired

    def stop(self) -> None:
        self._stopped = True


async def send_stream(send: Send, stream: StreamSource, headers: Headers) -> None:
    """Relay an OpenAI-format stream as SSE, event by event; ``[DONE]`` only after a real finish."""
    await send_sse(send, stream, headers, frame=_data_frame, error_frame=_openai_error_frame, done=DONE)


def _data_frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def _openai_error_frame(error: GatewayError) -> bytes:
    return b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"


async def send_sse(
    send: Send,
    stream: StreamSource,
    headers: Headers,
    *,
    frame: Callable[[bytes], bytes],
    error_frame: Callable[[GatewayError], bytes],
    done: bytes = b"",
) -> None:
    """Relay ``stream`` as SSE until it ends, each item written as ``frame(item)`` as soon as it arrives. A real
    finish is followed by ``done``; a broken stream by ``error_frame(error)`` instead, so the client never mistakes
    it for a finish. Runs in the request task: a client disconnect (see :class:`DisconnectWatch`) cancels it,
    which closes the stream and the upstream request behind it."""
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
    try:
        async for item in stream:
            await send({"type": "http.response.body", "body": frame(item), "more_body": True})
        tail = done
    except GatewayError as exc:
        tail = error_frame(exc)
    except (asyncio.CancelledError, OSError):
        raise
    except Exception:
        _log.exception("stream failed")
        tail = error_frame(InternalError())
    finally:
        await close_quietly(stream)
    with suppress(OSError):
        await send({"type": "http.response.body", "body": tail, "more_body": False})
