"""What routing needs to know about one request, computed lazily (most routes need none of it): the prompt's
tokens, the output tokens asked for, the conversation key for sticky routing, and whether the request is flagged
sensitive.

The prompt is counted by ``wardgate.tokens`` with the encoding of the model's first deployment (exact for OpenAI
models, an estimate for others) and kept on the request, so rate limiting never counts it again.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from wardgate.core.types import ProxyRequest, RequestContext
from wardgate.tokens.count import prompt_tokens

SENSITIVE_HEADER = "x-wardgate-sensitive"
ROUTE_HEADER = "x-wardgate-route"
_STICKY_PREFIX = 4
"""At most this many leading messages (up to the first user message) identify a conversation."""
_TRUE = frozenset({"true", "1", "yes", "on"})


class RequestFacts:
    __slots__ = (
        "_computed",
        "_max_output",
        "_needs",
        "_sticky_key",
        "cheapest",
        "model",
        "request",
        "sensitive",
        "stream",
    )

    def __init__(self, request: ProxyRequest, ctx: RequestContext, model: str | None = None) -> None:
        self.request = request
        self.model = model
        """The upstream model whose tokenizer counts the prompt (None: the generic estimate)."""
        self.stream = request.stream
        self.sensitive = is_sensitive(ctx)
        self.cheapest = ctx.headers.get(ROUTE_HEADER) == "cheapest"
        """The client asked for the cheapest capable deployment (``x-wardgate-route: cheapest``)."""
        self._computed = 0  # bit 1: max_output, bit 2: sticky_key
        self._max_output: int | None = None
        self._sticky_key: int | None = None
        self._needs: frozenset[str] | None = None

    @property
    def prompt_tokens(self) -> int:
        return prompt_tokens(self.request, self.model)

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

    @property
    def needs(self) -> frozenset[str]:
        """The capabilities the request uses: ``tools``, ``vision`` (an image in a message), ``json_schema``."""
        if self._needs is None:
            self._needs = capabilities_needed(self.request.body)
        return self._needs


def capabilities_needed(body: dict[str, Any]) -> frozenset[str]:
    found = set()
    tools = body.get("tools")
    if (isinstance(tools, list) and tools) or body.get("functions"):
        found.add("tools")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        found.add("json_schema")
    messages = body.get("messages")
    if isinstance(messages, list) and any(_has_image(m) for m in messages):
        found.add("vision")
    return frozenset(found)


def _has_image(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return False
    return any(isinstance(part, dict) and part.get("type") in ("image_url", "input_image") for part in content)


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
