"""The OpenAI-compatible proxy routes as plain ASGI callables (the hot path: no framework request objects).

Each call reads the body (bounded), builds the request context, runs the snapshot's pipeline and renders the
result. Every response carries ``x-request-id``; every failure is an OpenAI-shaped error, never a traceback.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from wardgate.api.render import DisconnectWatch, Headers, Receive, Send, send_error, send_json, send_stream
from wardgate.core.errors import GatewayError, InternalError, InvalidRequestError, RequestTooLargeError
from wardgate.core.types import Endpoint, Parser, ProxyRequest, RequestContext
from wardgate.runtime import AppState

_log = logging.getLogger("wardgate.api")
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
Scope = dict[str, Any]


def request_headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


class RequestIds:
    """Request ids: the client's ``x-request-id`` when it is sane, else a random per-process prefix and a counter
    (unique across processes and replicas, and far cheaper than a UUID per request)."""

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(6).hex()
        self._counter = itertools.count(1)

    def __call__(self, headers: dict[str, str]) -> str:
        given = headers.get("x-request-id")
        if given and _SANE_ID.fullmatch(given):
            return given
        return f"{self._prefix}{next(self._counter):010x}"


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequestError("Invalid Content-Length header.")
        if int(declared) > limit:
            raise RequestTooLargeError(f"The request body exceeds the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequestError("The client disconnected while sending the request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"The request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class OpenAIRoutes:
    def __init__(self, state: Callable[[], AppState], request_id: RequestIds) -> None:
        self._state = state
        self._request_id = request_id

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        from wardgate.api.openai.parse import parse_chat

        await self._proxy(scope, receive, send, Endpoint.CHAT, parse_chat)

    async def embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        from wardgate.api.openai.parse import parse_embeddings

        await self._proxy(scope, receive, send, Endpoint.EMBEDDINGS, parse_embeddings)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint, parser: Parser) -> None:
        started = time.perf_counter()
        headers = request_headers(scope)
        rid = self._request_id(headers)
        out: Headers = [(b"x-request-id", rid.encode())]
        state = self._state()
        snapshot = state.snapshot
        try:
            raw = await read_body(receive, headers, snapshot.config.server.max_body_bytes)
        except GatewayError as exc:
            await send_error(send, exc, out)
            return
        client = scope.get("client")
        ctx = RequestContext(rid, snapshot, headers, client[0] if client else None, started)
        watch = DisconnectWatch(receive)
        try:
            response = await snapshot.handler(ctx, ProxyRequest(endpoint, raw, parser))
            if response.stream is not None:
                await send_stream(send, response.stream, [*out, *response.headers])
            else:
                await send_json(send, response.status, response.body or b"", [*out, *response.headers])
        except GatewayError as exc:
            await send_error(send, exc, out)
        except asyncio.CancelledError:
            if not watch.absorb():
                raise
        except Exception:
            _log.exception("request failed", extra={"fields": {"request_id": rid}})
            await send_error(send, InternalError(), out)
        finally:
            watch.stop()

    async def models(self, scope: Scope, receive: Receive, send: Send, model_id: str | None) -> None:
        headers = request_headers(scope)
        out: Headers = [(b"x-request-id", self._request_id(headers).encode())]
        state = self._state()
        snapshot = state.snapshot
        try:
            state.verifier.verify(headers)
            if model_id is None:
                data = [_model_entry(route.name, route.config.owned_by, snapshot.created) for route in snapshot.routes]
                body = {"object": "list", "data": data}
            else:
                route = snapshot.routes.resolve(model_id)
                body = _model_entry(route.name, route.config.owned_by, snapshot.created)
        except GatewayError as exc:
            await send_error(send, exc, out)
            return
        await send_json(send, 200, orjson.dumps(body), out)


def _model_entry(name: str, owned_by: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owned_by}
