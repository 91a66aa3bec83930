"""``/v1/responses`` as plain ASGI callables: create (the proxy path, through every pipeline stage), and retrieve,
list input items and delete, served from the gateway's response store to the key that created the response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from wardgate.api.proxy import RequestIds, Scope, request_headers, run_proxy
from wardgate.api.render import Headers, Receive, Send, send_error, send_json
from wardgate.api.responses.exchange import ResponsesExchange, store_owner
from wardgate.core.errors import GatewayError, InvalidRequestError, NotFoundError
from wardgate.core.types import Endpoint
from wardgate.runtime import AppState
from wardgate.storage.responses import StoredResponse

MAX_LIMIT = 100


class ResponsesRoutes:
    def __init__(self, state: Callable[[], AppState], request_id: RequestIds) -> None:
        self._state = state
        self._request_id = request_id

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._state()
        exchange = ResponsesExchange(state.responses)
        await run_proxy(state, self._request_id, scope, receive, send, Endpoint.CHAT, exchange.parse, exchange)

    async def stored(self, scope: Scope, receive: Receive, send: Send, tail: str) -> None:
        """``GET /v1/responses/{id}``, ``GET /v1/responses/{id}/input_items`` and ``DELETE /v1/responses/{id}``."""
        headers = request_headers(scope)
        out: Headers = [(b"x-request-id", self._request_id(headers).encode())]
        state = self._state()
        method: str = scope["method"]
        response_id, _, sub = tail.partition("/")
        try:
            owner = store_owner(await state.authenticate(headers))
            if sub not in ("", "input_items") or (sub and method != "GET") or method not in ("GET", "DELETE"):
                raise GatewayError(f"Method {method} is not allowed here.", status=405, code="method_not_allowed")
            store = state.responses
            if method == "DELETE":
                if store is None or not await store.delete(response_id, owner):
                    raise _not_found(response_id)
                body: dict[str, Any] = {"id": response_id, "object": "response.deleted", "deleted": True}
            else:
                record = await store.get(response_id, owner) if store is not None else None
                if record is None:
                    raise _not_found(response_id)
                body = (
                    _input_items(record, parse_qs(scope.get("query_string", b"").decode())) if sub else record.response
                )
        except GatewayError as exc:
            await send_error(send, exc, out)
            return
        await send_json(send, 200, orjson.dumps(body), out)


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param="response_id", code=None)


def _input_items(record: StoredResponse, query: dict[str, list[str]]) -> dict[str, Any]:
    """OpenAI's cursor list: ``order`` desc (default) or asc, ``limit`` 1 to 100 (default 20), ``after`` an item id."""
    order = query.get("order", ["desc"])[-1]
    if order not in ("asc", "desc"):
        raise InvalidRequestError("Invalid value for 'order': expected 'asc' or 'desc'.", param="order")
    raw_limit = query.get("limit", ["20"])[-1]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise InvalidRequestError(
            f"Invalid value for 'limit': expected an integer from 1 to {MAX_LIMIT}.", param="limit"
        )
    items = list(record.input_items) if order == "asc" else list(reversed(record.input_items))
    after = query.get("after", [None])[-1]
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequestError(f"No input item with id '{after}'.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[: int(raw_limit)]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > len(page),
    }
