"""Builders for OpenAI response shapes, shared by every cross-dialect translator so all of them emit exactly the
same wire format (checked against the ``openai`` SDK's types in tests).

Reasoning text is surfaced as ``reasoning_content`` on the message and on deltas (the convention OpenAI-compatible
clients read); provider-specific reasoning state that must round-trip (Anthropic's signed thinking blocks) travels
as ``thinking_blocks``.
"""

from __future__ import annotations

from typing import Any

from wardgate.providers.translate import TranslationContext

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    cache_creation_tokens: int | None = None,
) -> dict[str, Any]:
    """An OpenAI usage object. ``prompt_tokens`` must already include cached (and cache-creation) tokens."""
    result: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if cache_creation_tokens is not None:
        result["prompt_tokens_details"]["cache_creation_tokens"] = cache_creation_tokens
    return result


def completion(
    ctx: TranslationContext,
    choices: list[dict[str, Any]],
    usage_obj: dict[str, Any] | None,
) -> dict[str, Any]:
    """A ``chat.completion``. Each choice: ``{"index", "message", "finish_reason", "logprobs": None}``."""
    body: dict[str, Any] = {
        "id": ctx.response_id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.upstream_model,
        "system_fingerprint": None,
        "choices": choices,
    }
    if usage_obj is not None:
        body["usage"] = usage_obj
    return body


def message(
    content: str | None,
    tool_calls: list[dict[str, Any]] | None = None,
    *,
    reasoning: str | None = None,
    thinking_blocks: list[dict[str, Any]] | None = None,
    refusal: str | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if reasoning:
        msg["reasoning_content"] = reasoning
    if thinking_blocks:
        msg["thinking_blocks"] = thinking_blocks
    return msg


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chunk(
    ctx: TranslationContext,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    index: int = 0,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice. With ``include_usage``, ``usage`` is null here."""
    body: dict[str, Any] = {
        "id": ctx.response_id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.upstream_model,
        "system_fingerprint": None,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if ctx.include_usage:
        body["usage"] = None
    return body


def usage_chunk(ctx: TranslationContext, usage_obj: dict[str, Any]) -> dict[str, Any]:
    """The extra last chunk OpenAI sends when ``stream_options.include_usage`` is true: no choices, the usage."""
    return {
        "id": ctx.response_id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.upstream_model,
        "system_fingerprint": None,
        "choices": [],
        "usage": usage_obj,
    }


def tool_call_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    """The first delta of a streamed tool call; argument fragments follow with :func:`tool_call_arguments`."""
    return {
        "tool_calls": [{"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]
    }


def tool_call_arguments(index: int, fragment: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def embeddings(model: str, vectors: list[list[float]], prompt_tokens: int) -> dict[str, Any]:
    """An OpenAI embeddings list (float encoding; the client re-encodes for ``encoding_format: base64``)."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
