"""OpenAI ``chat.completion.chunk`` dicts → Anthropic's streamed Messages events, incrementally.

The event sequence is Anthropic's (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
``message_start`` (the message with empty content and ``stop_reason`` null; ``usage.input_tokens`` when the
first chunk already carries usage, else 0, and ``output_tokens`` 0), then for each content block
``content_block_start`` / ``content_block_delta``\\s / ``content_block_stop`` with indexes 0, 1, 2, … — one
block open at a time — then ``message_delta`` (``stop_reason``, ``stop_sequence`` and the final usage) and
``message_stop``.

Blocks, mirroring ``wardgate.providers.anthropic.stream``: ``reasoning_content`` (or ``reasoning``) deltas open a
``thinking`` block (``thinking_delta``); a ``thinking_blocks`` delta completes it — the rest of its text, one
``signature_delta`` with the whole signature — and closes it (a ``redacted_thinking`` entry is a block of its
own); ``content`` (and ``refusal``) deltas open a ``text`` block (``text_delta``); each new tool-call ``index``
closes the open block and opens a ``tool_use`` block (id and name from its first fragment) whose argument
fragments are ``input_json_delta``\\s. A fragment for a tool call whose block was already closed cannot be
expressed in Anthropic's format and raises ``StreamInterruptedError``, as does a tool call that never got a name.

The usage chunk (``stream_options.include_usage``) comes after the ``finish_reason``: ``message_delta`` and
``message_stop`` are sent when it arrives, or from ``finish()`` at the end of the canonical stream (which only
ends normally on a real finish). Only choice 0 is read (Anthropic has one). The usage TTL split
(``cache_creation``) has no place in ``message_delta``; everything else the non-streamed message carries does,
so accumulating these events gives exactly ``openai_to_anthropic_response`` of the same completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.api.anthropic.translate.common import JSONDict
from wardgate.api.anthropic.translate.response import (
    anthropic_usage,
    matched_stop_sequence,
    message_id,
    reasoning_text,
    stop_reason,
    thinking_block,
    tool_use_id,
)
from wardgate.core.errors import StreamInterruptedError

Event = tuple[str, JSONDict]


def sse_frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame: ``event: NAME\\ndata: JSON\\n\\n``."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(slots=True)
class _Tool:
    call_id: str
    explicit_id: bool
    name: str = ""
    pending: list[str] = field(default_factory=list)
    index: int = -1
    closed: bool = False


@dataclass(slots=True)
class _Open:
    kind: str
    index: int
    thinking: str = ""
    tool: _Tool | None = None


class OpenAIChunksToAnthropicEvents:
    """Feed each ``chat.completion.chunk`` dict; call ``finish()`` when the canonical stream ends."""

    def __init__(self, model: str) -> None:
        self._model = model
        self.message_id = ""
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: _Open | None = None
        self._tools: dict[Any, _Tool] = {}
        self._all_tools: list[_Tool] = []
        self._last_key: Any = 0
        self._finish_reason: Any = None
        self._finished = False
        self._stop_sequence: str | None = None
        self._refusal = False
        self._usage: Any = None

    def feed(self, chunk: Mapping[str, Any]) -> list[Event]:
        """The events for one chunk (none once the message is complete)."""
        if self._done:
            return []
        out: list[Event] = []
        self._start(chunk, out)
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                self._choice(choice, out)
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self._usage = usage
            if self._finished:
                self._end(out)
        return out

    def finish(self) -> list[Event]:
        """The closing events, when the usage chunk has not already sent them."""
        if self._done:
            return []
        out: list[Event] = []
        self._start({}, out)
        self._end(out)
        return out

    # -------------------------------------------------------------------------------------------- message

    def _start(self, chunk: Mapping[str, Any], out: list[Event]) -> None:
        if self._started:
            return
        self._started = True
        self.message_id = message_id(chunk.get("id"))
        usage = anthropic_usage(chunk.get("usage"))
        usage.pop("cache_creation", None)
        usage.pop("output_tokens_details", None)
        usage["output_tokens"] = 0
        message: JSONDict = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        out.append(("message_start", {"type": "message_start", "message": message}))

    def _choice(self, choice: Mapping[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = reasoning_text(delta)
            if reasoning:
                self._reasoning(reasoning, out)
            blocks = delta.get("thinking_blocks")
            for block in blocks if isinstance(blocks, list) else []:
                self._signed(block, out)
            if isinstance(delta.get("content"), str) and delta["content"]:
                self._text(delta["content"], out)
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                self._refusal = True
                self._text(delta["refusal"], out)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, Mapping):
                    self._tool_fragment(call, out)
        if choice.get("finish_reason") is not None and not self._finished:
            self._finished = True
            self._finish_reason = choice["finish_reason"]
            self._stop_sequence = matched_stop_sequence(choice)
            self._close(out)

    def _end(self, out: list[Event]) -> None:
        self._close(out)
        if any(tool.index < 0 for tool in self._all_tools):
            raise StreamInterruptedError("the provider streamed a tool call without a name")
        reason = stop_reason(
            self._finish_reason,
            tool_use=bool(self._all_tools),
            stop_sequence=self._stop_sequence,
            refusal=self._refusal,
        )
        usage = anthropic_usage(self._usage)
        usage.pop("cache_creation", None)  # not part of message_delta's usage
        delta = {"stop_reason": reason, "stop_sequence": self._stop_sequence}
        out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(("message_stop", {"type": "message_stop"}))
        self._done = True

    # --------------------------------------------------------------------------------------------- blocks

    def _begin(self, kind: str, block: JSONDict, out: list[Event], tool: _Tool | None = None) -> _Open:
        self._close(out)
        opened = self._open = _Open(kind, self._next_index, tool=tool)
        self._next_index += 1
        out.append(
            ("content_block_start", {"type": "content_block_start", "index": opened.index, "content_block": block})
        )
        return opened

    def _delta(self, opened: _Open, delta: JSONDict, out: list[Event]) -> None:
        out.append(("content_block_delta", {"type": "content_block_delta", "index": opened.index, "delta": delta}))

    def _close(self, out: list[Event]) -> None:
        opened, self._open = self._open, None
        if opened is None:
            return
        if opened.tool is not None:
            opened.tool.closed = True
        out.append(("content_block_stop", {"type": "content_block_stop", "index": opened.index}))

    def _text(self, text: str, out: list[Event]) -> None:
        opened = self._open
        if opened is None or opened.kind != "text":
            opened = self._begin("text", {"type": "text", "text": ""}, out)
        self._delta(opened, {"type": "text_delta", "text": text}, out)

    def _reasoning(self, text: str, out: list[Event]) -> None:
        opened = self._open
        if opened is None or opened.kind != "thinking":
            opened = self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
        opened.thinking += text
        self._delta(opened, {"type": "thinking_delta", "thinking": text}, out)

    def _signed(self, raw: Any, out: list[Event]) -> None:
        """A complete ``thinking_blocks`` entry: finishes the open thinking block, or is a block of its own."""
        block = thinking_block(raw)
        if block is None:
            return
        if block["type"] == "redacted_thinking":
            self._begin("redacted_thinking", block, out)
            self._close(out)
            return
        text: str = block["thinking"]
        opened = self._open
        if opened is not None and opened.kind == "thinking":
            rest = text[len(opened.thinking) :] if text.startswith(opened.thinking) else ""
        else:
            opened = self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            rest = text
        if rest:
            self._delta(opened, {"type": "thinking_delta", "thinking": rest}, out)
        if block["signature"]:
            self._delta(opened, {"type": "signature_delta", "signature": block["signature"]}, out)
        self._close(out)

    # ---------------------------------------------------------------------------------------------- tools

    def _tool_fragment(self, call: Mapping[str, Any], out: list[Event]) -> None:
        tool = self._tool_for(call)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and name and not tool.name:
            tool.name = name
        fragment = arguments if isinstance(arguments, str) else ""
        if isinstance(arguments, Mapping):
            fragment = orjson.dumps(arguments).decode()
        if tool.closed:
            if fragment:
                raise StreamInterruptedError("the provider sent more of a tool call after starting another block")
            return
        if tool.index >= 0:
            if fragment and self._open is not None:
                self._delta(self._open, {"type": "input_json_delta", "partial_json": fragment}, out)
            return
        if fragment:
            tool.pending.append(fragment)
        if tool.name:
            block = {"type": "tool_use", "id": tool.call_id, "name": tool.name, "input": {}}
            opened = self._begin("tool", block, out, tool)
            tool.index = opened.index
            if tool.pending:
                partial = "".join(tool.pending)
                tool.pending.clear()
                self._delta(opened, {"type": "input_json_delta", "partial_json": partial}, out)

    def _tool_for(self, call: Mapping[str, Any]) -> _Tool:
        """The tool call a fragment belongs to: by ``index``; a new ``id`` under a used index is a new call."""
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        index = call.get("index")
        key: Any = index if isinstance(index, int) and not isinstance(index, bool) else (call_id or self._last_key)
        self._last_key = key
        tool = self._tools.get(key)
        if tool is not None and call_id is not None and call_id != tool.call_id:
            if tool.explicit_id or tool.index >= 0:
                tool = None  # a provider that reuses one index for several calls
            else:
                tool.call_id, tool.explicit_id = call_id, True
        if tool is None:
            tool = self._tools[key] = _Tool(tool_use_id(call_id), call_id is not None)
            self._all_tools.append(tool)
        return tool
