"""JSON-lines logging for machines, one object per line, with structured fields passed as ``extra={"fields": …}``.

Secrets never reach a log line: nothing here formats request bodies or headers, and provider errors are logged by
code and provider name only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from wardgate.core.types import RequestContext
    from wardgate.observability.events import RequestEnd

ACCESS_LOGGER = "wardgate.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Route wardgate's and uvicorn's logs to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def _stderr(data: bytes) -> None:
    os.write(sys.stderr.fileno(), data)


class AccessLog:
    """The per-request access log, in the same JSON-lines shape as the other logs but without ``logging``'s
    per-record machinery: lines are serialised with orjson and written in one batch per event-loop turn, so a busy
    gateway spends one syscall on many requests. ``flush`` runs on shutdown too."""

    def __init__(self, write: Callable[[bytes], None] = _stderr) -> None:
        self._write = write
        self._pending: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""

    def emit(self, fields: dict[str, Any]) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        ts = f"{self._stamp}.{int((now - second) * 1000):03d}Z"
        self._pending.append(
            orjson.dumps({"ts": ts, "level": "info", "logger": ACCESS_LOGGER, "msg": "request", **fields})
        )
        if not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._scheduled = True
            except RuntimeError:  # no loop (tests, shutdown): write at once
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if self._pending:
            data = b"\n".join(self._pending) + b"\n"
            self._pending.clear()
            with contextlib.suppress(OSError):  # a closed stderr must not fail requests
                self._write(data)


class AccessLogObserver:
    """Writes one access-log line per request when it ends (``server.access_log`` of the request's snapshot turns
    it off): who (key id, team, user — never a key), what (endpoint, dialect, model, deployment), the outcome
    (status, error code, attempts), how long, and the usage and cost. Never a body, a header or prompt content."""

    def __init__(self, log: AccessLog) -> None:
        self.log = log

    def started(self, ctx: RequestContext) -> None:
        return None

    def ended(self, end: RequestEnd) -> None:
        ctx, request = end.ctx, end.request
        snapshot = ctx.snapshot
        if snapshot is not None and not snapshot.loaded.config.server.access_log:
            return
        last = ctx.attempts[-1] if ctx.attempts else None
        principal = ctx.principal
        usage = ctx.usage
        fields: dict[str, Any] = {
            "request_id": ctx.request_id,
            "endpoint": request.endpoint.value,
            "dialect": ctx.dialect,
            "model": request.model,
            "stream": request.stream,
            "status": end.status,
            "error": end.error,
            "outcome": "ok" if end.error is None else ("refused" if end.status < 500 else "failed"),
            "duration_ms": round(end.duration * 1000, 2),
            "provider": last.provider if last else None,
            "upstream_model": last.deployment_model if last else None,
            "deployment": last.deployment if last else None,
            "attempts": len(ctx.attempts),
            "key_id": principal.key_id if principal else None,
            "team_id": principal.team_id if principal else None,
            "user_id": principal.user_id if principal else None,
            "client": ctx.client,
        }
        if usage is not None:
            fields["input_tokens"] = usage.input_tokens
            fields["output_tokens"] = usage.output_tokens
        if ctx.cost_usd is not None:
            fields["cost_usd"] = str(ctx.cost_usd)
        trace = ctx.trace
        if trace is not None:
            fields["trace_id"] = getattr(trace, "trace_id", None)
        self.log.emit(fields)
