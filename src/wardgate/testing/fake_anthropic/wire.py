"""Anthropic wire bodies for a reply: the ``Message`` object and the SSE event stream (pure).

Stream shape (https://docs.anthropic.com/en/docs/build-with-claude/streaming): ``message_start`` (content empty,
``stop_reason`` null, input usage, ``output_tokens`` 1), a ``ping`` after the first block starts, then per block
``content_block_start`` / ``content_block_delta`` … / ``content_block_stop`` (text as ``text_delta``, tool input as
``input_json_delta`` fragments starting with an empty one, thinking as ``thinking_delta`` then one
``signature_delta``), ``message_delta`` (stop reason, cumulative usage) and ``message_stop``. Every frame has an
``event:`` line naming its type.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.testing.fake_anthropic.reply import AnthropicReply
from wardgate.testing.wire import split_arguments, split_content

JSONDict = dict[str, Any]


def message_body(reply: AnthropicReply) -> JSONDict:
    return {
        "id": reply.message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": reply.blocks,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage,
    }


def sse_event(payload: JSONDict) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def stream_frames(reply: AnthropicReply, pieces: int) -> list[bytes]:
    """Every SSE frame of a streamed reply, in order, ending with ``message_stop``."""
    start = {**message_body(reply), "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**reply.usage, "output_tokens": 1}
    frames = [sse_event({"type": "message_start", "message": start})]
    for index, block in enumerate(reply.blocks):
        frames.append(sse_event({"type": "content_block_start", "index": index, "content_block": _empty(block)}))
        if index == 0:
            frames.append(PING)
        frames.extend(sse_event(_delta(index, delta)) for delta in _deltas(block, pieces))
        frames.append(sse_event({"type": "content_block_stop", "index": index}))
    usage = {
        key: reply.usage[key]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        if key in reply.usage
    }
    frames.append(
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": usage,
            }
        )
    )
    frames.append(sse_event({"type": "message_stop"}))
    return frames


def _empty(block: JSONDict) -> JSONDict:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return block


def _delta(index: int, delta: JSONDict) -> JSONDict:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _deltas(block: JSONDict, pieces: int) -> list[JSONDict]:
    kind = block["type"]
    if kind == "text":
        return [{"type": "text_delta", "text": piece} for piece in split_content(block["text"], pieces)]
    if kind == "tool_use":
        fragments = ["", *split_arguments(orjson.dumps(block["input"]).decode(), pieces)]
        return [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments]
    if kind == "thinking":
        deltas: list[JSONDict] = [
            {"type": "thinking_delta", "thinking": piece} for piece in split_content(block["thinking"], pieces)
        ]
        return [*deltas, {"type": "signature_delta", "signature": block["signature"]}]
    return []


def malformed_frame(index: int = 0) -> bytes:
    """A stream frame whose data is not valid JSON (a truncated object)."""
    return (
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": '
        + str(index).encode()
        + (b', "delta": {"type": "text_delta", "text": \n\n')
    )


def malformed_body(message_id: str) -> bytes:
    """A non-stream body that is not valid JSON (a truncated object)."""
    return b'{"id": "' + message_id.encode() + b'", "type": "message", "role": "assistant", "content": [{"type": '
