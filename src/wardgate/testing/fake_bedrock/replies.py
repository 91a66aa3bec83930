"""What the fake Bedrock answers to a Converse request (pure): the reply from request + ``Behavior``, rendered as a
``ConverseResponse`` body or as ConverseStream event-stream frames.

- ``toolChoice`` ``any`` → a call of the first tool, ``tool`` → a call of the named one, with an input that
  validates against the tool's JSON schema; ``Behavior(tool_calls=[...])`` → exactly those (parallel) calls.
- ``additionalModelRequestFields.thinking`` (Claude) or ``reasoningConfig`` (Nova 2) enabled → a signed
  ``reasoningContent`` block first, as Claude returns it (streamed as ``reasoningContent`` text deltas, then one
  ``signature`` delta); ``Behavior.reasoning`` scripts its text (and sends it even without thinking; ``""`` none).
- ``inferenceConfig.maxTokens`` truncates the text (in words) with ``stopReason: max_tokens``.
"""

from __future__ import annotations

import math
import os
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.providers.simulated.schema_fill import fill_schema
from wardgate.providers.simulated.text import extract_topic
from wardgate.testing.fake_bedrock.eventstream import event_frame
from wardgate.testing.script import Behavior
from wardgate.testing.wire import count_words, split_arguments, split_content, truncate_words

DEFAULT_SENTENCE = "Hello! This is a reply from the fake Bedrock server."
DEFAULT_CHUNKS = 20
REASONING_TEXT = "The user asked a question; I will answer it briefly and accurately."
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
}
# Real ConverseStream payloads carry a random-length "p" member to blur their sizes; clients must ignore it.
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class ToolUseOut:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConverseReply:
    text: str | None
    pieces: tuple[str, ...]
    reasoning: str | None
    signature: str | None
    tool_uses: tuple[ToolUseOut, ...]
    stop_reason: str
    usage: dict[str, Any]


def tool_use_id() -> str:
    return "tooluse_" + os.urandom(11).hex()[:22]


def default_content(words: int) -> str:
    base = DEFAULT_SENTENCE.split()
    return " ".join(base[i % len(base)] for i in range(max(1, words)))


def _texts(blocks: Any) -> list[str]:
    return [b["text"] for b in blocks or () if isinstance(b, Mapping) and isinstance(b.get("text"), str)]


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            texts = _texts(message.get("content"))
            if texts:
                return " ".join(texts)
    return ""


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    chars = sum(len(t) for t in _texts(body.get("system")))
    for message in body.get("messages") or []:
        chars += sum(len(t) for t in _texts(message.get("content")))
    return max(1, math.ceil(chars / 4))


def resolve_tool_uses(body: Mapping[str, Any], behavior: Behavior) -> tuple[ToolUseOut, ...]:
    if behavior.tool_calls is not None:
        out = []
        for call in behavior.tool_calls:
            arguments: Any = call.arguments
            if isinstance(arguments, str):
                arguments = orjson.loads(arguments or "{}")
            out.append(ToolUseOut(call.id or tool_use_id(), call.name, dict(arguments)))
        return tuple(out)
    config = body.get("toolConfig") or {}
    specs = [t["toolSpec"] for t in config.get("tools") or () if "toolSpec" in t]
    choice = config.get("toolChoice") or {}
    if "any" in choice and specs:
        spec = specs[0]
    elif "tool" in choice:
        spec = next(s for s in specs if s["name"] == choice["tool"]["name"])
    else:
        return ()
    schema = spec["inputSchema"].get("json") or {"type": "object"}
    rng = random.Random(zlib.crc32(spec["name"].encode()))
    value = fill_schema(schema, rng=rng, topic=extract_topic(_last_user_text(body)))
    return (ToolUseOut(tool_use_id(), spec["name"], value if isinstance(value, dict) else {}),)


def _thinking_enabled(body: Mapping[str, Any]) -> bool:
    extra = body.get("additionalModelRequestFields")
    if not isinstance(extra, Mapping):
        return False
    thinking = extra.get("thinking")
    config = extra.get("reasoningConfig")
    return (isinstance(thinking, Mapping) and thinking.get("type") == "enabled") or (
        isinstance(config, Mapping) and config.get("type") == "enabled"
    )


def build_reply(body: Mapping[str, Any], behavior: Behavior) -> ConverseReply:
    chunks = behavior.chunks or DEFAULT_CHUNKS
    uses = resolve_tool_uses(body, behavior)
    text = behavior.content if behavior.content is not None else (None if uses else default_content(chunks))
    stop = "tool_use" if uses else "end_turn"
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    if text and isinstance(limit, int) and count_words(text) > limit:
        text, stop = truncate_words(text, limit), "max_tokens"
    if behavior.finish_reason is not None:
        stop = STOP_REASONS.get(behavior.finish_reason, behavior.finish_reason)
    reasoning = behavior.reasoning
    if reasoning is None:
        reasoning = REASONING_TEXT if _thinking_enabled(body) else None
    reasoning = reasoning or None
    output = count_words(text or "") + count_words(reasoning or "")
    output += sum(math.ceil(len(orjson.dumps(u.input)) / 4) for u in uses)
    return ConverseReply(
        text=text,
        pieces=split_content(text, chunks) if text else (),
        reasoning=reasoning,
        signature=os.urandom(24).hex() if reasoning else None,
        tool_uses=uses,
        stop_reason=stop,
        usage=usage_block(estimate_input_tokens(body), output, behavior.usage),
    )


def usage_block(input_tokens: int, output_tokens: int, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Converse ``TokenUsage``; ``override`` may use Bedrock names or OpenAI's prompt/completion_tokens."""
    usage: dict[str, Any] = {"inputTokens": input_tokens, "outputTokens": output_tokens}
    for key, value in (override or {}).items():
        name = {"prompt_tokens": "inputTokens", "completion_tokens": "outputTokens"}.get(key, key)
        if name in ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"):
            usage[name] = value
    usage["totalTokens"] = sum(
        int(usage.get(k, 0)) for k in ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return usage


def content_blocks(reply: ConverseReply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        signed = {"text": reply.reasoning, "signature": reply.signature or ""}
        blocks.append({"reasoningContent": {"reasoningText": signed}})
    if reply.text:
        blocks.append({"text": reply.text})
    blocks.extend({"toolUse": {"toolUseId": u.id, "name": u.name, "input": u.input}} for u in reply.tool_uses)
    return blocks


def converse_body(reply: ConverseReply, latency_ms: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content_blocks(reply)}},
        "stopReason": reply.stop_reason,
        "usage": reply.usage,
        "metrics": {"latencyMs": latency_ms},
    }


def _pad(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "p": _PADDING[: 1 + len(payload) * 7 % len(_PADDING)]}


def stream_frames(reply: ConverseReply, arg_pieces: int, latency_ms: int) -> list[bytes]:
    """Every ConverseStream frame, in order, ending with ``metadata``."""
    frames = [event_frame("messageStart", _pad({"role": "assistant"}))]
    index = 0
    if reply.reasoning is not None:
        for piece in split_content(reply.reasoning, 3):
            delta = {"reasoningContent": {"text": piece}}
            frames.append(event_frame("contentBlockDelta", _pad({"contentBlockIndex": index, "delta": delta})))
        delta = {"reasoningContent": {"signature": reply.signature or ""}}
        frames.append(event_frame("contentBlockDelta", _pad({"contentBlockIndex": index, "delta": delta})))
        frames.append(event_frame("contentBlockStop", _pad({"contentBlockIndex": index})))
        index += 1
    if reply.pieces:
        for piece in reply.pieces:
            frames.append(
                event_frame("contentBlockDelta", _pad({"contentBlockIndex": index, "delta": {"text": piece}}))
            )
        frames.append(event_frame("contentBlockStop", _pad({"contentBlockIndex": index})))
        index += 1
    for use in reply.tool_uses:
        start = {"toolUse": {"toolUseId": use.id, "name": use.name}}
        frames.append(event_frame("contentBlockStart", _pad({"contentBlockIndex": index, "start": start})))
        for fragment in split_arguments(orjson.dumps(use.input).decode(), arg_pieces):
            delta = {"toolUse": {"input": fragment}}
            frames.append(event_frame("contentBlockDelta", _pad({"contentBlockIndex": index, "delta": delta})))
        frames.append(event_frame("contentBlockStop", _pad({"contentBlockIndex": index})))
        index += 1
    frames.append(event_frame("messageStop", _pad({"stopReason": reply.stop_reason})))
    metadata = {"usage": reply.usage, "metrics": {"latencyMs": latency_ms}}
    frames.append(event_frame("metadata", _pad(metadata)))
    return frames
