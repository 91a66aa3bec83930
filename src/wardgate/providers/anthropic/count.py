"""Exact input-token counts from Anthropic: ``POST /v1/messages/count_tokens``
(https://docs.anthropic.com/en/api/messages-count-tokens), answered ``{"input_tokens": N}``.

An Anthropic request passes through as the client sent it, minus what the endpoint refuses: it takes only the
fields below (``max_tokens``, ``stream``, sampling parameters, ``metadata``, ``stop_sequences``, ``service_tier``,
``container``… are Messages-only and would be rejected). The client's ``anthropic-version`` / ``anthropic-beta``
are forwarded as for the Messages passthrough. A request in another dialect is counted through its translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from wardgate.core.errors import GatewayError
from wardgate.core.types import NativeBody
from wardgate.providers.anthropic.adapter import MESSAGES_PATH, AnthropicAdapter
from wardgate.providers.base import UpstreamCall
from wardgate.providers.translate import TranslationContext

COUNT_TOKENS_PATH = MESSAGES_PATH + "/count_tokens"

# The body fields of count_tokens (anthropic SDK ``MessageCountTokensParams`` and its beta form; ``output_format``
# is the structured-outputs beta's older spelling of ``output_config.format``).
COUNT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "output_config",
        "output_format",
        "speed",
        "mcp_servers",
        "context_management",
        "compaction",
        "billing_policy",
    }
)


def count_body(body: Mapping[str, Any], upstream_model: str) -> dict[str, Any]:
    """The count_tokens body for a Messages body: its countable fields, ``model`` set to the upstream's."""
    out = {key: value for key, value in body.items() if key in COUNT_FIELDS}
    out["model"] = upstream_model
    return out


def input_tokens(answer: bytes) -> int:
    """``input_tokens`` of a count_tokens answer (raises ``ValueError``/``KeyError`` when there is none)."""
    value = orjson.loads(answer)["input_tokens"]
    if type(value) is not int or value < 0:
        raise ValueError("input_tokens is not a count")
    return value


class AnthropicCounter:
    """Builds count_tokens calls with the adapter's headers (the client still signs them)."""

    native_dialect: ClassVar[str] = "anthropic"

    def __init__(self, adapter: AnthropicAdapter) -> None:
        self._adapter = adapter

    def native_call(self, native: NativeBody, upstream_model: str) -> UpstreamCall:
        """The client's own Messages body (byte for byte when nothing needs dropping or renaming)."""
        headers = self._adapter.native_call(b"", native.headers, False).headers
        if native.body.get("model") == upstream_model and COUNT_FIELDS.issuperset(native.body):
            body = native.raw
        else:
            body = orjson.dumps(count_body(native.body, upstream_model))
        return UpstreamCall(path=COUNT_TOKENS_PATH, body=body, stream=False, headers=headers)

    def translated_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        """An OpenAI-format body, counted as the Messages request the adapter would send for it."""
        call = self._adapter.chat_call(body, ctx)
        payload = count_body(orjson.loads(call.body), ctx.upstream_model)
        return UpstreamCall(path=COUNT_TOKENS_PATH, body=orjson.dumps(payload), stream=False, headers=call.headers)

    def tokens(self, answer: bytes) -> int:
        return input_tokens(answer)

    def declines(self, error: GatewayError) -> bool:
        """Every Anthropic model counts tokens: an error is the answer."""
        return False
