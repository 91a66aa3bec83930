"""``chat.completion`` → Anthropic ``Message``: content order, thinking (signed, redacted, unsigned), tool calls,
stop reasons, usage, validity for the ``anthropic`` SDK, and the round trip Anthropic → OpenAI → Anthropic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.types import Message

from wardgate.api.anthropic.translate import openai_to_anthropic_response
from wardgate.core.errors import UpstreamStatusError
from wardgate.providers.anthropic import anthropic_to_openai
from wardgate.providers.translate import TranslationContext

MODEL = "claude-via-gateway"


def completion(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, "logprobs": None}
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [choice],
        **extra,
    }


def translate(body: dict[str, Any]) -> dict[str, Any]:
    result = openai_to_anthropic_response(body, model=MODEL)
    Message.model_validate(result)
    return result


def test_plain_text_answer() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert translate(completion({"content": "Hello!"}, usage=usage)) == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 5,
        },
    }


@pytest.mark.parametrize(
    ("chat_id", "expected"), [("chatcmpl-xyz", "msg_xyz"), ("resp_1", "msg_resp_1"), ("msg_keep", "msg_keep")]
)
def test_message_ids(chat_id: str, expected: str) -> None:
    assert translate({**completion({"content": "x"}), "id": chat_id})["id"] == expected


def test_missing_id_gets_a_fresh_one() -> None:
    body = completion({"content": "x"})
    del body["id"]
    assert translate(body)["id"].startswith("msg_")


def test_empty_answer_has_no_blocks() -> None:
    assert translate(completion({"content": ""}))["content"] == []
    assert translate(completion({"content": None}))["content"] == []


def test_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert translate(completion({"content": parts}))["content"] == [{"type": "text", "text": "ab"}]


def test_blocks_come_in_anthropic_order() -> None:
    message = {
        "content": "Checking.",
        "reasoning_content": "ignored when thinking_blocks exist",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Plan.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
        ],
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"q": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": ""}},
        ],
    }
    result = translate(completion(message, "tool_calls"))
    assert result["content"] == [
        {"type": "thinking", "thinking": "Plan.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "a", "input": {"q": 1}},
        {"type": "tool_use", "id": "call_2", "name": "b", "input": {}},
    ]
    assert result["stop_reason"] == "tool_use"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_unsigned_reasoning_becomes_a_thinking_block_with_an_empty_signature(field: str) -> None:
    result = translate(completion({"content": "42", field: "Because."}))
    assert result["content"][0] == {"type": "thinking", "thinking": "Because.", "signature": ""}


def test_tool_call_without_id_gets_one() -> None:
    call = {"type": "function", "function": {"name": "a", "arguments": {"x": 1}}}
    block = translate(completion({"content": None, "tool_calls": [call]}, "tool_calls"))["content"][0]
    assert block["id"].startswith("toolu_") and block["input"] == {"x": 1}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"', 5])
def test_tool_arguments_that_are_not_an_object_make_the_answer_unusable(arguments: Any) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "a", "arguments": arguments}}
    with pytest.raises(UpstreamStatusError):
        openai_to_anthropic_response(completion({"content": None, "tool_calls": [call]}, "tool_calls"), model=MODEL)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "choices": []},
        {"id": "x"},
        {"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]},
        {"id": "x", "choices": [{"index": 0, "message": {"tool_calls": [{"id": "c", "function": {}}]}}]},
    ],
)
def test_unusable_completions(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamStatusError):
        openai_to_anthropic_response(body, model=MODEL)


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("something_new", "end_turn"),
    ],
)
def test_stop_reasons(finish: str | None, expected: str) -> None:
    assert translate(completion({"content": "x"}, finish))["stop_reason"] == expected


def test_stop_with_tool_calls_is_tool_use() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "a", "arguments": "{}"}}
    assert translate(completion({"content": None, "tool_calls": [call]}, "stop"))["stop_reason"] == "tool_use"


def test_matched_stop_sequence_when_the_provider_names_it() -> None:
    body = completion({"content": "1, 2, 3"})
    body["choices"][0]["stop_reason"] = "###"
    result = translate(body)
    assert (result["stop_reason"], result["stop_sequence"]) == ("stop_sequence", "###")
    body["choices"][0]["finish_reason"] = "length"
    assert translate(body)["stop_sequence"] is None


def test_refusal_is_text_and_a_refusal_stop() -> None:
    result = translate(completion({"content": None, "refusal": "I can't help with that."}))
    assert result["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert result["stop_reason"] == "refusal"


def test_usage_splits_cache_reads_and_writes_out_of_the_prompt() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 300,
        "total_tokens": 1300,
        "prompt_tokens_details": {
            "cached_tokens": 600,
            "cache_creation_tokens": 150,
            "cache_creation_5m_tokens": 100,
            "cache_creation_1h_tokens": 50,
        },
        "completion_tokens_details": {"reasoning_tokens": 120},
    }
    assert translate(completion({"content": "x"}, usage=usage))["usage"] == {
        "input_tokens": 250,
        "cache_creation_input_tokens": 150,
        "cache_read_input_tokens": 600,
        "output_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50},
        "output_tokens_details": {"thinking_tokens": 120},
    }


def test_missing_or_odd_usage_counts_zero() -> None:
    zero = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}
    assert translate(completion({"content": "x"}))["usage"] == zero
    odd = {"prompt_tokens": None, "completion_tokens": "5", "prompt_tokens_details": None}
    assert translate(completion({"content": "x"}, usage=odd))["usage"] == zero


# ------------------------------------------------------------------------------------------- round trip

ORIGINAL: dict[str, Any] = {
    "id": "msg_01XYZ",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [
        {"type": "thinking", "thinking": "The user wants two cities.", "signature": "EqQBCkYIBxgCKkD"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "text", "text": "Let me check both."},
        {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris", "days": [1, 2]}},
        {"type": "tool_use", "id": "toolu_01B", "name": "weather", "input": {}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 40,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 2000,
        "output_tokens": 90,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000},
        "output_tokens_details": {"thinking_tokens": 30},
    },
}


@pytest.mark.parametrize(
    "original",
    [
        ORIGINAL,
        {**ORIGINAL, "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn"},
        {**ORIGINAL, "content": [{"type": "text", "text": "Cut"}], "stop_reason": "max_tokens"},
        {**ORIGINAL, "content": [], "stop_reason": "refusal"},
    ],
)
def test_round_trip_through_the_anthropic_provider_is_lossless(original: dict[str, Any]) -> None:
    Message.model_validate(original)
    ctx = TranslationContext(upstream_model="claude-up", request_model=MODEL, response_id="chatcmpl-01XYZ", created=1)
    canonical = anthropic_to_openai(orjson.dumps(original), ctx)
    back = openai_to_anthropic_response(canonical, model=MODEL)
    assert back == original
