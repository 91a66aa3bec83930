"""The tracing observer and its request handle, alone: W3C trace context in and out, sampling, the spans and their
attributes (decoded with the official OTLP messages), and what never goes into a span."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from wardgate.config.tracing_config import TracingConfig
from wardgate.core.types import Attempt, Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.observability import tracing_otlp as otlp
from wardgate.observability.events import RequestEnd
from wardgate.observability.tracing import RequestTrace, Tracing, parse_traceparent
from wardgate.observability.tracing_spans import provider_name
from wardgate.testing.fake_otlp import ReceivedSpan, decode_spans
from wardgate.tokens.usage import Usage

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
SECRET_KEY = "wg-virtual-key-secret-0123456789"
PROMPT = "my private prompt about the merger"


class Collect:
    """A span sink that keeps what it is given."""

    def __init__(self) -> None:
        self.encoded: list[bytes] = []

    def add(self, encoded: bytes) -> None:
        self.encoded.append(encoded)

    def start(self) -> None:
        return None

    async def close(self, within: float = 5.0) -> None:
        return None

    def spans(self) -> list[ReceivedSpan]:
        body = otlp.export_request(otlp.resource({}), otlp.scope("wardgate", "0"), self.encoded)
        return decode_spans(body)

    def raw(self) -> bytes:
        return b"".join(self.encoded)


class Client:
    def __init__(self, name: str = "openai-main", type: str = "openai", base_url: str = "https://api.openai.com/v1"):
        self.name, self.type, self.base_url = name, type, base_url


def tracer(**config: Any) -> tuple[Tracing, Collect]:
    sink = Collect()
    return Tracing(TracingConfig(enabled=True, **config), sink), sink


def context(headers: dict[str, str] | None = None) -> RequestContext:
    headers = {"authorization": f"Bearer {SECRET_KEY}", **(headers or {})}
    ctx = RequestContext("req_test_1", None, headers, "10.1.2.3", time.perf_counter())
    ctx.principal = Principal(key_id="key_abc", kind="key", teams={"team_1": Role.MEMBER}, user_id="usr_9")
    return ctx


def chat_request(stream: bool = False, **body: Any) -> ProxyRequest:
    full = {"model": "chat", "messages": [{"role": "user", "content": PROMPT}], **body}
    return ProxyRequest(Endpoint.CHAT, b"", None, body=full, model="chat", stream=stream)


def attempt_on(ctx: RequestContext, client: Client, model: str = "gpt-4o-mini") -> tuple[Attempt, dict[str, str]]:
    attempt = Attempt(client.name, model, started=time.perf_counter(), deployment=f"{client.name}/{model}")
    ctx.attempts.append(attempt)
    return attempt, ctx.trace.attempt_started(attempt, client)


def answered(ctx: RequestContext, attempt: Attempt, parsed: dict[str, Any] | None = None) -> ProxyResponse:
    attempt.status, attempt.first_byte = 200, time.perf_counter()
    attempt.finished = attempt.first_byte
    response = ProxyResponse(body=b"{}", parsed=parsed)
    ctx.trace.attempt_answered(attempt, response)
    return response


def failed(attempt: Attempt, status: int, code: str) -> None:
    attempt.status, attempt.error, attempt.finished = status, code, time.perf_counter()


def end(ctx: RequestContext, request: ProxyRequest, status: int = 200, error: str | None = None) -> RequestEnd:
    return RequestEnd(ctx, request, status, error, time.perf_counter(), time.time())


ANSWER = {
    "id": "chatcmpl-42",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "merger reply"}}],
}


def by_kind(spans: list[ReceivedSpan]) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    (server,) = [s for s in spans if s.kind == "server"]
    return server, [s for s in spans if s.kind == "client"]


# ------------------------------------------------------------------------------------------- trace context


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TRACEPARENT, (CLIENT_TRACE, CLIENT_SPAN, True)),
        (f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00", (CLIENT_TRACE, CLIENT_SPAN, False)),
        (f" 00-{CLIENT_TRACE}-{CLIENT_SPAN}-03 ", (CLIENT_TRACE, CLIENT_SPAN, True)),
        (f"01-{CLIENT_TRACE}-{CLIENT_SPAN}-01-future-part", (CLIENT_TRACE, CLIENT_SPAN, True)),
        (f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra", None),  # version 00 has nothing after the flags
        (f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01", None),
        (f"00-{'0' * 32}-{CLIENT_SPAN}-01", None),
        (f"00-{CLIENT_TRACE}-{'0' * 16}-01", None),
        (f"00-{CLIENT_TRACE.upper()}-{CLIENT_SPAN}-01", None),
        (f"00-{CLIENT_TRACE[:-1]}-{CLIENT_SPAN}-01", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_traceparent_parsing(header: str, expected: tuple[str, str, bool] | None) -> None:
    assert parse_traceparent(header) == expected


def test_a_client_trace_is_continued_and_its_context_goes_upstream() -> None:
    tracing, sink = tracer()
    ctx = context({"traceparent": TRACEPARENT, "tracestate": "vendor=abc,x=1"})
    tracing.started(ctx)
    trace = ctx.trace
    assert isinstance(trace, RequestTrace) and trace.trace_id == CLIENT_TRACE and trace.sampled
    first, first_headers = attempt_on(ctx, Client())
    failed(first, 503, "upstream_unavailable")
    second, second_headers = attempt_on(ctx, Client("backup"))
    answered(ctx, second, ANSWER)
    tracing.ended(end(ctx, chat_request()))
    server, attempts = by_kind(sink.spans())
    assert (server.trace_id, server.parent_span_id, server.trace_state) == (CLIENT_TRACE, CLIENT_SPAN, "vendor=abc,x=1")
    assert server.flags == 0x301  # sampled, parent is remote
    for span, headers in zip(attempts, (first_headers, second_headers), strict=True):
        assert headers == {"traceparent": f"00-{CLIENT_TRACE}-{span.span_id}-01", "tracestate": "vendor=abc,x=1"}
        assert span.parent_span_id == server.span_id and span.trace_id == CLIENT_TRACE and span.flags == 0x101
    assert len({server.span_id, attempts[0].span_id, attempts[1].span_id}) == 3


def test_without_a_parent_a_new_trace_starts() -> None:
    tracing, sink = tracer()
    ctx = context({"traceparent": "00-not-a-traceparent-01", "tracestate": "ignored=1"})
    tracing.started(ctx)
    attempt, headers = attempt_on(ctx, Client())
    answered(ctx, attempt, ANSWER)
    tracing.ended(end(ctx, chat_request()))
    server, (span,) = by_kind(sink.spans())
    assert server.trace_id == ctx.trace.trace_id != CLIENT_TRACE and len(server.trace_id) == 32
    assert server.parent_span_id is None and server.trace_state == "" and server.flags == 0x101
    assert headers == {"traceparent": f"00-{server.trace_id}-{span.span_id}-01"}


@pytest.mark.parametrize("state", ["x" * 600, "bad\u00e9value", "tab\tinside"])
def test_an_unusable_tracestate_is_not_forwarded(state: str) -> None:
    tracing, _ = tracer()
    ctx = context({"traceparent": TRACEPARENT, "tracestate": state})
    tracing.started(ctx)
    _, headers = attempt_on(ctx, Client())
    assert "tracestate" not in headers and ctx.trace.trace_id == CLIENT_TRACE


def test_an_unsampled_parent_is_propagated_but_nothing_recorded() -> None:
    tracing, sink = tracer()
    ctx = context({"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"})
    tracing.started(ctx)
    attempt, headers = attempt_on(ctx, Client())
    answered(ctx, attempt, ANSWER)
    tracing.ended(end(ctx, chat_request()))
    assert headers["traceparent"].startswith(f"00-{CLIENT_TRACE}-") and headers["traceparent"].endswith("-00")
    assert sink.encoded == []


def test_a_sampled_parent_wins_over_a_zero_ratio() -> None:
    tracing, sink = tracer(sample_ratio=0.0)
    ctx = context({"traceparent": TRACEPARENT})
    tracing.started(ctx)
    tracing.ended(end(ctx, chat_request(), 401, "invalid_api_key"))
    (server,) = sink.spans()
    assert server.trace_id == CLIENT_TRACE


@pytest.mark.parametrize(("ratio", "low", "high"), [(0.0, 0, 0), (1.0, 2000, 2000), (0.25, 400, 600)])
def test_new_traces_are_sampled_by_the_ratio(ratio: float, low: int, high: int) -> None:
    random.seed(1234)
    tracing, sink = tracer(sample_ratio=ratio)
    for _ in range(2000):
        ctx = context()
        tracing.started(ctx)
        _, headers = attempt_on(ctx, Client())
        assert headers["traceparent"].endswith("-01" if ctx.trace.sampled else "-00")
        tracing.ended(end(ctx, chat_request(), 502, "upstream_unavailable"))
    assert low <= len(sink.encoded) / 2 <= high


# ------------------------------------------------------------------------------------------------ spans


def test_the_attempt_span_follows_the_genai_conventions() -> None:
    tracing, sink = tracer()
    ctx = context({"traceparent": TRACEPARENT})
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client(base_url="https://api.openai.com/v1"))
    answered(ctx, attempt, ANSWER)
    ctx.usage = Usage(input_tokens=120, output_tokens=30, cached_input_tokens=100, reasoning_tokens=7)
    ctx.cost_usd = Decimal("0.000125")
    request = chat_request(max_tokens=200, temperature=0.5, top_p=1, seed=7, stop=["END"], n=2)
    tracing.ended(end(ctx, request))
    _, (span,) = by_kind(sink.spans())
    assert span.name == "chat gpt-4o-mini" and span.kind == "client" and span.status == "unset"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 200,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 1.0,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.choice.count": 2,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-42",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.reasoning.output_tokens": 7,
        "http.response.status_code": 200,
        "server.address": "api.openai.com",
        "server.port": 443,
        "wardgate.provider": "openai-main",
        "wardgate.deployment": "openai-main/gpt-4o-mini",
    }


def test_the_server_span_says_who_what_and_how_it_ended() -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client())
    answered(ctx, attempt, ANSWER)
    ctx.cost_usd, ctx.flags = Decimal("0.5"), {"pii", "phi"}
    before = time.time_ns()
    tracing.ended(end(ctx, chat_request()))
    server, (span,) = by_kind(sink.spans())
    assert server.name == "POST /v1/chat/completions" and server.status == "unset"
    assert server.attributes == {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "client.address": "10.1.2.3",
        "wardgate.request_id": "req_test_1",
        "wardgate.dialect": "openai",
        "wardgate.model": "chat",
        "wardgate.key_id": "key_abc",
        "wardgate.team_id": "team_1",
        "wardgate.user_id": "usr_9",
        "wardgate.deployment": "openai-main/gpt-4o-mini",
        "wardgate.attempts": 1,
        "wardgate.cost_usd": 0.5,
        "wardgate.flags": ["phi", "pii"],
    }
    assert server.start_ns <= span.start_ns <= span.end_ns <= server.end_ns
    assert abs(server.end_ns - before) < 2_000_000_000


def test_a_failover_marks_the_failed_attempt_and_gives_the_usage_to_the_last() -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    first, _ = attempt_on(ctx, Client("primary"))
    failed(first, 429, "rate_limit_exceeded")
    second, _ = attempt_on(ctx, Client("secondary"))
    answered(ctx, second, ANSWER)
    ctx.usage = Usage(input_tokens=5, output_tokens=6)
    tracing.ended(end(ctx, chat_request()))
    server, (one, two) = by_kind(sink.spans())
    assert one.status == "error" and one.attributes["error.type"] == "rate_limit_exceeded"
    assert one.attributes["http.response.status_code"] == 429
    assert "gen_ai.usage.input_tokens" not in one.attributes
    assert two.status == "unset" and "error.type" not in two.attributes
    assert two.attributes["gen_ai.usage.output_tokens"] == 6
    assert server.attributes["wardgate.attempts"] == 2 and server.status == "unset"


@pytest.mark.parametrize(
    ("status", "error", "span_status"),
    [
        (502, "upstream_unavailable", "error"),
        (500, None, "error"),
        (429, "rate_limit_exceeded", "unset"),  # the client's problem, not the server's
        (499, "client_disconnected", "unset"),
        (200, "stream_interrupted", "error"),  # a stream that broke after its first byte
    ],
)
def test_server_span_status(status: int, error: str | None, span_status: str) -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    tracing.ended(end(ctx, chat_request(), status, error))
    (server,) = sink.spans()
    assert server.status == span_status
    assert server.attributes["error.type"] == (error or str(status))


def test_an_abandoned_attempt_is_cancelled() -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client())
    attempt.finished = time.perf_counter()  # the client left before the answer
    tracing.ended(end(ctx, chat_request(), 499, "client_disconnected"))
    _, (span,) = by_kind(sink.spans())
    assert span.status == "error" and span.attributes["error.type"] == "cancelled"


def test_embeddings_spans() -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client(), "text-embedding-3-small")
    answered(ctx, attempt, {"model": "text-embedding-3-small", "data": []})
    request = ProxyRequest(Endpoint.EMBEDDINGS, b"", None, body={"input": "x", "dimensions": 256}, model="emb")
    tracing.ended(end(ctx, request))
    server, (span,) = by_kind(sink.spans())
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 256
    assert server.attributes["http.route"] == "/v1/embeddings"


@pytest.mark.parametrize(
    ("kind", "base_url", "name", "address", "port"),
    [
        ("azure_openai", "https://east.openai.azure.com", "azure.ai.openai", "east.openai.azure.com", 443),
        ("bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", "aws.bedrock", None, None),
        ("openai_compatible", "https://api.groq.com/openai/v1", "groq", "api.groq.com", 443),
        ("openai_compatible", "http://localhost:8000/v1", "openai", "localhost", 8000),
        ("simulated", None, "wardgate.simulated", None, None),
    ],
)
def test_provider_and_server(kind: str, base_url: str | None, name: str, address: str | None, port: int | None) -> None:
    tracing, sink = tracer()
    ctx = context()
    tracing.started(ctx)
    client = Client("p", kind, base_url) if base_url else Client("p", kind, "")
    attempt, _ = attempt_on(ctx, client)
    answered(ctx, attempt)
    tracing.ended(end(ctx, chat_request()))
    _, (span,) = by_kind(sink.spans())
    assert span.attributes["gen_ai.provider.name"] == name == provider_name(kind, address)
    if address is not None:
        assert (span.attributes["server.address"], span.attributes["server.port"]) == (address, port)
    elif not base_url:
        assert "server.address" not in span.attributes


# -------------------------------------------------------------------------------------------- content


def test_no_content_and_no_key_in_spans_by_default() -> None:
    tracing, sink = tracer()
    ctx = context({"traceparent": TRACEPARENT})
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client())
    answered(ctx, attempt, ANSWER)
    tracing.ended(end(ctx, chat_request()))
    raw = sink.raw()
    assert len(sink.encoded) == 2
    for secret in (SECRET_KEY, PROMPT, "merger", "Bearer"):
        assert secret.encode() not in raw
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for s in sink.spans() for key in s.attributes)


def test_content_capture_follows_the_conventions() -> None:
    tracing, sink = tracer(capture_content=True)
    ctx = context()
    tracing.started(ctx)
    attempt, _ = attempt_on(ctx, Client())
    answered(ctx, attempt, ANSWER)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
    ]
    request = ProxyRequest(Endpoint.CHAT, b"", None, body={"model": "chat", "messages": messages}, model="chat")
    tracing.ended(end(ctx, request))
    _, (span,) = by_kind(sink.spans())
    assert orjson.loads(span.attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert orjson.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    assert orjson.loads(span.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "merger reply"}], "finish_reason": "stop"}
    ]
    assert SECRET_KEY.encode() not in sink.raw()


# --------------------------------------------------------------------------------------------- config


def test_config_defaults_and_secrets() -> None:
    config = TracingConfig(enabled=True, headers={"Authorization": "Bearer otlp-token-123"})
    assert not TracingConfig().enabled and config.sample_ratio == 1.0 and not config.capture_content
    assert "otlp-token-123" not in repr(config) and "otlp-token-123" not in str(config.model_dump())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("endpoint", "https://user:pw@collector.example.com/v1/traces", "user info"),
        ("endpoint", "grpc://collector:4317", "http:// or https://"),
        ("headers", {"Bad Header": "x"}, "not a valid header name"),
        ("headers", {"Content-Type": "text/plain"}, "set by the exporter"),
        ("sample_ratio", 1.5, "less than or equal to 1"),
        ("compression", "zstd", "pattern"),
    ],
)
def test_config_refuses_clearly(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TracingConfig(**{field: value})
