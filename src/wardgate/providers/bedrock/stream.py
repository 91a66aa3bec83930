"""ConverseStream (AWS event-stream frames) → OpenAI ``chat.completion.chunk`` dicts, incrementally.

Events (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html, botocore's
``ConverseStreamOutput``): ``messageStart`` → the role chunk; ``contentBlockStart`` (only tool uses have one) → the
first tool-call delta; ``contentBlockDelta`` → text / tool-argument / reasoning deltas; ``contentBlockStop`` → for
signed reasoning, a ``thinking_blocks`` delta carrying the signature; ``messageStop`` → the finish chunk;
``metadata`` → usage (the usage chunk when ``include_usage``). The stream is complete only once both
``messageStop`` and ``metadata`` arrived; exception messages raise the mapped gateway error.

JSON mode: the input fragments of the ``json_response`` tool stream out as ``content`` deltas. Text before it would
pass through too (a stream cannot wait to see whether the JSON tool follows), but a forced tool gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.core.errors import StreamInterruptedError
from wardgate.providers import openai_format
from wardgate.providers.bedrock.errors import map_stream_exception
from wardgate.providers.bedrock.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from wardgate.providers.bedrock.request import JSON_TOOL
from wardgate.providers.bedrock.response import finish_reason, thinking_block, usage_from
from wardgate.providers.translate import TranslationContext

Chunk = dict[str, Any]


@dataclass(slots=True)
class _Block:
    kind: str  # "tool" | "json" | "reasoning"
    tool_index: int = -1
    text: str = ""
    signature: str | None = None
    redacted: str | None = None


class ConverseStreamTranslator:
    """One ConverseStream → OpenAI chunks. Feed raw body bytes in any slicing."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._decoder = EventStreamDecoder()
        self._blocks: dict[int, _Block] = {}
        self._tool_calls = 0
        self._started = False
        self._stopped = False
        self._metadata = False

    def feed(self, data: bytes) -> list[Chunk]:
        try:
            messages = self._decoder.feed(data)
        except EventStreamError:
            raise StreamInterruptedError("the provider sent a corrupt event stream") from None
        chunks: list[Chunk] = []
        for message in messages:
            self._handle(message, chunks)
        return chunks

    def finish(self) -> list[Chunk]:
        if not (self._stopped and self._metadata) or self._decoder.pending:
            raise StreamInterruptedError("the provider ended the stream before it finished")
        return []

    # ------------------------------------------------------------------------------------------ dispatch

    def _handle(self, message: EventMessage, chunks: list[Chunk]) -> None:
        kind = message.header(":message-type")
        if kind == "exception":
            raise map_stream_exception(message.header(":exception-type") or "", message.payload)
        if kind == "error":
            text = message.header(":error-message") or ""
            raise map_stream_exception(message.header(":error-code") or "", orjson.dumps({"message": text}))
        if kind != "event":
            raise StreamInterruptedError("the provider sent an unexpected event-stream message")
        try:
            payload = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError:
            raise StreamInterruptedError("the provider sent an invalid stream event") from None
        if not isinstance(payload, dict):
            raise StreamInterruptedError("the provider sent an invalid stream event")
        handler = self._HANDLERS.get(message.header(":event-type") or "")
        if handler is not None:
            handler(self, payload, chunks)

    def _emit(self, chunks: list[Chunk], delta: dict[str, Any], finish: str | None = None) -> None:
        if not self._started:
            self._started = True
            chunks.append(openai_format.chunk(self._ctx, {"role": "assistant", "content": ""}))
        if delta or finish is not None:
            chunks.append(openai_format.chunk(self._ctx, delta, finish))

    def _message_start(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        self._emit(chunks, {})

    def _block_start(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        start = payload.get("start")
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict):
            return
        index = _index(payload)
        if use.get("name") == JSON_TOOL:
            self._blocks[index] = _Block("json")
            return
        block = _Block("tool", tool_index=self._tool_calls)
        self._tool_calls += 1
        self._blocks[index] = block
        call_id, name = str(use.get("toolUseId") or ""), str(use.get("name") or "")
        self._emit(chunks, openai_format.tool_call_start(block.tool_index, call_id, name))

    def _block_delta(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise StreamInterruptedError("the provider sent a content delta without a delta")
        index = _index(payload)
        if isinstance(delta.get("text"), str):
            if delta["text"]:
                self._emit(chunks, {"content": delta["text"]})
        elif isinstance(delta.get("toolUse"), dict):
            self._tool_delta(index, str(delta["toolUse"].get("input") or ""), chunks)
        elif isinstance(delta.get("reasoningContent"), dict):
            self._reasoning_delta(index, delta["reasoningContent"], chunks)

    def _tool_delta(self, index: int, fragment: str, chunks: list[Chunk]) -> None:
        block = self._blocks.get(index)
        if block is None or block.kind not in ("tool", "json"):
            raise StreamInterruptedError("the provider sent tool input for a block that is not a tool use")
        if not fragment:
            return
        if block.kind == "json":
            self._emit(chunks, {"content": fragment})
        else:
            self._emit(chunks, openai_format.tool_call_arguments(block.tool_index, fragment))

    def _reasoning_delta(self, index: int, delta: dict[str, Any], chunks: list[Chunk]) -> None:
        block = self._blocks.setdefault(index, _Block("reasoning"))
        if isinstance(delta.get("text"), str) and delta["text"]:
            block.text += delta["text"]
            self._emit(chunks, {"reasoning_content": delta["text"]})
        if isinstance(delta.get("signature"), str):
            block.signature = (block.signature or "") + delta["signature"]
        if isinstance(delta.get("redactedContent"), str):
            block.redacted = (block.redacted or "") + delta["redactedContent"]

    def _block_stop(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        block = self._blocks.pop(_index(payload), None)
        if block is None or block.kind != "reasoning":
            return
        signed = thinking_block(block.text, block.signature, block.redacted)
        if signed is not None:
            self._emit(chunks, {"thinking_blocks": [signed]})

    def _message_stop(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        self._stopped = True
        self._emit(chunks, {}, finish_reason(payload.get("stopReason"), self._tool_calls > 0))

    def _metadata_event(self, payload: dict[str, Any], chunks: list[Chunk]) -> None:
        self._metadata = True
        if self._ctx.include_usage:
            chunks.append(openai_format.usage_chunk(self._ctx, usage_from(payload.get("usage"))))

    _HANDLERS = {
        "messageStart": _message_start,
        "contentBlockStart": _block_start,
        "contentBlockDelta": _block_delta,
        "contentBlockStop": _block_stop,
        "messageStop": _message_stop,
        "metadata": _metadata_event,
    }


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("contentBlockIndex")
    if not isinstance(index, int) or isinstance(index, bool):
        raise StreamInterruptedError("the provider sent a content event without a block index")
    return index
