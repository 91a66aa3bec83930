"""What routing needs to know about one request, computed lazily (most routes need none of it): a cheap prompt
token estimate, the output tokens asked for, the conversation key for sticky routing, and whether the request is
flagged sensitive.

The estimate is about 4 characters per token over the text the model reads (message contents, tool call
arguments, tool definitions, embedding inputs), plus a fixed amount per image and per message — a heuristic
that errs low for code and non-Latin scripts, good enough to pick a context window, never a bill.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from wardgate.core.types import ProxyRequest, RequestContext

SENSITIVE_HEADER = "x-wardgate-sensitive"
CHARS_PER_TOKEN = 4
_IMAGE_TOKENS = 800
_MESSAGE_TOKENS = 4
_STICKY_PREFIX = 4
"""At most this many leading messages (up to the first user message) identify a conversation."""
_TRUE = frozenset({"true", "1", "yes", "on"})


class RequestFacts:
    __slots__ = ("_computed", "_max_output", "_prompt_tokens", "_sticky_key", "request", "sensitive", "stream")

    def __init__(self, request: ProxyRequest, ctx: RequestContext) -> None:
        self.request = request
        self.stream = request.stream
        self.sensitive = is_sensitive(ctx)
        self._computed = 0  # bit 1: max_output, bit 2: sticky_key
        self._prompt_tokens: int | None = None
        self._max_output: int | None = None
        self._sticky_key: int | None = None

    @property
    def prompt_tokens(self) -> int:
        if self._prompt_tokens is None:
            self._prompt_tokens = estimate_prompt_tokens(self.request.body)
        return self._prompt_tokens

    @property
    def max_output(self) -> int | None:
        """The output limit the request asked for (``max_completion_tokens`` or ``max_tokens``), if any."""
        if not self._computed & 1:
            body = self.request.body
            value = body.get("max_completion_tokens", body.get("max_tokens"))
            self._max_output = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
            self._computed |= 1
        return self._max_output

    @property
    def sticky_key(self) -> int | None:
        """A stable 32-bit hash of the conversation's opening (through its first user message); None without
        messages. The same on every replica, so a conversation sticks to a deployment wherever it lands."""
        if not self._computed & 2:
            self._sticky_key = conversation_key(self.request.body)
            self._computed |= 2
        return self._sticky_key


def is_sensitive(ctx: RequestContext) -> bool:
    """Flagged by the ``x-wardgate-sensitive`` header or the caller's key metadata (``sensitive: true``). A client
    can add the flag, never remove the one its key carries."""
    header = ctx.headers.get(SENSITIVE_HEADER)
    if header is not None and header.strip().lower() in _TRUE:
        return True
    principal = ctx.principal
    if principal is None or not principal.metadata:
        return False
    flag = principal.metadata.get("sensitive")
    return flag is True or (isinstance(flag, str) and flag.strip().lower() in _TRUE)


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = 0
    tokens = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            tokens += _MESSAGE_TOKENS
            text, images = _content_size(message.get("content"))
            chars += text
            tokens += images * _IMAGE_TOKENS
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                chars += sum(len(str(c.get("function", {}).get("arguments", ""))) for c in calls if isinstance(c, dict))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(orjson.dumps(tools))
    given = body.get("input")
    if isinstance(given, str):
        chars += len(given)
    elif isinstance(given, list):
        chars += sum(len(item) for item in given if isinstance(item, str))
    return tokens + chars // CHARS_PER_TOKEN


def _content_size(content: Any) -> tuple[int, int]:
    """(characters of text, number of images) of one message's content."""
    if isinstance(content, str):
        return len(content), 0
    if not isinstance(content, list):
        return 0, 0
    chars = images = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            chars += len(text)
        elif part.get("type") in ("image_url", "input_image", "image"):
            images += 1
    return chars, images


def conversation_key(body: dict[str, Any]) -> int | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    end = min(len(messages), _STICKY_PREFIX)
    for index in range(end):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            end = index + 1
            break
    try:
        return zlib.crc32(orjson.dumps(messages[:end]))
    except TypeError:
        return None
