"""``/v1/messages`` and ``/v1/messages/count_tokens`` as plain ASGI callables, and the Anthropic dialect's
rendering: native answers are relayed as they came; canonical (OpenAI) answers are translated to Anthropic's
message and exact event sequence; errors take Anthropic's shape and the statuses the ``anthropic`` SDK maps."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from wardgate.api.anthropic.parse import parse_messages
from wardgate.api.anthropic.translate import (
    OpenAIChunksToAnthropicEvents,
    anthropic_error_body,
    error_event,
    estimate_tokens,
    openai_to_anthropic_response,
    sse_frame,
)
from wardgate.api.openai.parse import load_object
from wardgate.api.proxy import RequestIds, Scope, read_body, request_headers, run_proxy
from wardgate.api.render import Headers, Receive, Send, send_json, send_sse
from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.core.streams import close_quietly
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, StreamSource
from wardgate.routing.table import Deployment
from wardgate.runtime import AppState
from wardgate.stages.authorize import check_model_allowed


class AnthropicDialect:
    name = "anthropic"

    async def respond(self, send: Send, request: ProxyRequest, response: ProxyResponse, headers: Headers) -> None:
        native = response.dialect == "anthropic"
        if response.stream is not None:
            stream = response.stream if native else _translated_events(response.stream, request.model)
            await send_sse(send, stream, headers, frame=_as_is, error_frame=_error_frame)
            return
        body = response.body or b""
        if not native:
            body = orjson.dumps(openai_to_anthropic_response(orjson.loads(body), model=request.model))
        await send_json(send, response.status, body, headers)

    async def error(self, send: Send, error: GatewayError, headers: Headers) -> None:
        extra = [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
        await send_json(send, error.http_status, orjson.dumps(anthropic_error_body(error)), [*headers, *extra])


ANTHROPIC = AnthropicDialect()


def _as_is(frame: bytes) -> bytes:
    return frame


def _error_frame(error: GatewayError) -> bytes:
    name, data = error_event(error)
    return sse_frame(name, data)


async def _translated_events(stream: StreamSource, model: str) -> AsyncIterator[bytes]:
    """OpenAI chunk payloads in, Anthropic SSE frames out (message_start … message_stop)."""
    translator = OpenAIChunksToAnthropicEvents(model=model)
    try:
        async for payload in stream:
            for name, data in translator.feed(orjson.loads(payload)):
                yield sse_frame(name, data)
        for name, data in translator.finish():
            yield sse_frame(name, data)
    finally:
        await close_quietly(stream)


class AnthropicRoutes:
    def __init__(self, state: Callable[[], AppState], request_id: RequestIds) -> None:
        self._state = state
        self._request_id = request_id

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        parser = functools.partial(parse_messages, headers=request_headers(scope))
        await run_proxy(self._state(), self._request_id, scope, receive, send, Endpoint.CHAT, parser, ANTHROPIC)

    async def count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The exact count from the model's first deployment when its provider offers one (Anthropic, Gemini,
        Bedrock), else a local estimate (about 4 characters a token, 1,600 an image) — also while that provider is
        unavailable."""
        headers = request_headers(scope)
        out: Headers = [(b"x-request-id", self._request_id(headers).encode())]
        state = self._state()
        try:
            principal = await state.authenticate(headers)
            raw = await read_body(receive, headers, state.snapshot.config.server.max_body_bytes)
            body = load_object(raw)
            model = body.get("model")
            if not isinstance(model, str) or not model:
                raise InvalidRequestError("model: Field required", param="model")
            if not isinstance(body.get("messages"), list):
                raise InvalidRequestError("messages: Field required", param="messages")
            check_model_allowed(principal, state.snapshot.routes, model)
            route = state.snapshot.routes.resolve(model)
            count = await _upstream_count(route.deployments, body, raw, headers)
            result: dict[str, Any] = {"input_tokens": estimate_tokens(body) if count is None else count}
        except GatewayError as exc:
            await ANTHROPIC.error(send, exc, out)
            return
        await send_json(send, 200, orjson.dumps(result), out)


async def _upstream_count(
    deployments: tuple[Deployment, ...], body: dict[str, Any], raw: bytes, headers: dict[str, str]
) -> int | None:
    """Ask the first deployment's provider, when it has a count API; None means: estimate locally."""
    if not deployments:
        return None
    deployment = deployments[0]
    count = getattr(deployment.client, "count_tokens", None)
    if count is None:
        return None
    parsed = parse_messages(raw if "max_tokens" in body else orjson.dumps({**body, "max_tokens": 1}), headers)
    request = ProxyRequest(Endpoint.CHAT, raw)
    request.body, request.model, request.native = parsed.body, parsed.model, parsed.native
    request.untranslatable = parsed.untranslatable
    try:
        result: int | None = await count(request, deployment.target)
    except GatewayError as exc:
        if not exc.retryable:
            raise
        return None  # the provider is unavailable right now: an estimate beats a failure
    return result
