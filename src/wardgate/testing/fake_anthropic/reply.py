"""Decide what a fake Anthropic reply contains (content blocks, stop reason, usage) from request + behaviour.

* Scripted ``Behavior.tool_calls`` → one ``tool_use`` block each (several = parallel tool use).
* ``tool_choice`` ``any`` (first tool) or ``tool`` (that tool) → a ``tool_use`` whose ``input`` is generated from
  the tool's ``input_schema`` (valid against it: JSON mode through a forced tool gets schema-valid JSON).
* Otherwise text: ``Behavior.content`` or the default sentence; ``max_tokens`` cuts it (in words, stop reason
  ``max_tokens``), ``stop_sequences`` end it early (``stop_sequence``).
* Extended thinking (``thinking`` enabled or adaptive) → a signed ``thinking`` block first (``THINKING_TEXT``);
  ``Behavior.reasoning`` scripts its text (and sends it even without ``thinking``; ``""`` sends none).
* Usage: ≈ characters / 4 of the prompt; prompt caching is simulated: the prefix up to the last ``cache_control``
  marker is written to the cache on first sight (``cache_creation_input_tokens``, split by TTL) and read from it
  afterwards (``cache_read_input_tokens``), as https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
  describes. ``Behavior.usage`` keys override the computed usage.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.providers.simulated.schema_fill import fill_schema
from wardgate.providers.simulated.text import extract_topic
from wardgate.testing.script import Behavior
from wardgate.testing.wire import count_words, random_id, truncate_words

JSONDict = dict[str, Any]
DEFAULT_SENTENCE = "Hello! This is a reply from the fake Anthropic server."
DEFAULT_WORDS = 20
THINKING_TEXT = "The user wants a short answer, so I will reply briefly and check the request first."
_MEDIA_PLACEHOLDER = "#" * 1600
# OpenAI finish reasons a Behavior may carry, in Anthropic's words (other values are sent as given).
_FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


@dataclass(frozen=True, slots=True)
class AnthropicReply:
    message_id: str
    model: str
    blocks: list[JSONDict]
    stop_reason: str
    stop_sequence: str | None
    usage: JSONDict


class PromptCache:
    """Which cacheable prompt prefixes the fake has seen (bounded, thread-safe)."""

    def __init__(self, maxlen: int = 1024) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._maxlen = maxlen

    def hit(self, key: str) -> bool:
        """True if ``key`` was cached before; records it either way."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._seen[key] = None
            if len(self._seen) > self._maxlen:
                self._seen.popitem(last=False)
            return False

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def default_text(words: int) -> str:
    base = DEFAULT_SENTENCE.split()
    return " ".join(base[i % len(base)] for i in range(max(1, words)))


def build_reply(body: JSONDict, model: str, behavior: Behavior, cache: PromptCache) -> AnthropicReply:
    blocks: list[JSONDict] = []
    reasoning = behavior.reasoning if behavior.reasoning is not None else (THINKING_TEXT if _thinking_on(body) else "")
    if reasoning:
        signature = base64.b64encode(os.urandom(48)).decode()
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": signature})
    calls = _tool_uses(body, behavior)
    text = (
        behavior.content
        if behavior.content is not None
        else (None if calls else default_text(behavior.chunks or DEFAULT_WORDS))
    )
    stop_reason, stop_sequence = ("tool_use" if calls else "end_turn"), None
    if text:
        text, stop_reason, stop_sequence = _cut(text, body, stop_reason)
        if text:
            blocks.append({"type": "text", "text": text})
    if stop_reason != "max_tokens" or not text:
        blocks.extend(calls)
    if stop_reason == "tool_use" and not calls:
        stop_reason = "end_turn"
    if behavior.finish_reason is not None:
        stop_reason = _FINISH_TO_STOP.get(behavior.finish_reason, behavior.finish_reason)
    output = count_words(text or "") + sum(math.ceil(len(orjson.dumps(c["input"])) / 4) for c in calls)
    thinking_tokens = count_words(reasoning)
    usage = _usage(body, max(1, output + thinking_tokens), cache)
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    if behavior.usage:
        usage.update(behavior.usage)
    return AnthropicReply(random_id("msg_01", 22), model, blocks, stop_reason, stop_sequence, usage)


def _thinking_on(body: JSONDict) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _tool_uses(body: JSONDict, behavior: Behavior) -> list[JSONDict]:
    if behavior.tool_calls is not None:
        out = []
        for call in behavior.tool_calls:
            arguments = call.arguments if isinstance(call.arguments, dict) else orjson.loads(call.arguments or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("Anthropic tool inputs are JSON objects: script ToolCall.arguments as one")
            out.append(
                {"type": "tool_use", "id": call.id or random_id("toolu_01", 22), "name": call.name, "input": arguments}
            )
        return out
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") in (None, "custom")]
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "any" and tools:
        tool = tools[0]
    elif choice.get("type") == "tool":
        tool = next((t for t in tools if t.get("name") == choice.get("name")), {})
    else:
        return []
    rng = random.Random(orjson.dumps(body.get("messages")))
    value = fill_schema(tool.get("input_schema", {}), rng=rng, topic=extract_topic(_last_user_text(body)))
    return [
        {
            "type": "tool_use",
            "id": random_id("toolu_01", 22),
            "name": tool.get("name"),
            "input": value if isinstance(value, dict) else {},
        }
    ]


def _last_user_text(body: JSONDict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _cut(text: str, body: JSONDict, stop_reason: str) -> tuple[str, str, str | None]:
    """Apply ``stop_sequences`` and ``max_tokens`` (in words) to the reply text."""
    for sequence in body.get("stop_sequences") or []:
        position = text.find(sequence)
        if sequence and position >= 0:
            return text[:position], "stop_sequence", sequence
    limit = body.get("max_tokens")
    if isinstance(limit, int) and count_words(text) > limit:
        return truncate_words(text, limit), "max_tokens", None
    return text, stop_reason, None


def _usage(body: JSONDict, output_tokens: int, cache: PromptCache) -> JSONDict:
    total = prompt_tokens(body)
    prefix, ttl = _cached_prefix(body)
    cached = min(total, math.ceil(len(prefix) / 4)) if prefix else 0
    read = created = 0
    if cached:
        key = hashlib.sha256(f"{body.get('model')}\0{prefix}".encode()).hexdigest()
        read, created = (cached, 0) if cache.hit(key) else (0, cached)
    return {
        "input_tokens": total - cached,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": created if ttl != "1h" else 0,
            "ephemeral_1h_input_tokens": created if ttl == "1h" else 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def prompt_tokens(body: JSONDict) -> int:
    """The prompt's size in (estimated) tokens: ≈ characters / 4, images and PDFs ≈ 400 each."""
    return max(1, math.ceil(len(_prompt_text(body)) / 4))


def _prompt_text(body: JSONDict) -> str:
    return "".join(_walk_text(body)[0])


def _cached_prefix(body: JSONDict) -> tuple[str, str | None]:
    """The prompt text up to the last block carrying ``cache_control`` (tools, system, messages order)."""
    pieces, marks = _walk_text(body)
    if not marks:
        return "", None
    end, ttl = marks[-1]
    return "".join(pieces[:end]), ttl


def _walk_text(body: JSONDict) -> tuple[list[str], list[tuple[int, str | None]]]:
    pieces: list[str] = []
    marks: list[tuple[int, str | None]] = []
    system = body.get("system")
    items: list[Any] = list(body.get("tools") or [])
    items += [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in body.get("messages") or []:
        content = message.get("content")
        items += [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    for item in items:
        kind = item.get("type")
        if kind == "text":
            pieces.append(str(item.get("text", "")))
        else:  # an image or a PDF page costs a few hundred tokens, whatever its base64 size
            pieces.append(_MEDIA_PLACEHOLDER if kind in ("image", "document") else orjson.dumps(item).decode())
        marker = item.get("cache_control")
        if isinstance(marker, dict):
            marks.append((len(pieces), marker.get("ttl")))
    return pieces, marks
