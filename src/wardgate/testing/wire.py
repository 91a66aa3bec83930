"""Pure builders for OpenAI / Azure OpenAI chat-completion wire bodies (no I/O, no pydantic).

Everything here returns plain dicts (serialised by the server with orjson) or pre-encoded SSE frames.
Shapes follow the real services: ``chat.completion`` objects, ``chat.completion.chunk`` stream chunks,
usage blocks with the detail sub-objects, and Azure's content-filter annotations.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson

Flavor = Literal["openai", "azure"]
JSONDict = dict[str, Any]

SYSTEM_FINGERPRINT = "fp_f0a1b2c3d4"
DEFAULT_SENTENCE = "Hello! This is a reply from the fake OpenAI server."
DEFAULT_CHUNKS = 20
DONE_FRAME = b"data: [DONE]\n\n"

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}
AZURE_CHOICE_FILTERS: JSONDict = {
    "hate": _SAFE,
    "protected_material_code": _NOT_DETECTED,
    "protected_material_text": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
AZURE_PROMPT_FILTERS: list[JSONDict] = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            "hate": _SAFE,
            "jailbreak": _NOT_DETECTED,
            "self_harm": _SAFE,
            "sexual": _SAFE,
            "violence": _SAFE,
        },
    }
]


def random_id(prefix: str, length: int = 29) -> str:
    """An id shaped like OpenAI's (``chatcmpl-`` + 29 alphanumerics, ``call_`` + 24 …); hex keeps it cheap."""
    return prefix + os.urandom((length + 1) // 2).hex()[:length]


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """A fully resolved tool call to emit (id assigned, arguments already a JSON string)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatReply:
    """Everything needed to render one chat completion, streamed or not."""

    flavor: Flavor
    completion_id: str
    created: int
    model: str
    content: str | None
    pieces: tuple[str, ...]
    tool_calls: tuple[ToolCallOut, ...]
    finish_reason: str
    usage: JSONDict
    include_usage: bool = False


# ---------------------------------------------------------------------------------------------- text


@lru_cache(maxsize=256)
def default_content(words: int) -> str:
    """The deterministic default reply: the default sentence's words cycled to ``words`` words."""
    base = DEFAULT_SENTENCE.split()
    count = max(1, words)
    return " ".join(base[i % len(base)] for i in range(count))


@lru_cache(maxsize=1024)
def split_content(content: str, chunks: int) -> tuple[str, ...]:
    """Split ``content`` into ``chunks`` contiguous pieces that concatenate back to it.

    Word boundaries are kept when there are at least as many words as chunks; otherwise the text is cut
    into near-equal character runs (never more pieces than characters).
    """
    if not content:
        return ()
    n = max(1, chunks)
    words = re.findall(r"\s*\S+", content)
    tail = content[len("".join(words)) :]
    if words and tail:
        words[-1] += tail
    if len(words) >= n:
        return tuple(_group(words, n))
    n = min(n, len(content))
    return tuple(_group(list(content), n))


def _group(items: list[str], n: int) -> list[str]:
    size, extra = divmod(len(items), n)
    out: list[str] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append("".join(items[start:end]))
        start = end
    return out


@lru_cache(maxsize=1024)
def count_words(content: str) -> int:
    return len(content.split())


def truncate_words(content: str, limit: int) -> str:
    """The first ``limit`` words of ``content`` (original spacing kept)."""
    words = re.findall(r"\s*\S+", content)
    return "".join(words[: max(0, limit)])


def estimate_prompt_tokens(messages: Any) -> int:
    """≈ characters / 4 over the text of all messages (at least 1)."""
    chars = 0
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        chars += len(part["text"])
    return max(1, math.ceil(chars / 4))


# --------------------------------------------------------------------------------------------- usage


def usage_block(prompt_tokens: int, completion_tokens: int, override: JSONDict | None = None) -> JSONDict:
    """An OpenAI usage object with both detail sub-objects; ``override`` keys replace computed ones."""
    usage: JSONDict = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if override:
        usage.update(override)
        if "total_tokens" not in override:
            usage["total_tokens"] = int(usage["prompt_tokens"]) + int(usage["completion_tokens"])
    return usage


# ----------------------------------------------------------------------------------------- tool calls


def example_arguments(schema: Any) -> JSONDict:
    """Plausible arguments for a JSON-schema ``parameters`` object (one value per declared property)."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    return {name: _example_value(spec) for name, spec in props.items()}


def _example_value(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return "example"
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    examples: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "null": None}
    if kind == "object":
        return example_arguments(spec)
    return examples.get(str(kind), "example")


def split_arguments(arguments: str, pieces: int) -> list[str]:
    """Argument fragments as OpenAI streams them (contiguous, at most ``pieces``)."""
    if not arguments:
        return []
    return _group(list(arguments), max(1, min(pieces, len(arguments))))


# ------------------------------------------------------------------------------------- non-streaming


def completion_body(reply: ChatReply) -> JSONDict:
    """A complete ``chat.completion`` object."""
    message: JSONDict = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.flavor == "openai":
        message["annotations"] = []
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    choice: JSONDict = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": reply.finish_reason,
    }
    body: JSONDict = {
        "id": reply.completion_id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [choice],
        "usage": reply.usage,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if reply.flavor == "openai":
        body["service_tier"] = "default"
    else:
        choice["content_filter_results"] = AZURE_CHOICE_FILTERS
        body["prompt_filter_results"] = AZURE_PROMPT_FILTERS
    return body


# ----------------------------------------------------------------------------------------- streaming


def sse_frame(payload: JSONDict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_frames(reply: ChatReply, arg_pieces: int) -> list[bytes]:
    """Every SSE frame of a streamed reply, in order, ending with ``data: [DONE]``."""
    frames: list[bytes] = []
    if reply.flavor == "azure":
        frames.append(sse_frame(azure_prompt_filter_chunk()))
    role, tool_deltas = _deltas(reply, arg_pieces)
    frames.append(sse_frame(_chunk(reply, role, None)))
    frames.extend(_content_frames(reply))
    frames.extend(sse_frame(_chunk(reply, delta, None)) for delta in tool_deltas)
    frames.append(sse_frame(_chunk(reply, {}, reply.finish_reason)))
    if reply.include_usage:
        usage_chunk = _chunk_base(reply)
        usage_chunk["choices"] = []
        usage_chunk["usage"] = reply.usage
        frames.append(sse_frame(usage_chunk))
    frames.append(DONE_FRAME)
    return frames


def _content_frames(reply: ChatReply) -> list[bytes]:
    """Content-delta frames from one serialised template (the hot path of the default stream)."""
    if not reply.pieces:
        return []
    head = b"data: " + orjson.dumps(_chunk_base(reply))[:-1] + b',"choices":[{"index":0,"delta":{"content":'
    tail = b'},"logprobs":null,"finish_reason":null'
    if reply.flavor == "azure":
        tail += b',"content_filter_results":' + orjson.dumps(AZURE_CHOICE_FILTERS)
    tail += b"}]" + (b',"usage":null' if reply.include_usage else b"") + b"}\n\n"
    dumps = orjson.dumps
    return [head + dumps(piece) + tail for piece in reply.pieces]


def azure_prompt_filter_chunk() -> JSONDict:
    """Azure's first stream chunk: no choices, empty id/model/object, the prompt filter results."""
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": AZURE_PROMPT_FILTERS,
    }


def _deltas(reply: ChatReply, arg_pieces: int) -> tuple[JSONDict, list[JSONDict]]:
    """The role delta and the tool-call deltas (the first call header rides on the role delta when there
    is no text, as OpenAI does; later fragments carry only ``index`` + ``function.arguments``)."""
    role: JSONDict = {"role": "assistant", "content": "" if reply.content else None, "refusal": None}
    deltas: list[JSONDict] = []
    for index, call in enumerate(reply.tool_calls):
        header = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if index == 0 and not reply.pieces:
            role["tool_calls"] = [header]
        else:
            deltas.append({"tool_calls": [header]})
        for fragment in split_arguments(call.arguments, arg_pieces):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    return role, deltas


def _chunk_base(reply: ChatReply) -> JSONDict:
    base: JSONDict = {
        "id": reply.completion_id,
        "object": "chat.completion.chunk",
        "created": reply.created,
        "model": reply.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if reply.flavor == "openai":
        base["service_tier"] = "default"
    return base


def _chunk(reply: ChatReply, delta: JSONDict, finish: str | None) -> JSONDict:
    chunk = _chunk_base(reply)
    choice: JSONDict = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if reply.flavor == "azure":
        choice["content_filter_results"] = AZURE_CHOICE_FILTERS if delta.get("content") else {}
    chunk["choices"] = [choice]
    if reply.include_usage:
        chunk["usage"] = None
    return chunk


def malformed_frame(completion_id: str) -> bytes:
    """A stream frame whose data is not valid JSON (truncated object)."""
    return b'data: {"id": "' + completion_id.encode() + b'", "object": "chat.completion.chunk", "choices": [{\n\n'


def malformed_body(completion_id: str) -> bytes:
    """A non-stream body that is not valid JSON (truncated object)."""
    return b'{"id": "' + completion_id.encode() + b'", "object": "chat.completion", "choices": [{"index": 0, '


def now() -> int:
    return int(time.time())
