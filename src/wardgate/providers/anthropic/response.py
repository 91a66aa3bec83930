"""``anthropic_to_openai``: an Anthropic ``Message`` (https://docs.anthropic.com/en/api/messages) → an OpenAI
``chat.completion``, plus the stop-reason and usage mappings the stream translator shares.

Content blocks: ``text`` → ``content`` (concatenated), ``tool_use`` → ``tool_calls`` (``input`` JSON-encoded as
``arguments``), the reserved JSON tool (``response_format``) → ``content``, ``thinking`` → ``reasoning_content`` and
``thinking_blocks`` (with their signature, so the client can send them back), ``redacted_thinking`` →
``thinking_blocks``. Usage: OpenAI's ``prompt_tokens`` is Anthropic's ``input_tokens + cache_read_input_tokens +
cache_creation_input_tokens`` (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import UpstreamStatusError
from wardgate.providers import openai_format
from wardgate.providers.anthropic.errors import map_stream_error
from wardgate.providers.anthropic.request import JSON_TOOL_NAME
from wardgate.providers.translate import TranslationContext

# https://docs.anthropic.com/en/api/handling-stop-reasons
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any, client_tool_calls: bool) -> str:
    """OpenAI's finish reason. A turn that only called the JSON tool is a plain answer (``stop``)."""
    if stop_reason == "tool_use" and not client_tool_calls:
        return "stop"
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI usage object from Anthropic's (cache reads and writes are part of the prompt)."""
    read = _int(usage.get("cache_read_input_tokens"))
    created = _int(usage.get("cache_creation_input_tokens"))
    details = usage.get("output_tokens_details")
    reasoning = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    result = openai_format.usage(
        _int(usage.get("input_tokens")) + read + created,
        _int(usage.get("output_tokens")),
        cached_tokens=read,
        reasoning_tokens=reasoning,
        cache_creation_tokens=created if usage.get("cache_creation_input_tokens") is not None else None,
    )
    by_ttl = usage.get("cache_creation")
    if isinstance(by_ttl, dict):  # 1-hour cache writes cost more than 5-minute ones: keep the split for pricing
        prompt_details = result["prompt_tokens_details"]
        prompt_details["cache_creation_5m_tokens"] = _int(by_ttl.get("ephemeral_5m_input_tokens"))
        prompt_details["cache_creation_1h_tokens"] = _int(by_ttl.get("ephemeral_1h_input_tokens"))
    return result


def anthropic_to_openai(body: bytes, ctx: TranslationContext) -> dict[str, Any]:
    """The ``chat.completion`` for an Anthropic ``Message`` body."""
    try:
        message: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamStatusError("the provider sent a response that is not valid JSON") from None
    if isinstance(message, dict) and message.get("type") == "error":
        raise map_stream_error(message)
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise UpstreamStatusError("the provider sent a response that is not a message")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    for block in message["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            if block.get("name") == JSON_TOOL_NAME:
                texts.append(arguments)
            else:
                calls.append(openai_format.tool_call(str(block.get("id")), str(block.get("name")), arguments))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking", "")))
            thinking_blocks.append(
                {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature", "")}
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data", "")})
        # Other block types (server tools, containers) only answer features this adapter never requests.
    content = "".join(texts) if texts or not calls else None
    choice = {
        "index": 0,
        "message": openai_format.message(
            content, calls, reasoning="".join(reasoning) or None, thinking_blocks=thinking_blocks
        ),
        "finish_reason": finish_reason(message.get("stop_reason"), bool(calls)),
        "logprobs": None,
    }
    usage = message.get("usage")
    return openai_format.completion(ctx, [choice], openai_usage(usage if isinstance(usage, dict) else {}))
