"""OpenTelemetry traces of proxy requests, per the HTTP and GenAI semantic conventions (``observability.tracing``).

Each request gets a SERVER span; each upstream attempt a CLIENT span ``"{gen_ai.operation.name}
{gen_ai.request.model}"`` as its child, whose context is sent upstream as W3C ``traceparent`` / ``tracestate`` so
the provider's own spans join the trace. A client's ``traceparent`` is honoured: the server span is its child, and
its sampled flag decides (parent-based sampling; ``sample_ratio`` decides for new traces, by trace id).

The request path stays cheap: ``started`` parses the header and draws ids; the hooks in ``routing.attempt`` draw an
attempt's span id and build its headers; ``ended`` reads what the request context holds by then (attempts with
their times and outcomes, usage, cost, principal) and encodes the spans straight to OTLP protobuf
(``tracing_otlp``) for the batching exporter (``tracing_export``). No span object lives during the request, and an
unsampled request records nothing. Prompt and answer content is recorded only with ``capture_content``
(``tracing_content``). Never a key, a header value or (by default) content.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any, Final, Protocol

import orjson

from wardgate import __version__
from wardgate.config.tracing_config import TracingConfig
from wardgate.core.types import Attempt, Endpoint, ProxyResponse, RequestContext
from wardgate.observability import tracing_otlp as otlp
from wardgate.observability.events import RequestEnd
from wardgate.observability.tracing_content import StreamCapture, input_attributes, output_messages
from wardgate.observability.tracing_export import SpanExporter
from wardgate.observability.tracing_spans import Answer, attempt_span, request_attributes, server_span

SCOPE: Final = "wardgate"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_MAX_TRACESTATE = 512
_bits = random.getrandbits


def parse_traceparent(header: str) -> tuple[str, str, bool] | None:
    """``(trace_id, parent_span_id, sampled)`` of a valid W3C ``traceparent``, else None (a new trace starts)."""
    match = _TRACEPARENT.fullmatch(header.strip(" \t"))
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def _tracestate(value: str | None) -> str | None:
    if not value or len(value) > _MAX_TRACESTATE or not value.isascii() or not value.isprintable():
        return None
    return value


class SpanSink(Protocol):
    """Where encoded spans go (``SpanExporter``; tests may collect them)."""

    def add(self, encoded: bytes) -> None: ...

    def start(self) -> None: ...

    async def close(self, within: float = 5.0) -> None: ...


class AttemptSpan:
    """What the trace keeps of one upstream attempt until the request ends (``answer``: what is known of its
    answer, when anything is)."""

    __slots__ = ("answer", "attempt", "client", "span_id")

    def __init__(self, attempt: Attempt, client: Any, span_id: str) -> None:
        self.attempt = attempt
        self.client = client
        self.span_id = span_id
        self.answer: Answer | None = None


class RequestTrace:
    """A request's tracing handle (``ctx.trace``): its ids, and the attempts' spans (``attempt_started`` /
    ``attempt_answered``, called by ``routing.attempt``). The server span's id is drawn when it is encoded."""

    __slots__ = ("attempts", "capture", "limit", "parent_id", "sampled", "trace_id", "trace_state")

    def __init__(
        self, trace_id: str, parent_id: str | None, sampled: bool, trace_state: str | None, capture: bool, limit: int
    ) -> None:
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.sampled = sampled
        self.trace_state = trace_state
        self.attempts: list[AttemptSpan] = []
        self.capture = capture
        self.limit = limit

    def attempt_started(self, attempt: Attempt, client: Any) -> dict[str, str]:
        """Open the attempt's span; returns the headers that carry its context upstream."""
        span_id = f"{_bits(64) or 1:016x}"
        if self.sampled:
            self.attempts.append(AttemptSpan(attempt, client, span_id))
            parent = f"00-{self.trace_id}-{span_id}-01"
        else:  # nothing is recorded, but the provider still sees the trace (and that it is not sampled)
            parent = f"00-{self.trace_id}-{span_id}-00"
        if self.trace_state is None:
            return {"traceparent": parent}
        return {"traceparent": parent, "tracestate": self.trace_state}

    def attempt_answered(self, attempt: Attempt, response: ProxyResponse) -> None:
        """The attempt got its answer (a whole body, or a stream's first event): note what is cheaply known of it
        (response model and id, finish reasons of a parsed body), and with content capture its answer."""
        if not self.attempts or self.attempts[-1].attempt is not attempt:
            return  # not sampled (no attempt kept), or not the attempt under way
        span = self.attempts[-1]
        parsed = response.parsed
        if isinstance(parsed, dict):
            span.answer = Answer.of(parsed)
        if not self.capture or response.dialect != "openai":
            return
        answer = span.answer = span.answer or Answer()
        if response.stream is not None:
            answer.capture = StreamCapture(response.stream)
            response.stream = answer.capture
        elif isinstance(parsed, dict):
            answer.output = output_messages(parsed, self.limit)
        elif response.body:
            answer.output = _output_of_body(response.body, self.limit)


def _output_of_body(body: bytes, limit: int) -> str | None:
    try:
        return output_messages(orjson.loads(body), limit)
    except orjson.JSONDecodeError:
        return None


class Tracing:
    """The tracing observer: opens a request's trace in ``started`` and encodes its spans in ``ended``."""

    def __init__(self, config: TracingConfig, exporter: SpanSink | None = None) -> None:
        self.config = config
        self._bound = int(config.sample_ratio * (1 << 64))
        self._capture = config.capture_content
        self._limit = config.max_content_chars
        if exporter is None:
            resource = otlp.resource(resource_attributes(config))
            exporter = SpanExporter(config, resource, otlp.scope(SCOPE, __version__))
        self.exporter = exporter

    def start(self) -> None:
        self.exporter.start()

    async def close(self) -> None:
        await self.exporter.close(self.config.export_timeout_seconds)

    def started(self, ctx: RequestContext) -> None:
        headers = ctx.headers
        header = headers.get("traceparent")
        parent = parse_traceparent(header) if header else None
        if parent is not None:
            trace_id, parent_id, sampled = parent
            state = _tracestate(headers.get("tracestate"))
        else:
            bits = _bits(128) or 1
            trace_id, parent_id, state = f"{bits:032x}", None, None
            sampled = (bits & 0xFFFFFFFFFFFFFFFF) < self._bound
        ctx.trace = RequestTrace(trace_id, parent_id, sampled, state, self._capture, self._limit)

    def ended(self, end: RequestEnd) -> None:
        trace = end.ctx.trace
        if not isinstance(trace, RequestTrace) or not trace.sampled:
            return
        offset = int(end.at * 1e9) - int(end.ended * 1e9)
        trace_id = bytes.fromhex(trace.trace_id)
        span_id = (_bits(64) or 1).to_bytes(8, "big")
        add = self.exporter.add
        if trace.attempts:
            request = end.request
            shared = request_attributes(request)
            if self._capture and request.endpoint is Endpoint.CHAT and request.untranslatable is None:
                shared += otlp.attributes(input_attributes(request.body, self._limit))
            parent = otlp.parent_fields(trace.trace_state, span_id)
            last = trace.attempts[-1]
            for span in trace.attempts:
                add(attempt_span(end, trace_id, parent, span, shared, offset, span is last, self._limit))
        add(server_span(end, trace, trace_id, span_id, offset))


def resource_attributes(config: TracingConfig) -> dict[str, otlp.AttrValue]:
    return {
        **config.resource_attributes,
        "service.name": config.service_name,
        "service.version": __version__,
        "service.instance.id": str(uuid.uuid4()),
        "telemetry.sdk.name": "wardgate",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
    }


def open_tracing(config: TracingConfig) -> Tracing | None:
    """The tracing observer with its exporter started (call inside the running event loop); None when off."""
    if not config.enabled:
        return None
    tracing = Tracing(config)
    tracing.start()
    return tracing
