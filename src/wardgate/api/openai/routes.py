"""The OpenAI-compatible proxy routes as plain ASGI callables (the hot path: no framework request objects), and
the OpenAI dialect's rendering (JSON, SSE with ``[DONE]``, OpenAI-shaped errors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from wardgate.api.openai.parse import parse_chat, parse_embeddings
from wardgate.api.proxy import RequestIds, Scope, request_headers, run_proxy
from wardgate.api.render import Headers, Receive, Send, send_error, send_json, send_stream
from wardgate.core.errors import GatewayError, ModelNotFoundError
from wardgate.core.types import Endpoint, Parser, ProxyRequest, ProxyResponse
from wardgate.runtime import AppState


class OpenAIDialect:
    name = "openai"

    async def respond(self, send: Send, request: ProxyRequest, response: ProxyResponse, headers: Headers) -> None:
        if response.stream is not None:
            await send_stream(send, response.stream, headers)
        else:
            await send_json(send, response.status, response.body or b"", headers)

    async def error(self, send: Send, error: GatewayError, headers: Headers) -> None:
        await send_error(send, error, headers)


OPENAI = OpenAIDialect()


class OpenAIRoutes:
    def __init__(self, state: Callable[[], AppState], request_id: RequestIds) -> None:
        self._state = state
        self._request_id = request_id

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._proxy(scope, receive, send, Endpoint.CHAT, parse_chat)

    async def embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._proxy(scope, receive, send, Endpoint.EMBEDDINGS, parse_embeddings)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint, parser: Parser) -> None:
        await run_proxy(self._state(), self._request_id, scope, receive, send, endpoint, parser, OPENAI)

    async def models(self, scope: Scope, receive: Receive, send: Send, model_id: str | None) -> None:
        headers = request_headers(scope)
        out: Headers = [(b"x-request-id", self._request_id(headers).encode())]
        state = self._state()
        snapshot = state.snapshot
        try:
            principal = await state.authenticate(headers)
            routes = snapshot.routes
            allowed = routes.canonical_names(principal.allowed_models) if principal.allowed_models is not None else None
            if model_id is None:
                data = [
                    _model_entry(route.name, route.config.owned_by, snapshot.created)
                    for route in routes
                    if allowed is None or route.name in allowed
                ]
                body = {"object": "list", "data": data}
            else:
                route = routes.resolve(model_id)
                if allowed is not None and route.name not in allowed:  # as unknown: the list does not show it either
                    raise ModelNotFoundError(
                        f"The model `{model_id}` does not exist or you do not have access to it.", param="model"
                    )
                body = _model_entry(route.name, route.config.owned_by, snapshot.created)
        except GatewayError as exc:
            await send_error(send, exc, out)
            return
        await send_json(send, 200, orjson.dumps(body), out)


def _model_entry(name: str, owned_by: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owned_by}
