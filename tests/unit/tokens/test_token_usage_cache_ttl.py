"""Anthropic's 1-hour cache writes (``usage.cache_creation.ephemeral_1h_input_tokens``) are read from whole bodies and
from streams, so they can be priced at 2x input instead of the 5-minute 1.25x."""

from __future__ import annotations

from typing import Any

import anthropic.types as at
import orjson

from wardgate.providers.anthropic.response import openai_usage
from wardgate.tokens.usage import StreamUsage, Usage, usage_from_body


def message(**usage: Any) -> at.Message:
    return at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=at.Usage(**usage),
    )


def sse(event: Any) -> bytes:
    payload = event.model_dump(mode="json", exclude_none=True)
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


WRITES = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 3_000,
    "cache_creation": at.CacheCreation(ephemeral_5m_input_tokens=2_000, ephemeral_1h_input_tokens=1_000),
    "output_tokens": 5,
}


def test_body_reports_1h_writes() -> None:
    body = orjson.dumps(message(**WRITES).model_dump(mode="json", exclude_none=True))
    assert usage_from_body("anthropic", body) == Usage(
        input_tokens=3_010, output_tokens=5, cache_write_tokens=3_000, cache_write_1h_tokens=1_000
    )


def test_stream_reports_1h_writes() -> None:
    meter = StreamUsage("anthropic")
    meter.feed(sse(at.RawMessageStartEvent(type="message_start", message=message(**WRITES))))
    delta = at.RawMessageDeltaEvent(
        type="message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},  # type: ignore[arg-type]
        usage=at.MessageDeltaUsage(output_tokens=40),
    )
    meter.feed(sse(delta))
    assert meter.usage == Usage(
        input_tokens=3_010, output_tokens=40, cache_write_tokens=3_000, cache_write_1h_tokens=1_000
    )


def test_1h_writes_never_exceed_all_writes_and_default_to_none() -> None:
    odd = {"input_tokens": 1, "cache_creation_input_tokens": 5, "cache_creation": {"ephemeral_1h_input_tokens": 9}}
    usage = usage_from_body("anthropic", orjson.dumps({"usage": odd}))
    assert usage is not None and usage.cache_write_1h_tokens == 5
    plain = usage_from_body("anthropic", orjson.dumps({"usage": {"input_tokens": 1, "cache_creation_input_tokens": 5}}))
    assert plain is not None and plain.cache_write_1h_tokens == 0


def test_translated_openai_usage_keeps_1h_writes() -> None:
    """Anthropic usage the gateway translated to the OpenAI dialect still says which writes were 1-hour ones."""
    anthropic_usage = message(**WRITES).usage.model_dump(mode="json", exclude_none=True)
    translated = orjson.dumps({"usage": openai_usage(anthropic_usage)})
    assert usage_from_body("openai", translated) == Usage(
        input_tokens=3_010, output_tokens=5, cache_write_tokens=3_000, cache_write_1h_tokens=1_000
    )
