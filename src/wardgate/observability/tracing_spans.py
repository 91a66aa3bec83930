"""The two spans of a request, encoded when it ends: the gateway's SERVER span (HTTP server conventions plus
``wardgate.*``) and one CLIENT span per upstream attempt (GenAI inference / embeddings conventions).

What spans of the same shape share (name, status, flags and the attributes of low cardinality: route, status
code, model, deployment, provider, server, outcome) is encoded once per shape (``tracing_otlp.span_tail``), a
caller's ids once per principal, the request's parameters once per set of values; a request only encodes its ids,
times, usage, cost and request and response ids. Error types are the gateway's error codes (``core.errors``), e.g.
``upstream_timeout``, ``rate_limit_exceeded``; ``cancelled`` is an attempt abandoned before its answer (the client
left).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, Final

from wardgate.core.types import RESPONSES_DIALECT, Attempt, Endpoint, ProxyRequest
from wardgate.observability import tracing_otlp as otlp
from wardgate.observability.events import RequestEnd
from wardgate.observability.tracing_content import StreamCapture
from wardgate.observability.tracing_otlp import attr, cached

if TYPE_CHECKING:
    from wardgate.observability.tracing import AttemptSpan, RequestTrace

SERVER_FLAGS: Final = otlp.FLAG_SAMPLED | otlp.FLAG_HAS_IS_REMOTE
REMOTE_FLAGS: Final = SERVER_FLAGS | otlp.FLAG_IS_REMOTE
ROUTES: Final = {
    ("openai", Endpoint.CHAT): "/v1/chat/completions",
    ("openai", Endpoint.EMBEDDINGS): "/v1/embeddings",
    ("anthropic", Endpoint.CHAT): "/v1/messages",
    (RESPONSES_DIALECT, Endpoint.CHAT): "/v1/responses",
}
PROVIDERS: Final = {
    "openai": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "simulated": "wardgate.simulated",
}
"""Provider type → ``gen_ai.provider.name`` (the conventions' well-known values)."""
COMPATIBLE_HOSTS: Final = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
}
"""``openai_compatible`` providers named by their host; any other speaks OpenAI's API and is reported as such."""
_INT_PARAMS: Final = (
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("seed", "gen_ai.request.seed"),
    ("dimensions", "gen_ai.embeddings.dimension.count"),
)
_FLOAT_PARAMS: Final = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)
_PARAM_NAMES: Final = (
    *(name for name, _ in _INT_PARAMS),
    *(name for name, _ in _FLOAT_PARAMS),
    "stop",
    "n",
)
_REQUEST_ID = otlp.key("wardgate.request_id")
_COST = otlp.key("wardgate.cost_usd")
_RESPONSE_ID = otlp.key("gen_ai.response.id")
_TTFC = otlp.key("gen_ai.response.time_to_first_chunk")
_INPUT = otlp.key("gen_ai.usage.input_tokens")
_OUTPUT = otlp.key("gen_ai.usage.output_tokens")
_CACHE_READ = otlp.key("gen_ai.usage.cache_read.input_tokens")
_CACHE_WRITE = otlp.key("gen_ai.usage.cache_write.input_tokens")
_REASONING = otlp.key("gen_ai.usage.reasoning.output_tokens")
_REQUESTS: dict[tuple[Any, ...], bytes] = {}
_SHAPES: dict[tuple[Any, ...], tuple[Any, bytes]] = {}
_SERVER_SHAPES: dict[tuple[Any, ...], bytes] = {}
_PRINCIPALS: dict[int, tuple[Any, bytes]] = {}


def provider_name(kind: str, host: str | None) -> str:
    """``gen_ai.provider.name`` of a provider type (and, for OpenAI-compatible servers, its host)."""
    if kind == "openai_compatible":
        return COMPATIBLE_HOSTS.get(host or "", "openai")
    return PROVIDERS.get(kind, kind)


def deployment_attributes(client: Any, attempt: Attempt) -> dict[str, otlp.AttrValue]:
    """What every span of this deployment carries: provider (``gen_ai.system`` too, the older name), the model
    asked of it, the deployment, and the server's address and port."""
    base_url = getattr(client, "base_url", None)
    parts = urllib.parse.urlsplit(base_url) if isinstance(base_url, str) and base_url else None
    host = parts.hostname if parts is not None else None
    provider = provider_name(str(getattr(client, "type", "") or ""), host)
    attrs: dict[str, otlp.AttrValue] = {
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": attempt.deployment_model,
        "wardgate.provider": attempt.provider,
        "wardgate.deployment": attempt.deployment,
    }
    if parts is not None and host:
        attrs["server.address"] = host
        attrs["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    return attrs


def request_attributes(request: ProxyRequest) -> bytes:
    """The request's GenAI parameters (the same on every attempt), encoded once per set of values."""
    values = tuple(map(request.body.get, _PARAM_NAMES))
    # the types keep True, 1 and 1.0 apart; an enum member would hash in Python, a bool does not
    key = (request.endpoint is Endpoint.EMBEDDINGS, request.stream, values, tuple(map(type, values)))
    try:
        found = _REQUESTS.get(key)
    except TypeError:  # an unhashable value (e.g. a list of stop sequences): encoded each time
        return _request_attributes(request)
    if found is None:
        found = _request_attributes(request)
        if len(_REQUESTS) >= 4096:
            _REQUESTS.clear()
        _REQUESTS[key] = found
    return found


def _request_attributes(request: ProxyRequest) -> bytes:
    body = request.body
    embeddings = request.endpoint is Endpoint.EMBEDDINGS
    attrs: dict[str, otlp.AttrValue] = {"gen_ai.operation.name": "embeddings" if embeddings else "chat"}
    if request.stream:
        attrs["gen_ai.request.stream"] = True
    for name, key in _INT_PARAMS:
        value = body.get(name)
        if type(value) is int and key not in attrs:
            attrs[key] = value
    for name, key in _FLOAT_PARAMS:
        value = body.get(name)
        if type(value) is int or type(value) is float:
            attrs[key] = float(value)
    stop = body.get("stop")
    if isinstance(stop, str):
        attrs["gen_ai.request.stop_sequences"] = (stop,)
    elif isinstance(stop, list) and stop and all(isinstance(item, str) for item in stop):
        attrs["gen_ai.request.stop_sequences"] = tuple(stop)
    choices = body.get("n")
    if type(choices) is int and choices != 1:
        attrs["gen_ai.request.choice.count"] = choices
    return otlp.attributes(attrs)


def _reason(choice: Any) -> str:
    reason = choice.get("finish_reason") if type(choice) is dict else None
    return reason if type(reason) is str and reason else "error"


class Answer:
    """What is known of an attempt's answer: response model and id, finish reasons, and with content capture the
    answer itself (``output``, or the ``capture`` of a stream, read when the request ends)."""

    __slots__ = ("capture", "finish_reasons", "model", "output", "response_id")

    def __init__(
        self, model: str | None = None, response_id: str | None = None, reasons: tuple[str, ...] | None = None
    ) -> None:
        self.model = model
        self.response_id = response_id
        self.finish_reasons = reasons
        self.output: str | None = None
        self.capture: StreamCapture | None = None

    @classmethod
    def of(cls, parsed: dict[str, Any]) -> Answer:
        """From a parsed whole answer (OpenAI chat or embeddings, or a Responses API object)."""
        model, rid, choices = parsed.get("model"), parsed.get("id"), parsed.get("choices")
        reasons = None
        if type(choices) is list:
            reasons = (_reason(choices[0]),) if len(choices) == 1 else tuple([_reason(c) for c in choices])
        return cls(model if type(model) is str else None, rid if type(rid) is str else None, reasons)

    def settle(self, limit: int) -> None:
        """Take a captured stream's answer (once the stream is over)."""
        capture = self.capture
        if capture is not None:
            self.finish_reasons = tuple(capture.finish_reasons)
            self.output = capture.output(limit)
            self.model, self.response_id = capture.model, capture.response_id
            self.capture = None


def _attempt_shape(key: tuple[Any, ...], client: Any, attempt: Attempt, error: str | None) -> tuple[Any, bytes]:
    """What an attempt shares with every other attempt of the same shape (deployment, outcome, response model,
    finish reasons): its span name, attributes and status, encoded once."""
    attrs = deployment_attributes(client, attempt)
    if attempt.status is not None:
        attrs["http.response.status_code"] = attempt.status
    if error is not None:
        attrs["error.type"] = error
    if key[5] is not None:
        attrs["gen_ai.response.model"] = key[5]
    if key[6]:
        attrs["gen_ai.response.finish_reasons"] = key[6]
    if len(_SHAPES) >= 4096:
        _SHAPES.clear()
    status = otlp.STATUS_ERROR if error is not None else otlp.STATUS_UNSET
    tail = otlp.span_tail(f"{key[7]} {attempt.deployment_model}", otlp.KIND_CLIENT, otlp.attributes(attrs), status)
    found = _SHAPES[key] = (client, tail)
    return found


def attempt_span(
    end: RequestEnd,
    trace_id: bytes,
    parent: bytes,
    span: AttemptSpan,
    shared: bytes,
    offset: int,
    last: bool,
    limit: int,
) -> bytes:
    """An upstream attempt's CLIENT span. ``shared``: the request's attributes, encoded; usage goes to the
    ``last`` attempt when it got an answer (the one whose usage the request reports)."""
    attempt, client, answer = span.attempt, span.client, span.answer
    error = attempt.error
    if error is None and attempt.status is None:
        error = "cancelled"
    if answer is not None and answer.capture is not None:
        answer.settle(limit)
    operation = "embeddings" if end.request.endpoint is Endpoint.EMBEDDINGS else "chat"
    key = (
        id(client),
        attempt.deployment,
        attempt.deployment_model,
        attempt.status,
        error,
        answer.model if answer is not None else None,
        answer.finish_reasons if answer is not None else None,
        operation,
    )
    shape = _SHAPES.get(key)
    if shape is None or shape[0] is not client:
        shape = _attempt_shape(key, client, attempt, error)
    parts = [shared]
    if answer is not None:
        if answer.response_id is not None:
            parts.append(otlp.text(_RESPONSE_ID, answer.response_id))
        if answer.output is not None:
            parts.append(attr("gen_ai.output.messages", answer.output))
    if end.request.stream and attempt.first_byte is not None:
        parts.append(otlp.double(_TTFC, attempt.first_byte - attempt.started))
    if last and attempt.first_byte is not None and end.ctx.usage is not None:
        parts.append(_usage(end.ctx.usage))
    parts.append(shape[1])
    finished = attempt.finished if attempt.finished is not None else end.ended
    return otlp.span(
        trace_id,
        bytes.fromhex(span.span_id),
        parent,
        int(attempt.started * 1e9) + offset,
        int(finished * 1e9) + offset,
        parts,
    )


def _usage(usage: Any) -> bytes:
    integer = otlp.integer
    encoded = integer(_INPUT, usage.input_tokens) + integer(_OUTPUT, usage.output_tokens)
    cached_input, cache_write, reasoning = usage.cached_input_tokens, usage.cache_write_tokens, usage.reasoning_tokens
    if cached_input:
        encoded += integer(_CACHE_READ, cached_input)
    if cache_write:
        encoded += integer(_CACHE_WRITE, cache_write)
    if reasoning:
        encoded += integer(_REASONING, reasoning)
    return encoded


def _server_shape(key: tuple[Any, ...]) -> bytes:
    """What a server span shares with others of its shape: name, attributes of low cardinality (route, status,
    error, model, deployment …), status and flags, encoded once."""
    dialect, embeddings, status, error, attempts, model, deployment, cache_hit, remote = key
    route = ROUTES.get((dialect, Endpoint.EMBEDDINGS if embeddings else Endpoint.CHAT), "/v1/chat/completions")
    attrs: dict[str, otlp.AttrValue] = {
        "http.request.method": "POST",
        "http.route": route,
        "http.response.status_code": status,
        "wardgate.dialect": dialect,
        "wardgate.attempts": attempts,
    }
    if model:
        attrs["wardgate.model"] = model
    if deployment is not None:
        attrs["wardgate.deployment"] = deployment
    if cache_hit:
        attrs["wardgate.cache_hit"] = True
    if error is not None or status >= 500:
        attrs["error.type"] = error or str(status)
    failed = status >= 500 or (error is not None and status < 400 and error != "client_disconnected")
    if len(_SERVER_SHAPES) >= 4096:
        _SERVER_SHAPES.clear()
    status_code = otlp.STATUS_ERROR if failed else otlp.STATUS_UNSET
    flags = REMOTE_FLAGS if remote else SERVER_FLAGS
    tail = _SERVER_SHAPES[key] = otlp.span_tail(
        f"POST {route}", otlp.KIND_SERVER, otlp.attributes(attrs), status_code, flags
    )
    return tail


def _principal(principal: Any) -> bytes:
    """Who called: key id (never a key), team, user, project — encoded once per principal."""
    found = _PRINCIPALS.get(id(principal))
    if found is None or found[0] is not principal:
        attrs: dict[str, otlp.AttrValue] = {"wardgate.key_id": principal.key_id}
        for name, value in (
            ("wardgate.team_id", principal.team_id),
            ("wardgate.user_id", principal.user_id),
            ("wardgate.project_id", principal.project_id),
        ):
            if value:
                attrs[name] = value
        if len(_PRINCIPALS) >= 4096:
            _PRINCIPALS.clear()
        found = _PRINCIPALS[id(principal)] = (principal, otlp.attributes(attrs))
    return found[1]


def server_span(end: RequestEnd, trace: RequestTrace, trace_id: bytes, span_id: bytes, offset: int) -> bytes:
    """The gateway's SERVER span: HTTP attributes, who called (ids, never a key), what it cost, how it ended."""
    ctx, request = end.ctx, end.request
    attempts = ctx.attempts
    key = (
        ctx.dialect,
        request.endpoint is Endpoint.EMBEDDINGS,
        end.status,
        end.error,
        len(attempts),
        request.model,
        attempts[-1].deployment if attempts else None,
        ctx.cache_hit,
        trace.parent_id is not None,
    )
    parts = [otlp.text(_REQUEST_ID, ctx.request_id)]
    if ctx.principal is not None:
        parts.append(_principal(ctx.principal))
    if ctx.client:
        parts.append(cached("client.address", ctx.client))
    if ctx.cost_usd is not None:
        parts.append(otlp.double(_COST, float(ctx.cost_usd)))
    if ctx.flags:
        parts.append(cached("wardgate.flags", tuple(sorted(ctx.flags))))
    parts.append(_SERVER_SHAPES.get(key) or _server_shape(key))
    parent_id = bytes.fromhex(trace.parent_id) if trace.parent_id else None
    return otlp.span(
        trace_id,
        span_id,
        otlp.parent_fields(trace.trace_state, parent_id),
        int(ctx.started * 1e9) + offset,
        int(end.ended * 1e9) + offset,
        parts,
    )
