"""Exact input-token counts from Gemini: ``models/{model}:countTokens``, answered ``{"totalTokens": N}``.

The request is counted as the ``generateContent`` request the adapter would send for it (same path prefix, same
translation), so system instruction, tools and images count as they would in the real call:

* Gemini API (https://ai.google.dev/api/tokens#method:-models.counttokens): the whole request goes under
  ``generateContentRequest`` with its ``model`` (``models/{model}``) — plain ``contents`` would leave the system
  instruction and tools uncounted.
* Vertex AI (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/count-tokens): the
  ``CountTokensRequest`` takes ``contents``, ``systemInstruction``, ``tools`` and ``generationConfig`` at the top
  level (no safety settings, tool config or labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import GatewayError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.gemini.adapter import GeminiAdapter
from wardgate.providers.translate import TranslationContext

VERTEX_COUNT_FIELDS = ("contents", "systemInstruction", "tools", "generationConfig")


def count_path(generate_path: str) -> str:
    """``…/models/{model}:generateContent`` → ``…/models/{model}:countTokens``."""
    return generate_path.rpartition(":")[0] + ":countTokens"


def total_tokens(answer: bytes) -> int:
    """``totalTokens`` of a countTokens answer (proto3 JSON leaves a zero out)."""
    parsed = orjson.loads(answer)
    if not isinstance(parsed, dict):
        raise ValueError("countTokens answered something else than an object")
    value = parsed.get("totalTokens", 0)
    if type(value) is not int or value < 0:
        raise ValueError("totalTokens is not a count")
    return value


class GeminiCounter:
    """Builds countTokens calls for the Gemini API or Vertex AI, whichever the adapter serves."""

    def __init__(self, adapter: GeminiAdapter) -> None:
        self._adapter = adapter

    def translated_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        call = self._adapter.chat_call(body, ctx)
        request: dict[str, Any] = orjson.loads(call.body)
        if self._adapter.flavor == "vertex":
            payload: dict[str, Any] = {key: request[key] for key in VERTEX_COUNT_FIELDS if key in request}
        else:
            model = ctx.upstream_model.removeprefix("models/")
            payload = {"generateContentRequest": {"model": f"models/{model}", **request}}
        return UpstreamCall(path=count_path(call.path), body=orjson.dumps(payload), stream=False, headers=call.headers)

    def tokens(self, answer: bytes) -> int:
        return total_tokens(answer)

    def declines(self, error: GatewayError) -> bool:
        """countTokens serves every Gemini model the gateway can call: an error is the answer."""
        return False
