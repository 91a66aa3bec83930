"""The Anthropic stream state machine and response translator at their edges: truncated streams, error events,
malformed frames, protocol oddities, and response bodies that are not messages."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.core.errors import (
    RateLimitError,
    StreamInterruptedError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)
from wardgate.providers.anthropic import AnthropicAdapter, AnthropicStreamTranslator, anthropic_to_openai
from wardgate.providers.translate import TranslationContext


def ctx(include_usage: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model="claude-test",
        request_model="m",
        response_id="id",
        created=1,
        stream=True,
        include_usage=include_usage,
    )


def frame(payload: dict[str, Any]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


START = frame(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-test",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }
)
TEXT_START = frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
HELLO = frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}})
TEXT_STOP = frame({"type": "content_block_stop", "index": 0})
END = frame(
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }
)
STOP = frame({"type": "message_stop"})
COMPLETE = START + TEXT_START + HELLO + TEXT_STOP + END + STOP


def run(data: bytes, include_usage: bool = False) -> list[dict[str, Any]]:
    translator = AnthropicStreamTranslator(ctx(include_usage))
    chunks = translator.feed(data) + translator.finish()
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


@pytest.mark.parametrize("cut", [0, len(START), len(START + TEXT_START + HELLO), len(COMPLETE) - len(STOP)])
def test_a_stream_that_ends_before_message_stop_is_interrupted(cut: int) -> None:
    translator = AnthropicStreamTranslator(ctx())
    translator.feed(COMPLETE[:cut])
    with pytest.raises(StreamInterruptedError):
        translator.finish()


def test_a_complete_stream_without_usage_has_no_usage_key() -> None:
    chunks = run(COMPLETE)
    assert all("usage" not in c for c in chunks)
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, UpstreamUnavailableError, 503),
        ({"type": "rate_limit_error", "message": "slow down"}, RateLimitError, 429),
        ({"type": "api_error", "message": "Internal server error"}, UpstreamStatusError, 502),
        ({"type": "invalid_request_error", "message": "bad"}, UpstreamRejectedError, 400),
    ],
)
def test_an_error_event_raises_the_mapped_error(error: dict[str, Any], expected: type[Exception], status: int) -> None:
    translator = AnthropicStreamTranslator(ctx())
    assert translator.feed(START + TEXT_START + HELLO)
    with pytest.raises(expected) as info:
        translator.feed(frame({"type": "error", "error": error}))
    assert getattr(info.value, "http_status", None) == status


@pytest.mark.parametrize(
    "bad",
    [
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n',
        b"event: message_delta\ndata: [1, 2]\n\n",
        frame({"type": "content_block_delta", "index": 5, "delta": {"type": "text_delta", "text": "x"}}),
        frame({"type": "content_block_start", "index": "zero", "content_block": {"type": "text", "text": ""}}),
    ],
)
def test_malformed_frames_interrupt_the_stream(bad: bytes) -> None:
    translator = AnthropicStreamTranslator(ctx())
    translator.feed(START + TEXT_START)
    with pytest.raises(StreamInterruptedError):
        translator.feed(bad)


def test_unknown_events_pings_and_citations_are_ignored_and_nothing_follows_message_stop() -> None:
    extra = (
        b'event: ping\ndata: {"type": "ping"}\n\n'
        + frame({"type": "brand_new_event", "data": 1})
        + frame({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}})
    )
    data = START + TEXT_START + extra + HELLO + TEXT_STOP + END + STOP + HELLO + STOP
    assert deltas(run(data)) == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {}]


def test_usage_counts_are_cumulative_and_later_values_win() -> None:
    later = frame(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 9},
        }
    )
    chunks = run(START + TEXT_START + HELLO + TEXT_STOP + END + later + STOP, include_usage=True)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["prompt_tokens_details"]["cached_tokens"]) == (
        112,
        9,
        100,
    )


def test_role_chunk_comes_first_even_without_message_start() -> None:
    chunks = run(TEXT_START + HELLO + TEXT_STOP + END + STOP)
    assert deltas(chunks)[0] == {"role": "assistant", "content": ""}


def test_tool_use_started_with_input_and_redacted_thinking() -> None:
    data = (
        START
        + frame(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "redacted_thinking", "data": "opaque"},
            }
        )
        + frame({"type": "content_block_stop", "index": 0})
        + frame(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            }
        )
        + frame({"type": "content_block_stop", "index": 1})
        + frame({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}})
        + STOP
    )
    chunks = run(data)
    assert deltas(chunks)[1:] == [
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]},
        {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_adapter_returns_a_fresh_translator_per_stream() -> None:
    adapter = AnthropicAdapter()
    first, second = adapter.chat_stream(ctx()), adapter.chat_stream(ctx())
    assert first is not second
    first.feed(COMPLETE)
    with pytest.raises(StreamInterruptedError):
        second.finish()


# ------------------------------------------------------------------------------------------- responses


def response(content: list[dict[str, Any]], stop_reason: str) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("pause_turn", "stop"), ("model_context_window_exceeded", "length"), ("something_new", "stop")],
)
def test_more_stop_reasons(stop_reason: str, finish: str) -> None:
    out = anthropic_to_openai(response([{"type": "text", "text": "x"}], stop_reason), ctx())
    assert out["choices"][0]["finish_reason"] == finish


def test_only_tool_calls_means_null_content_and_server_blocks_are_skipped() -> None:
    blocks = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ]
    out = anthropic_to_openai(response(blocks, "tool_use"), ctx())
    ChatCompletion.model_validate(out)
    message = out["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "message"}', b'{"content": "text"}'])
def test_unusable_response_bodies(body: bytes) -> None:
    with pytest.raises(UpstreamStatusError):
        anthropic_to_openai(body, ctx())


def test_an_error_body_with_status_200_is_mapped() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(UpstreamUnavailableError):
        anthropic_to_openai(body, ctx())
