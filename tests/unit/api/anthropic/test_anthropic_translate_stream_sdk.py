"""The ``anthropic`` SDK's own stream accumulator run over the translator's SSE bytes (through an in-memory
transport): the final message equals ``openai_to_anthropic_response`` of the same completion, and an Anthropic
stream that went Anthropic → OpenAI chunks (the provider translator) → Anthropic events accumulates to exactly
what the original stream does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import Message

from wardgate.api.anthropic.translate import OpenAIChunksToAnthropicEvents, openai_to_anthropic_response, sse_frame
from wardgate.providers.anthropic import AnthropicStreamTranslator
from wardgate.providers.translate import TranslationContext

MODEL = "claude-via-gateway"


def sdk_final_message(sse: bytes) -> Any:
    """What ``client.messages.stream(...).get_final_message()`` makes of ``sse``."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


def translated_sse(chunks: list[dict[str, Any]]) -> bytes:
    translator = OpenAIChunksToAnthropicEvents(model=MODEL)
    events = [event for chunk in chunks for event in translator.feed(chunk)] + translator.finish()
    return b"".join(sse_frame(name, data) for name, data in events)


def pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def chunks_for(completion: dict[str, Any], size: int = 3) -> list[dict[str, Any]]:
    """A realistic OpenAI stream for ``completion``: role chunk, reasoning, signed blocks, text and tool-call
    fragments of ``size`` characters, the finish chunk, then the usage chunk."""
    choice, message = completion["choices"][0], completion["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": p} for p in pieces(message.get("reasoning_content") or "", size)]
    deltas += [{"thinking_blocks": [block]} for block in message.get("thinking_blocks") or []]
    deltas += [{"content": p} for p in pieces(message.get("content") or "", size)]
    deltas += [{"refusal": p} for p in pieces(message.get("refusal") or "", size)]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
        deltas.append({"tool_calls": [{**head, "function": {**head["function"], "arguments": ""}}]})
        for part in pieces(call["function"]["arguments"], size):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    base = {"id": completion["id"], "object": "chat.completion.chunk", "created": 1, "model": "up"}
    out = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    last = {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}
    if "stop_reason" in choice:
        last["stop_reason"] = choice["stop_reason"]
    out.append({**base, "choices": [last]})
    if "usage" in completion:
        out.append({**base, "choices": [], "usage": completion["usage"]})
    return out


def completion(message: dict[str, Any], finish: str, **choice_extra: Any) -> dict[str, Any]:
    usage = {
        "prompt_tokens": 900,
        "completion_tokens": 120,
        "total_tokens": 1020,
        "prompt_tokens_details": {"cached_tokens": 500, "cache_creation_tokens": 300},
        "completion_tokens_details": {"reasoning_tokens": 40},
    }
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice_extra}
    return {
        "id": "chatcmpl-equiv",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [choice],
        "usage": usage,
    }


CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris", "days": [1, 2]}'},
    },
    {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": ""}},
    {"id": "call_3", "type": "function", "function": {"name": "note", "arguments": '{"text": "é ✓ \\"q\\""}'}},
]
SIGNED = [
    {"type": "thinking", "thinking": "First, weather.", "signature": "c2lnLTE="},
    {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
]
CASES = {
    "text": completion({"content": "The quick brown fox jumps over the lazy dog."}, "stop"),
    "parallel tools": completion({"content": "Let me check.", "tool_calls": CALLS}, "tool_calls"),
    "tools only": completion({"content": None, "tool_calls": CALLS[:1]}, "tool_calls"),
    "signed thinking": completion(
        {
            "content": "Calling.",
            "reasoning_content": "First, weather.",
            "thinking_blocks": SIGNED,
            "tool_calls": CALLS[1:],
        },
        "tool_calls",
    ),
    "unsigned reasoning": completion({"content": "42.", "reasoning_content": "6 times 7 is 42."}, "stop"),
    "max tokens": completion({"content": "It was the best of"}, "length"),
    "stop sequence": completion({"content": "1, 2, 3"}, "stop", stop_reason="###"),
    "refusal": completion({"content": None, "refusal": "I can't help with that."}, "stop"),
    "content filter": completion({"content": ""}, "content_filter"),
}


@pytest.mark.parametrize("size", [1, 4, 1000])
@pytest.mark.parametrize("case", list(CASES))
def test_sdk_accumulates_the_same_message_as_the_non_streamed_translation(case: str, size: int) -> None:
    body = CASES[case]
    expected = Message.model_validate(openai_to_anthropic_response(body, model=MODEL))
    final = sdk_final_message(translated_sse(chunks_for(body, size)))
    assert final.model_dump(exclude_none=True) == expected.model_dump(exclude_none=True)


def test_the_cache_ttl_split_is_the_one_thing_a_stream_cannot_carry() -> None:
    body = CASES["text"]
    body = {
        **body,
        "usage": {
            **body["usage"],
            "prompt_tokens_details": {"cache_creation_tokens": 300, "cache_creation_1h_tokens": 300},
        },
    }
    expected = openai_to_anthropic_response(body, model=MODEL)
    final = sdk_final_message(translated_sse(chunks_for(body))).model_dump(exclude_none=True)
    assert expected["usage"].pop("cache_creation") == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 300}
    assert final == Message.model_validate(expected).model_dump(exclude_none=True)


# ------------------------------------------------------------------- Anthropic → OpenAI → Anthropic stream


def anthropic_stream() -> bytes:
    """A stream as Anthropic sends it: thinking (signed), text, two tool calls, usage split over start and delta."""
    usage = {
        "input_tokens": 30,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
        "output_tokens": 1,
    }
    message = {
        "id": "msg_01RT",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}, {"type": "ping"}]

    def block(index: int, start: dict[str, Any], *deltas: dict[str, Any]) -> None:
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})

    block(
        0,
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "thinking_delta", "thinking": "Two cities, "},
        {"type": "thinking_delta", "thinking": "two calls."},
        {"type": "signature_delta", "signature": "EqQBCkYIARgCIkA="},
    )
    block(
        1,
        {"type": "text", "text": ""},
        {"type": "text_delta", "text": "Checking "},
        {"type": "text_delta", "text": "both."},
    )
    block(
        2,
        {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}},
        {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        {"type": "input_json_delta", "partial_json": 'ris"}'},
    )
    block(3, {"type": "tool_use", "id": "toolu_B", "name": "clock", "input": {}})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 85},
        }
    )
    events.append({"type": "message_stop"})
    return b"".join(sse_frame(e["type"], e) for e in events)


def test_an_anthropic_stream_survives_the_round_trip_through_openai_chunks() -> None:
    original = anthropic_stream()
    ctx = TranslationContext(
        upstream_model="claude-up",
        request_model=MODEL,
        response_id="chatcmpl-01RT",
        created=1,
        stream=True,
        include_usage=True,
    )
    provider = AnthropicStreamTranslator(ctx)
    chunks = [chunk for piece in pieces(original.decode(), 7) for chunk in provider.feed(piece.encode())]
    chunks += provider.finish()
    chunks = [orjson.loads(orjson.dumps(chunk)) for chunk in chunks]  # as the wire delivers them
    expected = sdk_final_message(original).model_dump(exclude_none=True)
    assert sdk_final_message(translated_sse(chunks)).model_dump(exclude_none=True) == expected
    assert [block["type"] for block in expected["content"]] == ["thinking", "text", "tool_use", "tool_use"]
