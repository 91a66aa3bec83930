"""Sends encoded spans to an OTLP/HTTP collector in batches, behind the requests.

Requests only append a span's bytes to a bounded queue (a full queue drops the span and counts it); one task on
the event loop posts a batch every ``export_interval_seconds``, or as soon as ``max_export_batch_size`` spans wait.
Per the OTLP/HTTP spec, 429, 502, 503 and 504 answers and network failures are retried with backoff (honouring
``Retry-After``) a few times; other failures drop the batch. Nothing here ever raises into a request, and the
export headers (which may carry an API key) are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import time
import urllib.parse
from collections.abc import Mapping

import aiohttp

from wardgate.config.tracing_config import TracingConfig
from wardgate.observability.tracing_otlp import export_request

_log = logging.getLogger("wardgate.tracing")
RETRYABLE = frozenset({429, 502, 503, 504})
TRIES = 4
MAX_BACKOFF = 5.0
_LOG_EVERY = 60.0


class SpanExporter:
    """The queue and the export task. ``add`` is the only call on the request path."""

    def __init__(self, config: TracingConfig, resource_field: bytes, scope_field: bytes) -> None:
        self._endpoint = config.endpoint
        parts = urllib.parse.urlsplit(config.endpoint)
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # logged: never a query string
        self._headers: Mapping[str, str] = {
            "Content-Type": "application/x-protobuf",
            **{name: value.get_secret_value() for name, value in config.headers.items()},
        }
        if config.compression == "gzip":
            self._headers = {**self._headers, "Content-Encoding": "gzip"}
        self._gzip = config.compression == "gzip"
        self._timeout = aiohttp.ClientTimeout(total=config.export_timeout_seconds)
        self._interval = config.export_interval_seconds
        self._batch = config.max_export_batch_size
        self._capacity = config.max_queue_size
        self._resource = resource_field
        self._scope = scope_field
        self._queue: list[bytes] = []
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._logged = 0.0
        self.exported = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        """Open the HTTP session and start the export task (needs the running event loop)."""
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",)
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wardgate-trace-export")

    def add(self, encoded: bytes) -> None:
        queue = self._queue
        if len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append(encoded)
        if len(queue) >= self._batch and not self._wake.is_set():
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self) -> None:
        """Export everything queued now (at most one try per batch beyond the retries)."""
        while self._queue:
            await self._export_batch()

    async def close(self, within: float = 5.0) -> None:
        """Stop the task, send what is queued (within ``within`` seconds), close the session."""
        self._closing = True
        self._wake.set()
        task = self._task
        try:
            async with asyncio.timeout(within):
                if task is not None:
                    await task
                await self.flush()
        except TimeoutError:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._queue:
            self.dropped += len(self._queue)
            self._queue.clear()
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            while self._queue and not self._closing:
                await self._export_batch()

    async def _export_batch(self) -> None:
        batch = self._queue[: self._batch]
        del self._queue[: self._batch]
        body = export_request(self._resource, self._scope, batch)
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
        try:
            if await self._post(body):
                self.exported += len(batch)
                return
        except Exception as exc:  # never let the export task die
            self._warn("trace export failed: %s", type(exc).__name__)
        self.failed += len(batch)

    async def _post(self, body: bytes) -> bool:
        session = self._session
        if session is None:
            return False
        for attempt in range(TRIES):
            wait: float | None = None
            try:
                async with session.post(self._endpoint, data=body, headers=self._headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return True
                    if response.status not in RETRYABLE:
                        self._warn("the trace collector refused a batch with status %d", response.status)
                        return False
                    wait = _retry_after(response.headers.get("Retry-After"))
                    reason = f"status {response.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = type(exc).__name__
            if attempt == TRIES - 1 or self._closing:
                self._warn("trace export gave up after %d tries (%s)", attempt + 1, reason)
                return False
            await asyncio.sleep(wait if wait is not None else _backoff(attempt))
        return False

    def _warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            _log.warning(message, *args, extra={"fields": {"endpoint": self._where, "dropped": self.dropped}})


def _backoff(attempt: int) -> float:
    """Full jitter: up to 0.5 s, 1 s, 2 s … (at most ``MAX_BACKOFF``)."""
    return random.uniform(0, min(MAX_BACKOFF, 0.5 * 2**attempt))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_BACKOFF)
