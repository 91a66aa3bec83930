"""OpenAI chunk sequences → Anthropic stream events: exact sequences for text, tools (fragments, parallel calls,
late names, reused indexes), thinking (signed, unsigned, redacted), usage timing and edge cases. Every event is
validated against the ``anthropic`` SDK's ``RawMessageStreamEvent`` and the block protocol is checked."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from wardgate.api.anthropic.translate import Event, OpenAIChunksToAnthropicEvents, sse_frame
from wardgate.core.errors import StreamInterruptedError

MODEL = "claude-via-gateway"
EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
USAGE = {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": choices,
        **extra,
    }


def tool(index: int, *, call_id: str | None = None, name: str | None = None, args: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {}}
    if call_id is not None:
        call.update(id=call_id, type="function")
    if name is not None:
        call["function"]["name"] = name
    if args is not None:
        call["function"]["arguments"] = args
    return {"tool_calls": [call]}


def run(*chunks: dict[str, Any]) -> list[Event]:
    translator = OpenAIChunksToAnthropicEvents(model=MODEL)
    events = [event for c in chunks for event in translator.feed(c)] + translator.finish()
    check_protocol(events)
    return events


def check_protocol(events: list[Event]) -> None:
    """Names match types, every event is a valid SDK event, and blocks open, fill and close one at a time."""
    for name, data in events:
        assert name == data["type"]
        EVENT.validate_python(data)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_index, next_index = None, 0
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        else:
            assert name in ("content_block_delta", "content_block_stop") and data["index"] == open_index
            if name == "content_block_stop":
                open_index = None
    assert open_index is None


def deltas(events: list[Event]) -> list[tuple[int, dict[str, Any]]]:
    return [(data["index"], data["delta"]) for name, data in events if name == "content_block_delta"]


def starts(events: list[Event]) -> list[dict[str, Any]]:
    return [data["content_block"] for name, data in events if name == "content_block_start"]


def test_text_stream_exact_sequence() -> None:
    events = run(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        chunk(usage=USAGE),
    )
    zero = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}
    message = {
        "id": "msg_s1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": zero,
    }
    usage = {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 7}
    assert events == [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": usage},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_the_usage_chunk_completes_the_message_and_finish_adds_nothing() -> None:
    translator = OpenAIChunksToAnthropicEvents(model=MODEL)
    translator.feed(chunk({"content": "x"}))
    assert [name for name, _ in translator.feed(chunk({}, "stop"))] == ["content_block_stop"]
    assert [name for name, _ in translator.feed(chunk(usage=USAGE))] == ["message_delta", "message_stop"]
    assert translator.finish() == []
    assert translator.feed(chunk({"content": "late"})) == []


def test_without_a_usage_chunk_finish_closes_with_zero_usage() -> None:
    events = run(chunk({"content": "x"}), chunk({}, "length"))
    _, data = events[-2]
    assert data["delta"]["stop_reason"] == "max_tokens" and data["usage"]["output_tokens"] == 0


def test_usage_on_the_first_chunk_reaches_message_start() -> None:
    first = chunk({"role": "assistant"}, usage={"prompt_tokens": 50, "completion_tokens": 0})
    events = run(first, chunk({"content": "x"}, "stop"))
    assert events[0][1]["message"]["usage"]["input_tokens"] == 50


def test_an_empty_stream_is_a_complete_empty_message() -> None:
    events = run()
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]


def test_tool_call_fragments_become_input_json_deltas() -> None:
    events = run(
        chunk({"role": "assistant", "content": None}),
        chunk(tool(0, call_id="call_1", name="weather", args="")),
        chunk(tool(0, args='{"ci')),
        chunk(tool(0, args='ty": "Paris"}')),
        chunk({}, "tool_calls"),
        chunk(usage=USAGE),
    )
    assert starts(events) == [{"type": "tool_use", "id": "call_1", "name": "weather", "input": {}}]
    assert deltas(events) == [
        (0, {"type": "input_json_delta", "partial_json": '{"ci'}),
        (0, {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'}),
    ]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_text_then_parallel_tools_each_get_their_own_block() -> None:
    events = run(
        chunk({"content": "Checking both."}),
        chunk(tool(0, call_id="call_a", name="weather", args='{"city":')),
        chunk(tool(0, args='"Paris"}')),
        chunk(tool(1, call_id="call_b", name="time", args='{"tz": "CET"}')),
        chunk({}, "tool_calls"),
    )
    names = [(name, data.get("index")) for name, data in events[1:-2]]
    assert names == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
    ]
    assert [block.get("id") for block in starts(events)] == [None, "call_a", "call_b"]


def test_whole_tool_calls_in_one_chunk() -> None:
    calls = [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
        {"index": 1, "id": "c2", "type": "function", "function": {"name": "b", "arguments": {"y": 2}}},
    ]
    events = run(chunk({"tool_calls": calls}, "tool_calls"))
    assert [(i, d["partial_json"]) for i, d in deltas(events)] == [(0, '{"x":1}'), (1, '{"y":2}')]


def test_a_provider_reusing_index_zero_for_each_call_gets_separate_blocks() -> None:
    events = run(
        chunk(tool(0, call_id="c1", name="a", args="{}")),
        chunk(tool(0, call_id="c2", name="b", args="{}")),
        chunk({}, "stop"),
    )
    assert [block["id"] for block in starts(events)] == ["c1", "c2"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_a_late_tool_name_defers_the_block_and_keeps_the_arguments() -> None:
    events = run(
        chunk(tool(0, call_id="c1", args='{"a"')),
        chunk(tool(0, name="lookup", args=": 1}")),
        chunk({}, "tool_calls"),
    )
    assert starts(events) == [{"type": "tool_use", "id": "c1", "name": "lookup", "input": {}}]
    assert deltas(events) == [(0, {"type": "input_json_delta", "partial_json": '{"a": 1}'})]


def test_missing_index_and_id_follow_the_last_call() -> None:
    first = {"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{"}}]}
    rest = {"tool_calls": [{"function": {"arguments": "}"}}]}
    events = run(chunk(first), chunk(rest), chunk({}, "tool_calls"))
    assert [d["partial_json"] for _, d in deltas(events)] == ["{", "}"]


def test_a_tool_call_that_never_gets_a_name_is_an_interrupted_stream() -> None:
    translator = OpenAIChunksToAnthropicEvents(model=MODEL)
    translator.feed(chunk(tool(0, call_id="c1", args="{}")))
    translator.feed(chunk({}, "tool_calls"))
    with pytest.raises(StreamInterruptedError):
        translator.finish()


def test_more_arguments_after_the_block_closed_is_an_interrupted_stream() -> None:
    translator = OpenAIChunksToAnthropicEvents(model=MODEL)
    translator.feed(chunk(tool(0, call_id="c1", name="a", args="{")))
    translator.feed(chunk(tool(1, call_id="c2", name="b", args="{}")))
    translator.feed(chunk(tool(0, args="")))  # an empty fragment is harmless
    with pytest.raises(StreamInterruptedError):
        translator.feed(chunk(tool(0, args="}")))


def test_reasoning_then_a_signed_block_then_text() -> None:
    events = run(
        chunk({"reasoning_content": "Let me "}),
        chunk({"reasoning_content": "think."}),
        chunk({"thinking_blocks": [{"type": "thinking", "thinking": "Let me think.", "signature": "sig=="}]}),
        chunk({"content": "42"}, "stop"),
    )
    assert starts(events) == [{"type": "thinking", "thinking": "", "signature": ""}, {"type": "text", "text": ""}]
    assert deltas(events) == [
        (0, {"type": "thinking_delta", "thinking": "Let me "}),
        (0, {"type": "thinking_delta", "thinking": "think."}),
        (0, {"type": "signature_delta", "signature": "sig=="}),
        (1, {"type": "text_delta", "text": "42"}),
    ]


def test_a_signed_block_with_more_text_than_was_streamed_sends_the_rest() -> None:
    events = run(
        chunk({"reasoning_content": "Part"}),
        chunk({"thinking_blocks": [{"type": "thinking", "thinking": "Partial and more", "signature": "s"}]}),
    )
    assert [d for _, d in deltas(events)][1] == {"type": "thinking_delta", "thinking": "ial and more"}


def test_whole_thinking_blocks_and_redacted_ones() -> None:
    blocks = [
        {"type": "thinking", "thinking": "One.", "signature": "s1"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "bogus"},
    ]
    events = run(chunk({"thinking_blocks": blocks}), chunk({"content": "ok"}, "stop"))
    assert starts(events) == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": ""},
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_unsigned_reasoning_closes_without_a_signature(field: str) -> None:
    events = run(chunk({field: "Hmm."}), chunk({"content": "Yes."}, "stop"))
    assert [d["type"] for _, d in deltas(events)] == ["thinking_delta", "text_delta"]


def test_refusal_deltas_are_text_with_a_refusal_stop() -> None:
    events = run(chunk({"refusal": "I can't."}), chunk({}, "stop"))
    assert deltas(events) == [(0, {"type": "text_delta", "text": "I can't."})]
    assert events[-2][1]["delta"]["stop_reason"] == "refusal"


def test_a_named_stop_sequence() -> None:
    last = chunk({}, "stop")
    last["choices"][0]["stop_reason"] = "###"
    events = run(chunk({"content": "1 2 3"}), last)
    assert events[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "###"}


def test_other_choices_and_junk_are_ignored() -> None:
    other = {"id": "chatcmpl-s1", "choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": None}]}
    events = run(other, chunk({"content": "mine", "tool_calls": ["junk"]}), {"choices": "junk"}, chunk({}, "stop"))
    assert deltas(events) == [(0, {"type": "text_delta", "text": "mine"})]


def test_final_usage_with_cache_and_reasoning_tokens() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 10, "cache_creation_1h_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 25},
    }
    events = run(chunk({"content": "x"}, "stop", usage=usage))
    assert events[-2][1]["usage"] == {
        "input_tokens": 30,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 60,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 25},
    }


def test_sse_frame() -> None:
    assert (
        sse_frame("message_stop", {"type": "message_stop"}) == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert sse_frame("x", {"t": "é\n"}) == b'event: x\ndata: {"t":"\xc3\xa9\\n"}\n\n'
