"""Bedrock Converse response → OpenAI ``chat.completion`` (pure).

Shapes: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax
and botocore's ``ConverseResponse``. ``inputTokens`` excludes cache reads and writes, which Bedrock counts apart;
OpenAI's ``prompt_tokens`` includes them, so it is the sum of the three and ``cached_tokens`` the cache reads.
A call of the JSON-mode tool (:data:`~wardgate.providers.bedrock.request.JSON_TOOL`) becomes the message content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import UpstreamStatusError
from wardgate.providers import openai_format
from wardgate.providers.bedrock.request import JSON_TOOL
from wardgate.providers.translate import TranslationContext

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_MALFORMED = {
    "malformed_model_output": "the model produced malformed output",
    "malformed_tool_use": "the model produced a malformed tool call",
}


def finish_reason(stop_reason: Any, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for a Converse ``stopReason`` (a JSON-mode tool call finishes with "stop")."""
    if stop_reason in _MALFORMED:
        raise UpstreamStatusError(_MALFORMED[stop_reason], code="malformed_model_output")
    reason = STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    if reason == "tool_calls" and not has_tool_calls:
        return "stop"
    return reason


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from(usage: Any) -> dict[str, Any]:
    """OpenAI usage from a Converse ``TokenUsage`` (missing or malformed fields count as zero)."""
    if not isinstance(usage, Mapping):
        usage = {}
    read = _count(usage, "cacheReadInputTokens")
    write = _count(usage, "cacheWriteInputTokens")
    prompt = _count(usage, "inputTokens") + read + write
    return openai_format.usage(
        prompt,
        _count(usage, "outputTokens"),
        cached_tokens=read,
        cache_creation_tokens=write if "cacheWriteInputTokens" in usage else None,
    )


def thinking_block(text: str, signature: str | None, redacted: str | None) -> dict[str, Any] | None:
    """The Anthropic-shaped block that lets a client send signed reasoning back (None when nothing to sign)."""
    if redacted is not None:
        return {"type": "redacted_thinking", "data": redacted}
    if signature:
        return {"type": "thinking", "thinking": text, "signature": signature}
    return None


class _Collected:
    __slots__ = ("json_parts", "reasoning", "texts", "thinking", "tool_calls")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.json_parts: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.reasoning: list[str] = []
        self.thinking: list[dict[str, Any]] = []

    def add(self, block: Mapping[str, Any]) -> None:
        if isinstance(block.get("text"), str):
            self.texts.append(block["text"])
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input") if use.get("input") is not None else {}).decode()
            if use.get("name") == JSON_TOOL:
                self.json_parts.append(arguments)
            else:
                self.tool_calls.append(
                    openai_format.tool_call(str(use.get("toolUseId")), str(use.get("name")), arguments)
                )
        elif isinstance(block.get("reasoningContent"), Mapping):
            self._reasoning(block["reasoningContent"])
        elif isinstance(block.get("citationsContent"), Mapping):
            for part in block["citationsContent"].get("content") or ():
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    self.texts.append(part["text"])

    def _reasoning(self, content: Mapping[str, Any]) -> None:
        text_block = content.get("reasoningText")
        redacted = content.get("redactedContent")
        text = ""
        signature = None
        if isinstance(text_block, Mapping):
            text = str(text_block.get("text") or "")
            signature = text_block.get("signature")
            self.reasoning.append(text)
        block = thinking_block(text, signature, redacted if isinstance(redacted, str) else None)
        if block is not None:
            self.thinking.append(block)


def converse_response(body: bytes, ctx: TranslationContext) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamStatusError("the provider sent a response that is not valid JSON") from None
    output = parsed.get("output") if isinstance(parsed, dict) else None
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise UpstreamStatusError("the provider sent a response without output.message.content")
    collected = _Collected()
    for block in content:
        if isinstance(block, Mapping):
            collected.add(block)
    # In JSON mode the tool input *is* the answer; any text before it is preamble that would break the JSON.
    text = "".join(collected.json_parts) if collected.json_parts else "".join(collected.texts)
    msg = openai_format.message(
        text or None,
        collected.tool_calls or None,
        reasoning="".join(collected.reasoning) or None,
        thinking_blocks=collected.thinking or None,
    )
    finish = finish_reason(parsed.get("stopReason"), bool(collected.tool_calls))
    choice = {"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}
    return openai_format.completion(ctx, [choice], usage_from(parsed.get("usage")))
