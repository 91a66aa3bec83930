"""Parse an Anthropic Messages request: check what routing needs, keep the native body for passthrough, and
translate it to the canonical OpenAI form for every other provider (or record why it cannot be)."""

from __future__ import annotations

from collections.abc import Mapping

from wardgate.api.anthropic.translate import anthropic_to_openai_request
from wardgate.api.openai.parse import load_object
from wardgate.core.errors import InvalidRequestError
from wardgate.core.types import NativeBody, ParsedBody

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def parse_messages(raw: bytes, headers: Mapping[str, str]) -> ParsedBody:
    body = load_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model: Field required", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequestError("messages: Field required", param="messages")
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        raise InvalidRequestError("max_tokens: Field required (a positive integer)", param="max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("stream: Input should be a valid boolean", param="stream")
    native = NativeBody("anthropic", body, raw, {k: headers[k] for k in FORWARDED_HEADERS if k in headers})
    try:
        canonical = anthropic_to_openai_request(body)
    except InvalidRequestError as exc:  # only an Anthropic deployment can serve this one
        return ParsedBody({}, model, stream, native, exc)
    return ParsedBody(canonical, model, stream, native)
