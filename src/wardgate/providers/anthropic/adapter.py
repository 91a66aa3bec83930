"""``AnthropicAdapter``: the ``ChatAdapter`` for Anthropic's Messages API (https://docs.anthropic.com/en/api/messages).

``POST /v1/messages`` relative to the configured base URL (``https://api.anthropic.com``), with the
``anthropic-version`` header (https://docs.anthropic.com/en/api/versioning). The key (``x-api-key``) is applied
by the client afterwards, never here. Anthropic fetches http(s) image URLs itself, so no image bytes are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import orjson

from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.providers.anthropic.errors import map_anthropic_error
from wardgate.providers.anthropic.passthrough import NativeEventRelay, native_call, native_headers
from wardgate.providers.anthropic.request import ANTHROPIC_VERSION, openai_to_anthropic
from wardgate.providers.anthropic.response import anthropic_to_openai
from wardgate.providers.anthropic.stream import AnthropicStreamTranslator
from wardgate.providers.base import UpstreamCall
from wardgate.providers.translate import TranslationContext

__all__ = ["ANTHROPIC_VERSION", "MESSAGES_PATH", "AnthropicAdapter"]

MESSAGES_PATH = "/v1/messages"


class AnthropicAdapter:
    """Pure OpenAI ⇄ Anthropic translation.

    ``version``: the ``anthropic-version`` header (2023-06-01 by default; with 2026-10-21 or later the sampling
    parameters are unsupported). ``betas``: values for the ``anthropic-beta`` header, if any.
    """

    needs_image_bytes: ClassVar[bool] = False
    native_dialect: ClassVar[str] = "anthropic"

    def __init__(self, *, version: str = ANTHROPIC_VERSION, betas: Sequence[str] = ()) -> None:
        self._version = version
        self._headers = {"anthropic-version": version, "content-type": "application/json"}
        if betas:
            self._headers["anthropic-beta"] = ",".join(betas)

    def chat_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        payload = openai_to_anthropic(body, ctx, api_version=self._version)
        return UpstreamCall(
            path=MESSAGES_PATH, body=orjson.dumps(payload), stream=ctx.stream, headers=dict(self._headers)
        )

    def native_call(self, body: bytes, client_headers: Mapping[str, str], stream: bool) -> UpstreamCall:
        """A Messages API request from an Anthropic-speaking client, forwarded as it came (model already set)."""
        return native_call(MESSAGES_PATH, body, native_headers(self._headers, client_headers), stream)

    def native_stream(self) -> NativeEventRelay:
        return NativeEventRelay()

    def chat_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]:
        return anthropic_to_openai(body, ctx)

    def chat_stream(self, ctx: TranslationContext) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(ctx)

    def embeddings_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        _no_embeddings()

    def embeddings_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]:
        _no_embeddings()

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_anthropic_error(status, body, headers)


def _no_embeddings() -> NoReturn:
    # Anthropic offers no embeddings endpoint (https://docs.anthropic.com/en/docs/build-with-claude/embeddings).
    raise InvalidRequestError(
        "this model's provider (Anthropic) has no embeddings endpoint", param="model", code="unsupported_endpoint"
    )
