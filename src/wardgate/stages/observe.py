"""The outermost stage: times every request and writes one access-log line when it ends (for a stream, when the
stream ends, also on client disconnect). Never logs bodies, headers or keys."""

from __future__ import annotations

import asyncio
import time

from wardgate.core.errors import GatewayError
from wardgate.core.streams import on_stream_end
from wardgate.core.types import Handler, ProxyRequest, ProxyResponse, RequestContext, Stage
from wardgate.observability.logging import AccessLog


def make_observe(access_log: AccessLog | None) -> Stage:
    """``access_log`` None turns the per-request log line off (timing still happens)."""

    async def observe(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        try:
            response = await nxt(ctx, request)
        except GatewayError as exc:
            ctx.status, ctx.error_code = exc.http_status, exc.code
            if access_log is not None:
                _write(access_log, ctx, request, None)
            raise
        except asyncio.CancelledError:  # the client went away before the answer (nginx's 499)
            ctx.status, ctx.error_code = 499, "client_disconnected"
            if access_log is not None:
                _write(access_log, ctx, request, None)
            raise
        ctx.status = response.status
        if access_log is not None:
            if response.stream is None:
                _write(access_log, ctx, request, None)
            else:
                response.stream = on_stream_end(response.stream, lambda error: _write(access_log, ctx, request, error))
        return response

    return observe


def _write(log: AccessLog, ctx: RequestContext, request: ProxyRequest, stream_error: BaseException | None) -> None:
    status, code = ctx.status, ctx.error_code
    if isinstance(stream_error, GatewayError):
        code = stream_error.code
    elif stream_error is not None:
        code = "client_disconnected" if not isinstance(stream_error, Exception) else "internal_error"
    last = ctx.attempts[-1] if ctx.attempts else None
    log.emit(
        {
            "request_id": ctx.request_id,
            "endpoint": request.endpoint.value,
            "model": request.model,
            "stream": request.stream,
            "status": status,
            "error": code,
            "duration_ms": round((time.perf_counter() - ctx.started) * 1000, 2),
            "provider": last.provider if last else None,
            "upstream_model": last.deployment_model if last else None,
            "deployment": last.deployment if last else None,
            "attempts": len(ctx.attempts),
            "key_id": ctx.principal.key_id if ctx.principal else None,
            "client": ctx.client,
        }
    )
