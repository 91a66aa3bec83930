"""``FakeOtlp``: a fake OpenTelemetry collector for tests, a real aiohttp server with the ``FakeServer`` lifecycle
(``start``/``stop``, ``async with``, ``run_in_thread``, ``url``).

It takes OTLP/HTTP trace exports the way a collector does — ``POST /v1/traces`` with an
``application/x-protobuf`` ``ExportTraceServiceRequest`` body, gzip allowed — decodes them with the official
``opentelemetry-proto`` messages (``decode_spans``), and keeps every span as a flat ``ReceivedSpan`` (hex ids,
attributes as Python values, its resource's attributes). ``fail_next`` scripts error answers (e.g. 503 with
``Retry-After``) to test an exporter's retries; every request is recorded with its headers (``requests``).

Needs ``opentelemetry-proto`` (a test dependency): import it from ``wardgate.testing.fake_otlp``. Knows nothing
about the gateway.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from wardgate.testing.recording import RecordedRequest
from wardgate.testing.server import FakeServer

PROTOBUF = "application/x-protobuf"
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUSES = {0: "unset", 1: "ok", 2: "error"}


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span. Ids are lower-case hex; ``parent_span_id`` is None for a root span."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: str
    flags: int
    trace_state: str
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


def value_of(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as lists, key-value lists as dicts)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def attributes_of(items: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(items)
    return {pair.key: value_of(pair.value) for pair in pairs}


class FakeOtlp(FakeServer):
    def __init__(self, max_recorded: int = 1000) -> None:
        super().__init__(None, max_recorded)
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._failures: list[tuple[int, str | None]] = []
        self.exports = 0

    @property
    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def fail_next(self, status: int = 503, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` exports with ``status`` (and ``Retry-After``), keeping nothing of them."""
        with self._lock:
            self._failures += [(status, retry_after)] * times

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._spans.clear()
            self._failures.clear()
            self.exports = 0

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], within: float = 10.0, poll: float = 0.05
    ) -> list[ReceivedSpan]:
        """Block (from a thread other than the server's) until ``predicate(spans)``; returns the spans then."""
        deadline = time.monotonic() + within
        while True:
            spans = self.spans
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(spans)} spans received, the condition was not met within {within} s")
            time.sleep(poll)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _traces(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, None))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            extra = {"Retry-After": failure[1]} if failure[1] is not None else {}
            return web.Response(status=failure[0], headers=extra)
        if request.content_type != PROTOBUF:
            return web.Response(status=415, text=f"expected {PROTOBUF}")
        try:
            # aiohttp inflates a gzip request body itself; a body still gzipped is inflated here
            body = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            received = decode_spans(body)
        except (DecodeError, OSError, EOFError):
            return web.Response(status=400, text="the body is not an ExportTraceServiceRequest")
        with self._lock:
            self._spans += received
            self.exports += 1
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type=PROTOBUF)

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404)


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """The spans of an ``ExportTraceServiceRequest`` (raises ``DecodeError`` when the body is not one)."""
    export = ExportTraceServiceRequest.FromString(body)
    out: list[ReceivedSpan] = []
    for resource_spans in export.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=attributes_of(span.attributes),
                        status=STATUSES.get(span.status.code, str(span.status.code)),
                        flags=span.flags,
                        trace_state=span.trace_state,
                        resource=resource,
                        scope=scope_spans.scope.name,
                        events=tuple((event.name, attributes_of(event.attributes)) for event in span.events),
                    )
                )
    return out
