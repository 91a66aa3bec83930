"""The outermost stage: tells the process's observers (``observability.events``) when a request starts and,
once, when it ends — for a stream when the stream ends, also when the client disconnects or the upstream breaks."""

from __future__ import annotations

import asyncio
import time

from wardgate.core.errors import GatewayError
from wardgate.core.streams import on_stream_end
from wardgate.core.types import Handler, ProxyRequest, ProxyResponse, RequestContext, Stage
from wardgate.observability.events import Observers, RequestEnd


def make_observe(observers: Observers) -> Stage:
    async def observe(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        observers.started(ctx)
        try:
            response = await nxt(ctx, request)
        except GatewayError as exc:
            ctx.status, ctx.error_code = exc.http_status, exc.code
            _end(observers, ctx, request, None)
            raise
        except asyncio.CancelledError:  # the client went away before the answer (nginx's 499)
            ctx.status, ctx.error_code = 499, "client_disconnected"
            _end(observers, ctx, request, None)
            raise
        except Exception:
            ctx.status, ctx.error_code = 500, "internal_error"
            _end(observers, ctx, request, None)
            raise
        ctx.status = response.status
        observers.responded(ctx, response)
        if response.stream is None:
            _end(observers, ctx, request, None)
        else:
            response.stream = on_stream_end(response.stream, lambda error: _end(observers, ctx, request, error))
        return response

    return observe


def _end(observers: Observers, ctx: RequestContext, request: ProxyRequest, stream_error: BaseException | None) -> None:
    status, code = ctx.status or 500, ctx.error_code
    if isinstance(stream_error, GatewayError):
        code = stream_error.code
    elif stream_error is not None:
        # the status line was sent already; the code says how the stream ended
        code = "internal_error" if isinstance(stream_error, Exception) else "client_disconnected"
    ctx.status, ctx.error_code = status, code
    observers.ended(RequestEnd(ctx, request, status, code, time.perf_counter(), time.time()))
