"""Exact input-token counts from Bedrock Runtime's ``CountTokens``: ``POST /model/{modelId}/count-tokens`` with
``{"input": {"converse": {messages, system, toolConfig, additionalModelRequestFields}}}``, answered
``{"inputTokens": N}`` (botocore ``bedrock-runtime`` ``service-2.json``; the members of ``ConverseTokensRequest``).

The request is counted as the Converse request the adapter would send for it. ``CountTokens`` takes foundation
model ids only: a system inference profile (``us.anthropic.claude-…``) is counted with its foundation model
(``anthropic.claude-…``), which tokenizes the same. Models without token counting (Amazon Nova, CRIS-only Claude
models: https://docs.aws.amazon.com/bedrock/latest/userguide/count-tokens.html) and credentials without the
``bedrock:CountTokens`` permission are *declined* rather than failed: the caller then falls back to its estimate,
and the real call still reports its own errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import GatewayError, UpstreamRejectedError, UpstreamStatusError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.bedrock.adapter import BedrockAdapter, model_path
from wardgate.providers.translate import TranslationContext

CONVERSE_COUNT_FIELDS = ("messages", "system", "toolConfig", "additionalModelRequestFields")
# Geography prefixes of system-defined cross-region inference profiles (``{geo}.{provider}.{model}``).
PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})
_JSON = "application/json"


def count_model_id(model_id: str) -> str:
    """The foundation model id to count with: a system inference profile's prefix dropped, anything else as is."""
    geo, _, rest = model_id.partition(".")
    return rest if geo in PROFILE_PREFIXES and "." in rest else model_id


def count_body(converse: Mapping[str, Any]) -> dict[str, Any]:
    """The CountTokens body for a Converse body (inference settings, guardrails and metadata do not count)."""
    return {"input": {"converse": {key: converse[key] for key in CONVERSE_COUNT_FIELDS if key in converse}}}


def input_tokens(answer: bytes) -> int:
    value = orjson.loads(answer)["inputTokens"]
    if type(value) is not int or value < 0:
        raise ValueError("inputTokens is not a count")
    return value


class BedrockCounter:
    """Builds CountTokens calls (the client signs them with SigV4 like every other call)."""

    def __init__(self, adapter: BedrockAdapter) -> None:
        self._adapter = adapter

    def translated_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        converse: dict[str, Any] = orjson.loads(self._adapter.chat_call(body, ctx).body)
        return UpstreamCall(
            path=model_path(count_model_id(ctx.upstream_model), "count-tokens"),
            body=orjson.dumps(count_body(converse)),
            stream=False,
            headers={"Content-Type": _JSON, "Accept": _JSON},
        )

    def tokens(self, answer: bytes) -> int:
        return input_tokens(answer)

    def declines(self, error: GatewayError) -> bool:
        """A model that cannot count tokens, or credentials not allowed to ask: no count rather than an error."""
        if isinstance(error, UpstreamRejectedError):
            message = error.message.lower()
            return "count" in message and "token" in message
        return isinstance(error, UpstreamStatusError) and error.code == "upstream_auth_failed"
