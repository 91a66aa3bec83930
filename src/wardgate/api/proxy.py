"""The dialect-independent proxy runner: admit the request (``routing.admission``: a bounded number in flight, a
fast 503 beyond), read the body (bounded), build the request context, run the snapshot's pipeline, and hand the
result to the inbound dialect's renderer. Every response carries ``x-request-id``; every failure reaches the client
in its dialect's error shape, never as a traceback."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from typing import Any, Protocol

from wardgate.api.render import DisconnectWatch, Headers, Receive, Send
from wardgate.core.errors import GatewayError, InternalError, InvalidRequestError, RequestTooLargeError
from wardgate.core.types import Endpoint, Parser, ProxyRequest, ProxyResponse, RequestContext
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


class Dialect(Protocol):
    """How one inbound API dialect renders results and errors."""

    name: str

    async def respond(self, send: Send, request: ProxyRequest, response: ProxyResponse, headers: Headers) -> None: ...

    async def error(self, send: Send, error: GatewayError, headers: Headers) -> None: ...


async def run_proxy(
    state: AppState,
    request_id: RequestIds,
    scope: Scope,
    receive: Receive,
    send: Send,
    endpoint: Endpoint,
    parser: Parser,
    dialect: Dialect,
) -> None:
    started = time.perf_counter()
    headers = request_headers(scope)
    rid = request_id(headers)
    out: Headers = [(b"x-request-id", rid.encode())]
    snapshot = state.snapshot
    admission = state.routing.admission  # the outermost limit: before the body is read, until the answer is sent
    try:
        await admission.acquire()
        try:
            raw = await read_body(receive, headers, snapshot.config.server.max_body_bytes)
        except BaseException:
            admission.release()
            raise
    except GatewayError as exc:
        await dialect.error(send, exc, out)
        return
    client = scope.get("client")
    ctx = RequestContext(rid, snapshot, headers, client[0] if client else None, started, dialect=dialect.name)
    request = ProxyRequest(endpoint, raw, parser)
    watch = DisconnectWatch(receive)
    try:
        response = await snapshot.handler(ctx, request)
        await dialect.respond(send, request, response, [*out, *response.headers])
    except GatewayError as exc:
        await dialect.error(send, exc, out)
    except asyncio.CancelledError:
        if not watch.absorb():
            raise
    except Exception:
        _log.exception("request failed", extra={"fields": {"request_id": rid}})
        await dialect.error(send, InternalError(), out)
    finally:
        watch.stop()
        admission.release()
