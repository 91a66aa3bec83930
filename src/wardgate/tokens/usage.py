"""The usage a provider reported for a call, from a whole response body or metered off a stream.

Field names per dialect, as the providers document them:

* "openai" Chat Completions / Embeddings (https://platform.openai.com/docs/api-reference/chat/object):
  ``usage.prompt_tokens`` (cached tokens included), ``completion_tokens`` (reasoning included),
  ``prompt_tokens_details.cached_tokens`` and ``.cache_write_tokens``, ``completion_tokens_details.reasoning_tokens``;
  the gateway's own translations name cache writes ``prompt_tokens_details.cache_creation_tokens``
  (``providers.openai_format.usage``) and keep Anthropic's 1-hour ones in ``.cache_creation_1h_tokens``. Streams
  carry it only with ``stream_options.include_usage``: a last chunk with ``"choices": []`` and the usage, after
  chunks with ``"usage": null``.
* "anthropic" Messages (https://docs.anthropic.com/en/api/messages and .../messages-streaming): ``input_tokens``
  excludes the cache, so input is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``;
  ``cache_creation.ephemeral_1h_input_tokens`` says how many of the written ones have a 1-hour TTL (priced 2x input
  instead of 1.25x);
  ``output_tokens`` includes thinking, broken out (newer API versions) in ``output_tokens_details.thinking_tokens``.
  Streams report it in ``message_start`` (``message.usage``) and ``message_delta`` (``usage``, cumulative
  ``output_tokens``; newer API versions repeat the input fields there), the latest value of each field winning.
* "openai-responses" (https://platform.openai.com/docs/api-reference/responses/object): ``usage.input_tokens``,
  ``input_tokens_details.cached_tokens`` and ``.cache_write_tokens``, ``output_tokens``,
  ``output_tokens_details.reasoning_tokens``; streams
  report it in the ``response.completed`` (or ``.incomplete`` / ``.failed``) event's ``response.usage``.

Nothing here raises on malformed input: a body or event that cannot be read simply reports no usage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from wardgate.core.types import RESPONSES_DIALECT

OPENAI: Final = "openai"
ANTHROPIC: Final = "anthropic"

_ANTHROPIC_FIELDS: Final = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
_ANTHROPIC_MERGED: Final = frozenset((*_ANTHROPIC_FIELDS, "output_tokens_details", "cache_creation"))
_OPENAI_FIELDS: Final = ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")
_RESPONSE_DONE: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})
# A chunk's value for a key, found by a C-speed scan instead of a parse (JSON text inside strings has its quotes
# escaped, so it never matches).
_USAGE_VALUE: Final = re.compile(rb'"usage"\s*:\s*(.)', re.DOTALL)
_CHOICES_VALUE: Final = re.compile(rb'"choices"\s*:\s*\[\s*(.)', re.DOTALL)
_TYPE_FIELD: Final = re.compile(rb'"type"\s*:\s*"([\w.]+)"')


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    """Every input token, cached or not."""
    output_tokens: int = 0
    """Every output token, reasoning included."""
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    """Of ``cache_write_tokens``, those written with a 1-hour TTL (Anthropic); the rest have the 5-minute one."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def counted(self, kind: Literal["input", "output", "total"]) -> int:
        """The tokens a limit of this kind counts."""
        if kind == "input":
            return self.input_tokens
        if kind == "output":
            return self.output_tokens
        return self.total_tokens


def usage_from_body(dialect: str, body: bytes, parsed: Any = None) -> Usage | None:
    """The usage in a whole response body of ``dialect``; None when it has none or is not JSON. ``parsed``: the
    body already parsed, when the caller has it."""
    if parsed is None:
        try:
            parsed = orjson.loads(body)
        except (orjson.JSONDecodeError, TypeError):
            return None
    if not isinstance(parsed, dict):
        return None
    if dialect == ANTHROPIC:
        return _anthropic(_mapping(parsed.get("usage")))
    if dialect in (OPENAI, RESPONSES_DIALECT):
        return _openai(parsed.get("usage"))
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _openai(usage: object) -> Usage | None:
    """Chat Completions or Responses naming (each falls back to the other's, for look-alike providers)."""
    if not isinstance(usage, dict) or not any(_is_count(usage.get(name)) for name in _OPENAI_FIELDS):
        return None
    responses = "input_tokens" in usage and "prompt_tokens" not in usage
    prompt = _mapping(usage.get("input_tokens_details" if responses else "prompt_tokens_details"))
    completion = _mapping(usage.get("output_tokens_details" if responses else "completion_tokens_details"))
    written = _int(prompt.get("cache_write_tokens")) or _int(prompt.get("cache_creation_tokens"))
    return Usage(
        input_tokens=_int(usage.get("input_tokens" if responses else "prompt_tokens")),
        output_tokens=_int(usage.get("output_tokens" if responses else "completion_tokens")),
        cached_input_tokens=_int(prompt.get("cached_tokens")),
        cache_write_tokens=written,
        reasoning_tokens=_int(completion.get("reasoning_tokens")),
        cache_write_1h_tokens=min(_int(prompt.get("cache_creation_1h_tokens")), written),
    )


def _anthropic(fields: dict[str, Any]) -> Usage | None:
    if not any(_is_count(fields.get(name)) for name in _ANTHROPIC_FIELDS):
        return None
    cached, written = _int(fields.get("cache_read_input_tokens")), _int(fields.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(fields.get("input_tokens")) + cached + written,
        output_tokens=_int(fields.get("output_tokens")),
        cached_input_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=_int(_mapping(fields.get("output_tokens_details")).get("thinking_tokens")),
        cache_write_1h_tokens=min(
            _int(_mapping(fields.get("cache_creation")).get("ephemeral_1h_input_tokens")), written
        ),
    )


class StreamUsage:
    """Meters one response stream: ``feed`` every item, in order; ``usage`` is what the provider reported so far.

    Items are what ``ProxyResponse.stream`` yields for the dialect: bare JSON chunk payloads for "openai", complete
    framed SSE events for "anthropic" and "openai-responses". Only items that can carry usage are parsed, found by
    a bytes search first (a JSON string cannot contain an unescaped ``"usage"``, so text never fools it).
    ``events`` counts the items that carry output (chunks with choices, content deltas): a lower bound of one
    output token each when the stream ends without usage, e.g. after a client disconnect. An unknown dialect is
    passed through unmetered.
    """

    __slots__ = ("_anthropic", "_dialect", "_events", "_hide", "_usage")

    def __init__(self, dialect: str, hide_usage_chunk: bool = False) -> None:
        self._dialect = dialect
        self._hide = hide_usage_chunk
        self._usage: Usage | None = None
        self._events = 0
        self._anthropic: dict[str, Any] = {}

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def events(self) -> int:
        return self._events

    def feed(self, item: bytes) -> bytes | None:
        """Read ``item``; return what to pass on to the client (None: drop it)."""
        if self._dialect == OPENAI:
            return self._feed_chunk(item)
        if self._dialect == ANTHROPIC or self._dialect == RESPONSES_DIALECT:
            self._feed_event(item)
        return item

    def _feed_chunk(self, item: bytes) -> bytes | None:
        has_choices = _has_choices(item)
        if has_choices:
            self._events += 1
        if not _non_null_usage(item):
            return item
        try:
            chunk = orjson.loads(item)
        except orjson.JSONDecodeError:
            return item
        usage = _openai(chunk.get("usage")) if isinstance(chunk, dict) else None
        if usage is None:
            return item
        self._usage = usage
        # Only a usage-only chunk is dropped: one that also carries choices (some compatible servers put the usage
        # on the last content chunk) still has output the client needs.
        return None if self._hide and not has_choices else item

    def _feed_event(self, item: bytes) -> None:
        name = _event_name(item)
        if name is not None and (name.endswith(b".delta") or name == b"content_block_delta"):
            self._events += 1
        if b'"usage"' not in item:
            return
        payload = _sse_json(item)
        if payload is None:
            return
        kind = payload.get("type")
        if self._dialect == ANTHROPIC:
            if kind == "message_start":
                self._merge_anthropic(_mapping(_mapping(payload.get("message")).get("usage")))
            elif kind == "message_delta":
                self._merge_anthropic(_mapping(payload.get("usage")))
        elif kind in _RESPONSE_DONE:
            usage = _openai(_mapping(payload.get("response")).get("usage"))
            self._usage = usage if usage is not None else self._usage

    def _merge_anthropic(self, fields: dict[str, Any]) -> None:
        self._anthropic.update((k, v) for k, v in fields.items() if k in _ANTHROPIC_MERGED and v is not None)
        usage = _anthropic(self._anthropic)
        self._usage = usage if usage is not None else self._usage


def _non_null_usage(item: bytes) -> bool:
    """Whether a chunk's (first) ``"usage"`` key has a value other than null."""
    match = _USAGE_VALUE.search(item)
    return match is not None and match.group(1) != b"n"


def _has_choices(item: bytes) -> bool:
    """Whether a chunk's ``"choices"`` list is non-empty."""
    match = _CHOICES_VALUE.search(item)
    return match is not None and match.group(1) != b"]"


def _event_name(item: bytes) -> bytes | None:
    """An SSE event's name: its ``event:`` line, else the ``type`` near the start of its data."""
    if item.startswith(b"event:"):
        end = item.find(b"\n", 6, 160)
        return item[6 : end if end > 0 else 160].strip()
    match = _TYPE_FIELD.search(item, 0, 200)
    return match.group(1) if match is not None else None


def _sse_json(item: bytes) -> dict[str, Any] | None:
    """The JSON object in one framed SSE event's ``data:`` lines (joined by newlines, per the SSE spec)."""
    data = [line[5:].removeprefix(b" ") for line in item.splitlines() if line.startswith(b"data:")]
    if not data:
        return None
    try:
        payload = orjson.loads(b"\n".join(data))
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None
