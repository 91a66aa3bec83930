"""Canned, wire-exact answers of the non-OpenAI dialects for ``bench/fast_upstream.py``, built once at import.

Each dialect answers the reply of the OpenAI canned answer (the same 20 words, 12 prompt and 20 completion tokens)
in its own wire format, as the provider sends it:

* **Anthropic Messages** (https://docs.anthropic.com/en/api/messages, .../build-with-claude/streaming): a compact
  JSON ``message``; the stream is ``message_start``, ``content_block_start``, ``ping`` (Anthropic spaces that one
  as ``{"type": "ping"}``), 20 ``text_delta`` events, ``content_block_stop``, ``message_delta``, ``message_stop``,
  every frame with its ``event:`` line.
* **Gemini generateContent** (https://ai.google.dev/api/generate-content): Google pretty-prints the non-streaming
  body (two-space indent); ``streamGenerateContent?alt=sse`` sends 20 ``data: <chunk>\\r\\n\\r\\n`` frames in
  Google's own spacing (``": "`` after keys, no space after commas), the last one carrying ``finishReason`` and
  the full ``usageMetadata``; there is no ``[DONE]``.
* **Bedrock Converse** (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html): compact
  JSON with sorted keys; ``converse-stream`` sends AWS event-stream binary messages (prelude, headers
  ``:event-type`` / ``:content-type`` / ``:message-type``, payload, CRC32s): ``messageStart``, 20
  ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``, each payload with the random-length
  ``"p"`` padding member Bedrock adds.

Framing is the same for every dialect and for the OpenAI answer (``Content-Length`` bodies, one HTTP chunk per
stream frame, no compression), so that comparing the gateway's dialects measures translation, not framing. Ids
are fixed: the gateway does not read them.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
GEMINI_MODEL = "gemini-2.0-flash"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
WORDS = ["Hello!", "This", "is", "a", "reply", "from", "the", "fast", "benchmark", "upstream."]
PROMPT_TOKENS, COMPLETION_TOKENS = 12, 20
JSONDict = dict[str, Any]


def pieces(chunks: int) -> list[str]:
    """The streamed text pieces; joined, they are the non-streaming text."""
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(chunks)]


def http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def chunked(frames: list[bytes]) -> list[bytes]:
    """Each frame as one HTTP/1.1 chunk, the terminating zero-length chunk after the last."""
    out = [http_chunk(frame) for frame in frames]
    out[-1] += b"0\r\n\r\n"
    return out


def json_head(content_type: bytes, length: int, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (content_type, length, extra)


def stream_head(content_type: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n%s\r\n" % (content_type, extra)


# ------------------------------------------------------------------------------------------------- Anthropic

_ANTHROPIC_ID = "msg_01BenchFastUpstreamXYZab"
_ANTHROPIC_HEADERS = b"request-id: req_011CBenchFastUpstream00001\r\n"
_CACHE_USAGE: JSONDict = {
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
}


def anthropic_message(content: list[JSONDict], stop: str | None, output_tokens: int) -> JSONDict:
    usage = {"input_tokens": PROMPT_TOKENS, **_CACHE_USAGE, "output_tokens": output_tokens, "service_tier": "standard"}
    return {
        "id": _ANTHROPIC_ID,
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_event(payload: JSONDict) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (str(payload["type"]).encode(), orjson.dumps(payload))


def anthropic_events(chunks: int) -> list[bytes]:
    start = anthropic_message([], None, 1)
    deltas = [{"type": "text_delta", "text": piece} for piece in pieces(chunks)]
    final_usage = {"input_tokens": PROMPT_TOKENS, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return [
        anthropic_event({"type": "message_start", "message": start}),
        anthropic_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        b'event: ping\ndata: {"type": "ping"}\n\n',
        *(anthropic_event({"type": "content_block_delta", "index": 0, "delta": delta}) for delta in deltas),
        anthropic_event({"type": "content_block_stop", "index": 0}),
        anthropic_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {**final_usage, "output_tokens": COMPLETION_TOKENS},
            }
        ),
        anthropic_event({"type": "message_stop"}),
    ]


def anthropic_response() -> bytes:
    text = [{"type": "text", "text": "".join(pieces(COMPLETION_TOKENS))}]
    body = orjson.dumps(anthropic_message(text, "end_turn", COMPLETION_TOKENS))
    return json_head(b"application/json", len(body), _ANTHROPIC_HEADERS) + body


def anthropic_stream(chunks: int) -> list[bytes]:
    """The response head, then every frame as its own HTTP chunk (each written separately)."""
    head = stream_head(b"text/event-stream; charset=utf-8", b"Cache-Control: no-cache\r\n" + _ANTHROPIC_HEADERS)
    return [head, *chunked(anthropic_events(chunks))]


# ---------------------------------------------------------------------------------------------------- Gemini

_GEMINI_RESPONSE_ID = "uJ5HaaGxBenchFastUpstrm0"
_GEMINI_HEADERS = b"Vary: Origin, X-Origin, Referer\r\nServer-Timing: gfet4t7; dur=5\r\n"


def gemini_usage(final: bool) -> JSONDict:
    prompt_details = [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]
    if not final:
        return {
            "promptTokenCount": PROMPT_TOKENS,
            "totalTokenCount": PROMPT_TOKENS,
            "promptTokensDetails": prompt_details,
        }
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": COMPLETION_TOKENS,
        "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
        "promptTokensDetails": prompt_details,
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": COMPLETION_TOKENS}],
    }


def gemini_chunk(text: str, finish: str | None, usage: JSONDict) -> JSONDict:
    candidate: JSONDict = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    body = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": GEMINI_MODEL}
    return {**body, "responseId": _GEMINI_RESPONSE_ID}


def google_compact(value: JSONDict) -> bytes:
    """Google's stream spacing: ``{"a": 1,"b": [1,2]}``."""
    return json.dumps(value, separators=(",", ": "), ensure_ascii=False).encode()


def gemini_response() -> bytes:
    body = gemini_chunk("".join(pieces(COMPLETION_TOKENS)), "STOP", gemini_usage(final=True))
    body["candidates"][0]["avgLogprobs"] = -0.0421
    raw = orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
    return json_head(b"application/json; charset=UTF-8", len(raw), _GEMINI_HEADERS) + raw


def gemini_stream(chunks: int) -> list[bytes]:
    texts = pieces(chunks)
    frames = []
    for index, text in enumerate(texts):
        last = index == len(texts) - 1
        chunk = gemini_chunk(text, "STOP" if last else None, gemini_usage(final=last))
        frames.append(b"data: " + google_compact(chunk) + b"\r\n\r\n")
    return [stream_head(b"text/event-stream", _GEMINI_HEADERS), *chunked(frames)]


# --------------------------------------------------------------------------------------------------- Bedrock

_BEDROCK_HEADERS = b"x-amzn-RequestId: 5f1c8a0e-bench-4fa1-9c3e-0123456789ab\r\n"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_BEDROCK_USAGE = {
    "inputTokens": PROMPT_TOKENS,
    "outputTokens": COMPLETION_TOKENS,
    "totalTokens": PROMPT_TOKENS + COMPLETION_TOKENS,
}


def aws_json(value: JSONDict) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: total and headers length, prelude CRC, headers, payload, message CRC."""
    header_bytes = b"".join(_string_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(header_bytes) + len(payload) + 4, len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_event(event_type: str, payload: JSONDict, padding: int) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return event_message(headers, aws_json({**payload, "p": _PADDING[:padding]}))


def bedrock_events(chunks: int) -> list[bytes]:
    deltas = [{"contentBlockIndex": 0, "delta": {"text": piece}} for piece in pieces(chunks)]
    return [
        bedrock_event("messageStart", {"role": "assistant"}, 30),
        *(bedrock_event("contentBlockDelta", delta, 1 + 7 * index % 40) for index, delta in enumerate(deltas)),
        bedrock_event("contentBlockStop", {"contentBlockIndex": 0}, 22),
        bedrock_event("messageStop", {"stopReason": "end_turn"}, 11),
        bedrock_event("metadata", {"usage": _BEDROCK_USAGE, "metrics": {"latencyMs": 412}}, 17),
    ]


def bedrock_response() -> bytes:
    message = {"role": "assistant", "content": [{"text": "".join(pieces(COMPLETION_TOKENS))}]}
    body = {"output": {"message": message}, "stopReason": "end_turn", "usage": _BEDROCK_USAGE}
    raw = aws_json({**body, "metrics": {"latencyMs": 412}})
    return json_head(b"application/json", len(raw), _BEDROCK_HEADERS) + raw


def bedrock_stream(chunks: int) -> list[bytes]:
    return [stream_head(b"application/vnd.amazon.eventstream", _BEDROCK_HEADERS), *chunked(bedrock_events(chunks))]
