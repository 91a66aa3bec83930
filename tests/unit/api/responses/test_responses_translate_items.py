"""``input_items`` normalisation (every item validated as the openai SDK's ``ResponseItem``, what
``GET /v1/responses/{id}/input_items`` lists) and ``conversation_items`` for ``previous_response_id``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openai.types.responses import (
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseInputMessageItem,
    ResponseItem,
    ResponseOutputMessage,
    ResponseReasoningItem,
)
from pydantic import TypeAdapter

from wardgate.api.responses.translate import chat_to_response, conversation_items, input_items
from wardgate.core.errors import InvalidRequestError

ITEM: TypeAdapter[Any] = TypeAdapter(ResponseItem)


def validated(items: list[dict[str, Any]]) -> list[Any]:
    return [ITEM.validate_python(item) for item in items]


def test_a_string_becomes_one_user_message() -> None:
    [item] = input_items("Hello")
    assert re.fullmatch(r"msg_[0-9a-f]{48}", item.pop("id"))
    assert item == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hello"}],
        "status": "completed",
    }
    [model] = validated(input_items("Hello"))
    assert isinstance(model, ResponseInputMessageItem)


def test_easy_messages_get_types_parts_ids_and_status() -> None:
    items = input_items(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "input_text", "text": "Use metric units."}]},
            {"role": "user", "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}]},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "assistant", "content": [{"type": "input_text", "text": "typed as input"}], "phase": "commentary"},
        ]
    )
    models = validated(items)
    assert [type(m) for m in models] == [ResponseInputMessageItem] * 3 + [ResponseOutputMessage] * 2
    assert all(item["type"] == "message" and item["status"] == "completed" for item in items)
    assert len({item["id"] for item in items}) == 5
    assert items[2]["content"] == [{"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"}]
    assert items[3]["content"] == [{"type": "output_text", "text": "Earlier answer", "annotations": []}]
    assert items[4]["content"] == [{"type": "output_text", "text": "typed as input", "annotations": []}]
    assert items[4]["phase"] == "commentary"


def test_function_calls_outputs_and_reasoning_get_prefixed_ids() -> None:
    items = input_items(
        [
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "ok"}]},
            {"type": "reasoning", "id": "rs_given", "summary": [{"type": "summary_text", "text": "thought"}]},
            {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "raw"}]},
        ]
    )
    models = validated(items)
    assert [type(m) for m in models] == [
        ResponseFunctionToolCallItem,
        ResponseFunctionToolCallOutputItem,
        ResponseFunctionToolCallOutputItem,
        ResponseReasoningItem,
        ResponseReasoningItem,
    ]
    assert items[0]["id"].startswith("fc_") and items[0]["status"] == "completed"
    assert items[1]["id"].startswith("fco_") and items[1]["status"] == "completed"
    assert items[3]["id"] == "rs_given" and items[4]["id"].startswith("rs_") and items[4]["summary"] == []


def test_given_ids_and_fields_are_kept_and_input_is_not_mutated() -> None:
    original = [{"type": "message", "id": "msg_mine", "role": "user", "content": "hi", "status": "in_progress"}]
    items = input_items(original)
    assert items[0]["id"] == "msg_mine" and items[0]["status"] == "in_progress"
    assert original == [{"type": "message", "id": "msg_mine", "role": "user", "content": "hi", "status": "in_progress"}]
    assert input_items(items) == items  # idempotent: the store can normalise again


def test_other_item_types_pass_unchanged_for_openai_deployments() -> None:
    reference = {"type": "item_reference", "id": "msg_abc"}
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}}
    assert input_items([reference, search]) == [reference, search]


@pytest.mark.parametrize(
    ("value", "param"),
    [
        (42, "input"),
        ([42], "input[0]"),
        ([{"content": "no role"}], "input[0].type"),
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        ([{"role": "user"}], "input[0].content"),
        ([{"role": "user", "content": 5}], "input[0].content"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "input[0].content[0].text"),
        ([{"role": "user", "content": [{"type": "input_image"}]}], "input[0].content[0].image_url"),
        ([{"role": "user", "content": ["plain"]}], "input[0].content[0]"),
        ([{"type": "function_call", "name": "f", "arguments": "{}"}], "input[0].call_id"),
        ([{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}], "input[0].arguments"),
        ([{"type": "function_call_output", "call_id": "c"}], "input[0].output"),
        ([{"type": "reasoning", "summary": "text"}], "input[0].summary"),
        ([{"type": 3}], "input[0].type"),
    ],
)
def test_malformed_input_raises_with_the_path(value: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        input_items(value)
    assert caught.value.param == param
    assert caught.value.http_status == 400


def test_conversation_items_append_the_output_items_which_validate_as_input() -> None:
    items = input_items([{"role": "user", "content": "weather in Paris?"}])
    completion = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "reasoning_content": "need the tool",
                    "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
                },
            }
        ]
    }
    response = chat_to_response(completion, {"model": "m", "input": "x"}, response_id="resp_1", created_at=1, model="m")
    conversation = conversation_items(items, response)
    assert conversation[0] == items[0]
    assert conversation[1:] == response["output"]
    assert [item["type"] for item in conversation] == ["message", "reasoning", "message", "function_call"]
    validated(conversation)
    assert input_items(conversation) == conversation
    conversation[1]["id"] = "changed"
    assert response["output"][0]["id"] != "changed"  # copies
