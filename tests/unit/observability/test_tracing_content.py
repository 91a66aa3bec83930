"""Content for spans (only with ``capture_content``): OpenAI chat messages in the GenAI conventions' shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from wardgate.observability.tracing_content import StreamCapture, input_attributes, output_messages


def test_input_messages_of_every_kind() -> None:
    body = {
        "messages": [
            {"role": "developer", "content": "Answer in French."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"q": "cat"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ]
    }
    found = input_attributes(body, 1000)
    assert orjson.loads(found["gen_ai.system_instructions"]) == [{"type": "text", "content": "Answer in French."}]
    assert orjson.loads(found["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                {"type": "image"},  # inline bytes never go into a span
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {"q": "cat"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]},
    ]
    assert "AAAA" not in found["gen_ai.input.messages"]


def test_texts_are_cut_to_the_limit() -> None:
    found = input_attributes({"messages": [{"role": "user", "content": "x" * 500}]}, 100)
    assert orjson.loads(found["gen_ai.input.messages"])[0]["parts"][0]["content"] == "x" * 100
    assert input_attributes({"input": "not a chat"}, 100) == {}


def test_output_messages_of_a_whole_answer() -> None:
    parsed = {
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Bonjour"}},
            {
                "index": 1,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "not json"}}],
                },
            },
        ]
    }
    assert orjson.loads(output_messages(parsed, 1000) or "") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Bonjour"}], "finish_reason": "stop"},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c", "name": "f", "arguments": "not json"}],
            "finish_reason": "tool_calls",
        },
    ]
    assert output_messages({"data": []}, 10) is None


async def _events(items: list[Any]) -> AsyncIterator[bytes]:
    for item in items:
        yield item if isinstance(item, bytes) else orjson.dumps(item)


async def test_a_stream_is_relayed_unchanged_and_its_answer_assembled() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return {"id": "chatcmpl-9", "model": "gpt-4o-2024", "choices": [choice]}

    call = {"index": 0, "id": "call_7", "function": {"name": "get", "arguments": '{"a"'}}
    items: list[Any] = [
        chunk({"role": "assistant", "content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [call]}, index=1),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, index=1),
        chunk({}, "stop"),
        chunk({}, "tool_calls", index=1),
        {"id": "chatcmpl-9", "choices": [], "usage": {"prompt_tokens": 1}},
        b"not json at all",
    ]
    capture = StreamCapture(_events(items))
    relayed = [item async for item in capture]
    assert relayed == [item if isinstance(item, bytes) else orjson.dumps(item) for item in items]
    assert (capture.model, capture.response_id, capture.finish_reasons) == (
        "gpt-4o-2024",
        "chatcmpl-9",
        ["stop", "tool_calls"],
    )
    assert orjson.loads(capture.output(1000)) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_7", "name": "get", "arguments": {"a": 1}}],
            "finish_reason": "tool_calls",
        },
    ]


async def test_a_cut_stream_reports_error_as_its_finish_reason() -> None:
    capture = StreamCapture(_events([{"model": "m", "choices": [{"index": 0, "delta": {"content": "par"}}]}]))
    assert [item async for item in capture]
    assert capture.finish_reasons == ["error"]
    assert orjson.loads(capture.output(10))[0]["finish_reason"] == "error"
