"""Request reading for the simulated provider: message content (string or list of parts), attachments,
the last user turn, tool results to summarise, the deterministic seed and the prompt token estimate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .text import estimate_tokens

__all__ = [
    "Attachments",
    "ToolResult",
    "attachments",
    "choice_seed",
    "content_text",
    "last_role",
    "last_user_turn",
    "prompt_usage",
    "request_seed",
    "tool_results",
]

LOW_DETAIL_IMAGE_TOKENS = 85
HIGH_DETAIL_IMAGE_TOKENS = 765
AUDIO_PART_TOKENS = 200
FILE_PART_TOKENS = 500
PER_MESSAGE_TOKENS = 4
REPLY_PRIMING_TOKENS = 3


@dataclass(frozen=True, slots=True)
class Attachments:
    """Non-text parts of one message."""

    images: int = 0
    image_tokens: int = 0
    audio: int = 0
    files: int = 0


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A ``tool`` message at the end of the conversation, with the name of the function it answers."""

    name: str
    content: str


def _parts(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, list):
        return [p for p in content if isinstance(p, Mapping)]
    return []


def content_text(content: Any) -> str:
    """The text of a message's content: the string itself, or its text (and refusal) parts joined."""
    if isinstance(content, str):
        return content
    texts = [p.get("text") or p.get("refusal") for p in _parts(content)]
    return "\n".join(t for t in texts if isinstance(t, str))


def attachments(content: Any) -> Attachments:
    """Count the image, audio and file parts of a message's content."""
    images = image_tokens = audio = files = 0
    for part in _parts(content):
        kind = part.get("type")
        if kind == "image_url":
            images += 1
            spec = part.get("image_url")
            detail = spec.get("detail") if isinstance(spec, Mapping) else None
            image_tokens += LOW_DETAIL_IMAGE_TOKENS if detail == "low" else HIGH_DETAIL_IMAGE_TOKENS
        elif kind == "input_audio":
            audio += 1
        elif kind == "file":
            files += 1
    return Attachments(images=images, image_tokens=image_tokens, audio=audio, files=files)


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = body.get("messages")
    return [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []


def last_user_turn(body: Mapping[str, Any]) -> tuple[str, Attachments]:
    """Text and attachments of the most recent ``user`` message (empty when there is none)."""
    for message in reversed(_messages(body)):
        if message.get("role") == "user":
            return content_text(message.get("content")), attachments(message.get("content"))
    return "", Attachments()


def last_role(body: Mapping[str, Any]) -> str | None:
    messages = _messages(body)
    role = messages[-1].get("role") if messages else None
    return role if isinstance(role, str) else None


def tool_results(body: Mapping[str, Any]) -> list[ToolResult]:
    """The trailing run of ``tool`` messages, each matched to its call's function name by ``tool_call_id``."""
    messages = _messages(body)
    names: dict[str, str] = {}
    for message in messages:
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping) and isinstance(call.get("id"), str):
                names[call["id"]] = str(fn.get("name") or "tool")
    trailing: list[ToolResult] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        name = names.get(str(message.get("tool_call_id")), "tool")
        trailing.append(ToolResult(name=name, content=content_text(message.get("content"))))
    return trailing[::-1]


def _canonical(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return repr(value).encode()


def request_seed(body: Mapping[str, Any]) -> int:
    """The request's ``seed`` when given, else a stable hash of its messages and model."""
    seed = body.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        material = b"seed:" + str(seed).encode()
    else:
        material = b"model:" + _canonical(body.get("model")) + b"\nmessages:" + _canonical(body.get("messages"))
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def choice_seed(base: int, index: int) -> int:
    """Seed of choice ``index``; choice 0 uses the request seed itself, so ``n`` does not change it."""
    if index == 0:
        return base
    return int.from_bytes(hashlib.sha256(f"{base}:{index}".encode()).digest()[:8], "big")


def _message_tokens(message: Mapping[str, Any]) -> tuple[int, Attachments]:
    content = message.get("content")
    found = attachments(content)
    tokens = PER_MESSAGE_TOKENS + estimate_tokens(content_text(content)) + found.image_tokens
    tokens += found.audio * AUDIO_PART_TOKENS + found.files * FILE_PART_TOKENS
    name = message.get("name")
    if isinstance(name, str):
        tokens += estimate_tokens(name)
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        tokens += estimate_tokens(_canonical(calls).decode())
    return tokens, found


def prompt_usage(body: Mapping[str, Any]) -> tuple[int, dict[str, int]]:
    """Prompt token estimate (messages + 4 each, tools, response schema) and its details object."""
    total = REPLY_PRIMING_TOKENS
    audio = 0
    for message in _messages(body):
        tokens, found = _message_tokens(message)
        total += tokens
        audio += found.audio * AUDIO_PART_TOKENS
    extras: Sequence[Any] = (body.get("tools"), body.get("response_format"))
    for extra in extras:
        if extra:
            total += estimate_tokens(_canonical(extra).decode())
    return total, {"cached_tokens": 0, "audio_tokens": audio}
