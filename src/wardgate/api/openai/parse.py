"""Parse and check OpenAI request bodies: enough to route and to give clear 400s (with ``param``) for malformed
input; every other field is preserved untouched for the upstream, which validates the rest."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.errors import InvalidRequestError
from wardgate.core.types import ParsedBody

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def load_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON ({exc.msg} at position {exc.pos}).") from None
    if type(body) is not dict:
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("`model` is required and must be a non-empty string.", param="model")
    return model


def parse_chat(raw: bytes) -> ParsedBody:
    body = load_object(raw)
    model = _model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` is required and must be a non-empty array.", param="messages")
    for index, message in enumerate(messages):
        if type(message) is not dict:
            raise InvalidRequestError("Each message must be an object.", param=f"messages[{index}]")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequestError(
                f"`role` must be one of {', '.join(sorted(ROLES))}.", param=f"messages[{index}].role"
            )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequestError("`stream` must be a boolean.", param="stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise InvalidRequestError("`stream_options` is only allowed when `stream` is true.", param="stream_options")
        if type(options) is not dict:
            raise InvalidRequestError("`stream_options` must be an object.", param="stream_options")
    _check_optional(body)
    return ParsedBody(body, model, stream)


def _check_optional(body: dict[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (type(value) is not int or value < 1):
            raise InvalidRequestError(f"`{name}` must be a positive integer.", param=name)
    for name in ("tools",):
        value = body.get(name)
        if value is not None and not isinstance(value, list):
            raise InvalidRequestError(f"`{name}` must be an array.", param=name)


def parse_embeddings(raw: bytes) -> ParsedBody:
    body = load_object(raw)
    model = _model(body)
    value = body.get("input")
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError("`input` must not be empty.", param="input")
    elif not isinstance(value, list) or not value:
        raise InvalidRequestError("`input` is required: a string or a non-empty array.", param="input")
    if body.get("stream"):
        raise InvalidRequestError("Embeddings cannot be streamed.", param="stream")
    return ParsedBody(body, model, False)
