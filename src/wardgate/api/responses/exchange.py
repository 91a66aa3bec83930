"""One ``POST /v1/responses`` exchange: parse (after authentication), resolve ``previous_response_id`` from the
gateway's store, and render the answer in the Responses dialect.

OpenAI and Azure deployments get the request as the client sent it (with the stored conversation spliced into
``input`` when it continues a response the gateway stored); every other provider gets its chat translation and
the answer is translated back into a Response object or the Responses event stream. Either way the gateway stores
the final Response (unless the request said ``store: false``) so the conversation can continue on any provider.

An unknown ``previous_response_id`` is forwarded as it is to OpenAI-style deployments (a response created there
before the app moved behind the gateway is still found); other providers answer ``previous_response_not_found``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from wardgate.api.openai.parse import load_object
from wardgate.api.render import Headers, Send, send_error, send_json, send_sse
from wardgate.api.responses.translate import (
    ChatChunksToResponseEvents,
    chat_to_response,
    error_event,
    input_items,
    responses_to_chat_request,
    sse_frame,
)
from wardgate.api.responses.translate.common import THINKING_PREFIX
from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.core.streams import close_quietly
from wardgate.core.types import (
    RESPONSES_DIALECT,
    NativeBody,
    ParsedBody,
    Principal,
    ProxyRequest,
    ProxyResponse,
    RequestContext,
    StreamSource,
)
from wardgate.storage.responses import ResponseStore

_TERMINAL = (b"event: response.completed\n", b"event: response.incomplete\n")
_STORED_STATUSES = ("completed", "incomplete")


def store_owner(principal: Principal | None) -> str:
    """Who may read a stored response back: the calling key (a team or project scope once keys have them)."""
    return principal.key_id if principal is not None else "anonymous"


def new_response_id() -> str:
    return "resp_" + os.urandom(25).hex()


class ResponsesExchange:
    """The Responses dialect for one request: its parser, its resolver and its renderer."""

    name = RESPONSES_DIALECT

    def __init__(self, store: ResponseStore | None) -> None:
        self._store = store
        self._body: dict[str, Any] = {}
        self._raw = b""
        self._items: list[dict[str, Any]] = []
        self._owner = "anonymous"
        self._previous: str | None = None

    # ------------------------------------------------------------------------------------------------- parsing

    def parse(self, raw: bytes) -> ParsedBody:
        body = load_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(
                "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
            )
        if "input" not in body:
            raise InvalidRequestError(
                "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequestError("Invalid type for 'stream': expected a boolean.", param="stream")
        if body.get("background"):
            raise InvalidRequestError("Background responses are not supported by this gateway.", param="background")
        previous = body.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous):
            raise InvalidRequestError(
                "Invalid type for 'previous_response_id': expected a string.", param="previous_response_id"
            )
        if previous and body.get("conversation") is not None:
            raise InvalidRequestError(
                "'previous_response_id' and 'conversation' cannot be used together.", param="previous_response_id"
            )
        self._body, self._raw, self._previous = body, raw, previous
        self._items = input_items(body["input"])
        return ParsedBody({}, model, stream, resolve=self._resolve)

    async def _resolve(self, ctx: RequestContext) -> ParsedBody:
        self._owner = store_owner(ctx.principal)
        body, model, stream = self._body, str(self._body["model"]), bool(self._body.get("stream", False))
        history: list[dict[str, Any]] | None = []
        if self._previous:
            history = await self._store.conversation(self._previous, self._owner) if self._store else None
        if history is None:
            missing = InvalidRequestError(
                f"Previous response with id '{self._previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
            return ParsedBody({}, model, stream, NativeBody(RESPONSES_DIALECT, body, self._raw), missing)
        if self._previous:
            body = {k: v for k, v in body.items() if k != "previous_response_id"}
            body["input"] = _portable(history + self._items)
            native = NativeBody(RESPONSES_DIALECT, body, orjson.dumps(body))
        else:
            native = NativeBody(RESPONSES_DIALECT, body, self._raw)
        try:
            canonical = responses_to_chat_request({**body, "input": history + self._items})
        except InvalidRequestError as exc:  # only an OpenAI-style deployment can serve this one
            return ParsedBody({}, model, stream, native, exc)
        return ParsedBody(canonical, model, stream, native)

    # ----------------------------------------------------------------------------------------------- rendering

    async def respond(self, send: Send, request: ProxyRequest, response: ProxyResponse, headers: Headers) -> None:
        native = response.dialect == RESPONSES_DIALECT
        if response.stream is not None:
            if native:
                await send_sse(send, self._tap_native(response.stream), headers, frame=_as_is, error_frame=self._failed)
            else:
                events = self._translate_stream(response.stream, request.model)
                await send_sse(send, events, headers, frame=_as_is, error_frame=self._failed)
            return
        if native:
            result = orjson.loads(response.body or b"{}")
            if self._previous and isinstance(result, dict):
                result["previous_response_id"] = self._previous
                body = orjson.dumps(result)
            else:
                body = response.body or b""
        else:
            completion = orjson.loads(response.body or b"{}")
            result = chat_to_response(
                completion, self._body, response_id=new_response_id(), created_at=int(time.time()), model=request.model
            )
            body = orjson.dumps(result)
        if isinstance(result, dict):
            self._save(result, native)
        await send_json(send, response.status, body, headers)

    async def error(self, send: Send, error: GatewayError, headers: Headers) -> None:
        await send_error(send, error, headers)

    def _failed(self, error: GatewayError) -> bytes:
        """A broken stream ends with an ``error`` event whose top-level ``error`` makes the openai SDK raise."""
        return sse_frame("error", error_event(error, self._sequence))

    _sequence = 0

    async def _tap_native(self, stream: StreamSource) -> AsyncIterator[bytes]:
        """Relay the upstream's frames as they are; keep the final Response for the store."""
        try:
            async for frame in stream:
                self._sequence += 1
                if frame.startswith(_TERMINAL):
                    self._save_frame(frame)
                yield frame
        finally:
            await close_quietly(stream)

    def _save_frame(self, frame: bytes) -> None:
        _, _, data = frame.partition(b"\ndata: ")
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        result = event.get("response") if isinstance(event, dict) else None
        if isinstance(result, dict):
            if self._previous:
                result["previous_response_id"] = self._previous
            self._save(result, native=True)

    async def _translate_stream(self, stream: StreamSource, model: str) -> AsyncIterator[bytes]:
        translator = ChatChunksToResponseEvents(
            self._body, response_id=new_response_id(), created_at=int(time.time()), model=model
        )
        try:
            for event in translator.start():
                self._sequence = event["sequence_number"] + 1
                yield sse_frame(event["type"], event)
            async for payload in stream:
                for event in translator.feed(orjson.loads(payload)):
                    self._sequence = event["sequence_number"] + 1
                    yield sse_frame(event["type"], event)
            for event in translator.finish():
                self._sequence = event["sequence_number"] + 1
                yield sse_frame(event["type"], event)
            self._save(translator.response, native=False)
        finally:
            await close_quietly(stream)

    def _save(self, result: dict[str, Any], native: bool) -> None:
        if self._store is None or self._body.get("store") is False or "id" not in result:
            return
        if result.get("status") not in _STORED_STATUSES:
            return
        output = result.get("output")
        items = [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []
        if not native:  # only signed thinking is worth carrying; plain reasoning text is not sent back
            items = [item for item in items if item.get("type") != "reasoning" or _signed_thinking(item)]
        self._store.put(self._owner, result, self._items, self._previous, items)


def _missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _as_is(frame: bytes) -> bytes:
    return frame


def _signed_thinking(item: dict[str, Any]) -> bool:
    content = item.get("encrypted_content")
    return isinstance(content, str) and content.startswith(THINKING_PREFIX)


def _portable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored items as input for an OpenAI-style deployment: ids the gateway or another provider made mean nothing
    there, and neither does another provider's signed thinking (OpenAI's own reasoning items keep their ids)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item.get("type") == "reasoning":
            if not _signed_thinking(item):
                out.append(item)
        elif "id" in item:
            out.append({k: v for k, v in item.items() if k != "id"})
        else:
            out.append(item)
    return out
