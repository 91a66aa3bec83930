"""Chat chunk sequences → Responses stream events: exact sequences for text, tool calls (parallel, interleaved,
late names, reused indexes), reasoning (with signed thinking), refusals, incomplete answers and usage. Every event
is validated against the openai SDK's ``ResponseStreamEvent`` union, sequence numbers count from 0 and every
``output_index`` points at its item in the final output."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response, ResponseErrorEvent, ResponseStreamEvent
from pydantic import TypeAdapter

from wardgate.api.responses.translate import ChatChunksToResponseEvents, error_event, sse_frame
from wardgate.api.responses.translate.common import decode_thinking
from wardgate.core.errors import InvalidRequestError, StreamInterruptedError, UpstreamTimeoutError

EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
REQUEST = {"model": "alias", "input": "hi", "stream": True}
USAGE = {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return {
        "id": "chatcmpl-s",
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


def run(*chunks: dict[str, Any], request: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    translator = ChatChunksToResponseEvents(request or REQUEST, response_id="resp_1", created_at=9, model="alias")
    events = translator.start() + [e for c in chunks for e in translator.feed(c)] + translator.finish()
    check_protocol(events, translator.response)
    return events, translator.response


def check_protocol(events: list[dict[str, Any]], final: dict[str, Any]) -> None:
    for number, event in enumerate(events):
        assert event["sequence_number"] == number
        EVENT.validate_python(event)
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    assert events[-1]["response"] is final
    Response.model_validate(final)
    ids = [item["id"] for item in final["output"]]
    for event in events:
        if "item_id" in event:
            assert ids[event["output_index"]] == event["item_id"]
        if event["type"] == "response.output_item.added":
            assert event["output_index"] == ids.index(event["item"]["id"])
        if event["type"] == "response.output_item.done":
            assert final["output"][event["output_index"]] == event["item"]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("response.") for event in events]


def test_text_stream_exact_sequence() -> None:
    events, final = run(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk(finish="stop"),
        chunk(usage=USAGE),
    )
    assert types(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    for start in events[:2]:
        assert start["response"]["status"] == "in_progress" and start["response"]["output"] == []
        assert start["response"]["id"] == "resp_1" and start["response"]["usage"] is None
    item_id = events[2]["item"]["id"]
    assert events[2]["item"] == {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    assert events[3]["part"] == {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    assert events[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    assert events[6]["text"] == "Hello" and events[7]["part"]["text"] == "Hello"
    assert events[8]["item"]["status"] == "completed"
    assert final["status"] == "completed" and final["usage"]["total_tokens"] == 27
    assert Response.model_validate(final).output_text == "Hello"


def test_tool_call_exact_sequence() -> None:
    events, final = run(
        chunk({"role": "assistant", "content": None}),
        chunk(tool(0, call_id="call_1", name="get_weather", args="")),
        chunk(tool(0, args='{"city":')),
        chunk(tool(0, args='"Paris"}')),
        chunk(finish="tool_calls"),
        chunk(usage=USAGE),
    )
    assert types(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    added = events[2]["item"]
    assert {k: added[k] for k in ("type", "call_id", "name", "arguments", "status")} == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": "",
        "status": "in_progress",
    }
    assert added["id"].startswith("fc_")
    assert events[5]["arguments"] == '{"city":"Paris"}'
    assert final["output"][0]["arguments"] == '{"city":"Paris"}' and final["output"][0]["status"] == "completed"


def test_text_then_interleaved_parallel_tool_calls() -> None:
    events, final = run(
        chunk({"content": "Checking both."}),
        chunk(tool(0, call_id="call_a", name="w", args='{"c":')),
        chunk(tool(1, call_id="call_b", name="w", args='{"c":')),
        chunk(tool(0, args='"P"}')),
        chunk(tool(1, args='"L"}')),
        chunk(finish="tool_calls"),
    )
    assert [item["type"] for item in final["output"]] == ["message", "function_call", "function_call"]
    assert [(item.get("call_id"), item.get("arguments")) for item in final["output"][1:]] == [
        ("call_a", '{"c":"P"}'),
        ("call_b", '{"c":"L"}'),
    ]
    message_done = types(events).index("output_item.done")
    assert message_done < types(events).index("output_item.added", 3)  # the message closes before the calls open
    deltas = [(e["output_index"], e["delta"]) for e in events if e["type"].endswith("arguments.delta")]
    assert deltas == [(1, '{"c":'), (2, '{"c":'), (1, '"P"}'), (2, '"L"}')]
    assert final["usage"] is None  # no usage chunk came


def test_late_names_hold_fragments_back_and_reused_indexes_start_new_calls() -> None:
    events, final = run(
        chunk(tool(0, call_id="call_1", args='{"a"')),
        chunk(tool(0, name="first", args=":1}")),
        chunk(tool(0, call_id="call_2", name="second", args="{}")),
        chunk(finish="tool_calls"),
    )
    assert [(i["call_id"], i["name"], i["arguments"]) for i in final["output"]] == [
        ("call_1", "first", '{"a":1}'),
        ("call_2", "second", "{}"),
    ]
    assert events[2]["type"] == "response.output_item.added" and events[3]["delta"] == '{"a":1}'


def test_reasoning_then_text_and_signed_thinking() -> None:
    block = {"type": "thinking", "thinking": "Think.", "signature": "sig"}
    events, final = run(
        chunk({"reasoning_content": "Thi"}),
        chunk({"reasoning_content": "nk."}),
        chunk({"thinking_blocks": [block]}),
        chunk({"content": "Answer"}),
        chunk(finish="stop"),
    )
    assert types(events)[2:9] == [
        "output_item.added",
        "content_part.added",
        "reasoning_text.delta",
        "reasoning_text.delta",
        "reasoning_text.done",
        "content_part.done",
        "output_item.done",
    ]
    reasoning = final["output"][0]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Think."}] and reasoning["summary"] == []
    assert decode_thinking(reasoning["encrypted_content"]) == [block]
    assert events[4]["content_index"] == 0 and events[6]["text"] == "Think."
    assert Response.model_validate(final).output_text == "Answer"


def test_reasoning_after_text_opens_a_new_item_and_vllm_reasoning_field() -> None:
    _, final = run(chunk({"reasoning": "a"}), chunk({"content": "b"}), chunk({"reasoning": "c"}), chunk(finish="stop"))
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "reasoning"]


def test_refusal_and_text_parts_of_one_message() -> None:
    events, final = run(chunk({"content": "Well"}), chunk({"refusal": "No."}), chunk(finish="stop"))
    assert final["output"][0]["content"] == [
        {"type": "output_text", "text": "Well", "annotations": [], "logprobs": []},
        {"type": "refusal", "refusal": "No."},
    ]
    assert "refusal.delta" in types(events) and "refusal.done" in types(events)
    assert [e["content_index"] for e in events if e["type"] == "response.content_part.added"] == [0, 1]


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete_stream(finish: str, reason: str) -> None:
    events, final = run(chunk({"content": "Cut"}), chunk(finish=finish), chunk(usage=USAGE))
    assert events[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": reason}
    assert final["output"][0]["status"] == "incomplete" and final["usage"]["output_tokens"] == 7


def test_logprobs_ride_on_text_deltas() -> None:
    entry = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    events, final = run(
        {**chunk(), "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": {"content": [entry]}}]},
        chunk(finish="stop"),
    )
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    expected = [{"token": "Hi", "bytes": [72, 105], "logprob": -0.5, "top_logprobs": []}]
    assert delta["logprobs"] == expected and final["output"][0]["content"][0]["logprobs"] == expected


def test_lifecycle_calls() -> None:
    translator = ChatChunksToResponseEvents(REQUEST, response_id="resp_1", created_at=9, model="alias")
    first = translator.feed(chunk({"content": "x"}))
    assert [e["type"] for e in first[:2]] == ["response.created", "response.in_progress"]
    assert translator.start() == []
    assert translator.response["status"] == "in_progress"
    assert translator.finish()[-1]["type"] == "response.completed"
    assert translator.finish() == [] and translator.feed(chunk({"content": "late"})) == []
    assert translator.response["status"] == "completed"


def test_empty_stream_completes_with_no_output() -> None:
    events, final = run(chunk(finish="stop"))
    assert types(events) == ["created", "in_progress", "completed"] and final["output"] == []


def test_a_tool_call_that_never_got_a_name_breaks_the_stream() -> None:
    translator = ChatChunksToResponseEvents(REQUEST, response_id="resp_1", created_at=9, model="alias")
    translator.feed(chunk(tool(0, call_id="call_1", args="{}")))
    with pytest.raises(StreamInterruptedError):
        translator.feed(chunk(finish="tool_calls"))


def test_error_event_and_sse_frame() -> None:
    event = error_event(UpstreamTimeoutError("The provider stopped answering."), 17)
    assert event == {
        "type": "error",
        "sequence_number": 17,
        "code": "upstream_timeout",
        "message": "The provider stopped answering.",
        "param": None,
        "error": {
            "type": "timeout",
            "code": "upstream_timeout",
            "message": "The provider stopped answering.",
            "param": None,
        },
    }
    assert isinstance(EVENT.validate_python(event), ResponseErrorEvent)
    coded = error_event(InvalidRequestError("bad", param="input"), 0)
    assert (coded["code"], coded["param"]) == ("invalid_request_error", "input")
    assert sse_frame("error", {"type": "error", "a": 1}) == b'event: error\ndata: {"type":"error","a":1}\n\n'
