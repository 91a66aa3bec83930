"""Anthropic's streamed Messages events → OpenAI ``chat.completion.chunk`` dicts, incrementally.

Events (https://docs.anthropic.com/en/docs/build-with-claude/streaming): ``message_start`` (input usage) →
per content block ``content_block_start``, ``content_block_delta`` (``text_delta``, ``input_json_delta``,
``thinking_delta``, ``signature_delta``, ``citations_delta``), ``content_block_stop`` → ``message_delta``
(``stop_reason``, cumulative usage) → ``message_stop``; ``ping`` may come anywhere; ``error`` (e.g.
``overloaded_error``) can arrive after the 200 and raises the mapped error. Only ``message_stop`` ends a stream:
EOF before it raises ``StreamInterruptedError`` from ``finish()``.

OpenAI's deltas: a role delta first; ``content`` for text; for each ``tool_use`` block a first tool-call delta
(index, id, name, ``arguments: ""``) then argument fragments — the OpenAI ``index`` counts tool calls (0, 1, …),
not Anthropic block indices; the reserved JSON tool's fragments become ``content``; ``reasoning_content`` for
thinking text and, when a thinking block ends, one ``thinking_blocks`` delta carrying the whole signed block
(clients append these lists to send them back); the finish reason and the optional usage chunk on ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.core.errors import StreamInterruptedError
from wardgate.providers import openai_format
from wardgate.providers.anthropic.errors import map_stream_error
from wardgate.providers.anthropic.request import JSON_TOOL_NAME
from wardgate.providers.anthropic.response import finish_reason, openai_usage
from wardgate.providers.sse import SSEDecoder, SSEEvent
from wardgate.providers.translate import TranslationContext

Chunk = dict[str, Any]


@dataclass(slots=True)
class _Block:
    """One open Anthropic content block: ``text``, ``tool``, ``json``, ``thinking``, ``redacted`` or ``other``."""

    kind: str
    tool_index: int = -1
    has_input: bool = False
    thinking: list[str] = field(default_factory=list)
    signature: str = ""


class AnthropicStreamTranslator:
    """The ``StreamTranslator`` for one Anthropic stream (feed raw body bytes, then ``finish()`` at EOF)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._decoder = SSEDecoder()
        self._blocks: dict[int, _Block] = {}
        self._tool_calls = 0
        self._started = False
        self._done = False
        self._stop_reason: Any = None
        self._usage: dict[str, Any] = {}
        self._handlers: dict[str, Callable[[dict[str, Any], list[Chunk]], None]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def feed(self, data: bytes) -> list[Chunk]:
        try:
            events = self._decoder.feed(data)
        except ValueError:
            raise StreamInterruptedError("the provider sent an oversized stream event") from None
        out: list[Chunk] = []
        for event in events:
            if self._done:
                break  # nothing follows message_stop
            self._handle(event, out)
        return out

    def finish(self) -> list[Chunk]:
        if not self._done:
            raise StreamInterruptedError("the provider ended the stream before it finished")
        return []

    # ------------------------------------------------------------------------------------------ events

    def _handle(self, event: SSEEvent, out: list[Chunk]) -> None:
        try:
            payload: Any = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError("the provider sent an invalid stream event") from None
        if not isinstance(payload, dict):
            raise StreamInterruptedError("the provider sent an invalid stream event")
        kind = payload.get("type", event.event)
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is not None:  # ping and event types added later are ignored, as Anthropic asks
            handler(payload, out)

    def _ensure_started(self, out: list[Chunk]) -> None:
        if not self._started:
            self._started = True
            out.append(openai_format.chunk(self._ctx, {"role": "assistant", "content": ""}))

    def _emit(self, out: list[Chunk], delta: dict[str, Any]) -> None:
        self._ensure_started(out)
        out.append(openai_format.chunk(self._ctx, delta))

    def _message_start(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        message = payload.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            self._update_usage(usage)
        self._ensure_started(out)

    def _block_start(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        block = payload.get("content_block")
        index = payload.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            raise StreamInterruptedError("the provider sent an invalid content block")
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block("text")
            if block.get("text"):
                self._emit(out, {"content": block["text"]})
        elif kind == "tool_use":
            self._tool_start(index, block, out)
        elif kind == "thinking":
            self._blocks[index] = _Block("thinking")
            if block.get("thinking"):
                self._thinking_text(self._blocks[index], str(block["thinking"]), out)
        elif kind == "redacted_thinking":
            self._blocks[index] = _Block("redacted")
            self._emit(out, {"thinking_blocks": [{"type": "redacted_thinking", "data": block.get("data", "")}]})
        else:
            self._blocks[index] = _Block("other")

    def _tool_start(self, index: int, block: dict[str, Any], out: list[Chunk]) -> None:
        initial = block.get("input")
        if block.get("name") == JSON_TOOL_NAME:
            state = self._blocks[index] = _Block("json")
            if initial:
                state.has_input = True
                self._emit(out, {"content": orjson.dumps(initial).decode()})
            return
        state = self._blocks[index] = _Block("tool", tool_index=self._tool_calls)
        self._tool_calls += 1
        self._emit(out, openai_format.tool_call_start(state.tool_index, str(block.get("id")), str(block.get("name"))))
        if initial:
            state.has_input = True
            self._emit(out, openai_format.tool_call_arguments(state.tool_index, orjson.dumps(initial).decode()))

    def _block_delta(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        index = payload.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        delta = payload.get("delta")
        if state is None or not isinstance(delta, dict):
            raise StreamInterruptedError("the provider sent a delta for a content block it never started")
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            self._emit(out, {"content": delta["text"]})
        elif kind == "input_json_delta" and delta.get("partial_json"):
            state.has_input = True
            fragment = str(delta["partial_json"])
            if state.kind == "json":
                self._emit(out, {"content": fragment})
            else:
                self._emit(out, openai_format.tool_call_arguments(state.tool_index, fragment))
        elif kind == "thinking_delta" and delta.get("thinking"):
            self._thinking_text(state, str(delta["thinking"]), out)
        elif kind == "signature_delta":
            state.signature += str(delta.get("signature", ""))

    def _thinking_text(self, state: _Block, text: str, out: list[Chunk]) -> None:
        state.thinking.append(text)
        self._emit(out, {"reasoning_content": text})

    def _block_stop(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        index = payload.get("index")
        state = self._blocks.pop(index, None) if isinstance(index, int) else None
        if state is None:
            return
        if state.kind == "tool" and not state.has_input:
            self._emit(out, openai_format.tool_call_arguments(state.tool_index, "{}"))
        elif state.kind == "json" and not state.has_input:
            self._emit(out, {"content": "{}"})
        elif state.kind == "thinking":
            block = {"type": "thinking", "thinking": "".join(state.thinking), "signature": state.signature}
            self._emit(out, {"thinking_blocks": [block]})

    def _message_delta(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        delta = payload.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._update_usage(usage)

    def _message_stop(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        self._ensure_started(out)
        reason = finish_reason(self._stop_reason, self._tool_calls > 0)
        out.append(openai_format.chunk(self._ctx, {}, reason))
        if self._ctx.include_usage:
            out.append(openai_format.usage_chunk(self._ctx, openai_usage(self._usage)))
        self._done = True

    def _error(self, payload: dict[str, Any], out: list[Chunk]) -> None:
        raise map_stream_error(payload)

    def _update_usage(self, usage: dict[str, Any]) -> None:
        """Anthropic's counts are cumulative: later non-null values replace earlier ones."""
        self._usage.update({k: v for k, v in usage.items() if v is not None})


def anthropic_events_to_openai_chunks(data: Iterable[bytes], ctx: TranslationContext) -> Iterator[Chunk]:
    """Translate a whole Anthropic event stream (an iterable of raw body pieces) into OpenAI chunks."""
    translator = AnthropicStreamTranslator(ctx)
    for piece in data:
        yield from translator.feed(piece)
    yield from translator.finish()
