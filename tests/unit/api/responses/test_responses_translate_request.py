"""Responses create bodies → canonical chat bodies: messages (multi-turn with function calls and their outputs,
images, files, reasoning), tools and tool_choice, text formats, reasoning effort, sampling and streaming, and the
400s for what a chat-only provider cannot serve. Every produced body is checked against the openai SDK's chat
request types (``CompletionCreateParams``) where they apply."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter

from wardgate.api.responses.translate import DROPPED, responses_to_chat_request
from wardgate.api.responses.translate.common import decode_thinking, encode_thinking
from wardgate.api.responses.translate.messages import TOOL_MEDIA_NOTE
from wardgate.core.errors import InvalidRequestError

MESSAGE: TypeAdapter[Any] = TypeAdapter(ChatCompletionMessageParam)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def chat(**body: Any) -> dict[str, Any]:
    out = responses_to_chat_request({"model": "gpt-test", **body})
    for message in out["messages"]:
        MESSAGE.validate_python({k: v for k, v in message.items() if k not in ("reasoning_content", "thinking_blocks")})
    return out


def refused(param: str, **body: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        responses_to_chat_request({"model": "gpt-test", "input": "hi", **body})
    assert caught.value.param == param, caught.value.message
    assert caught.value.http_status == 400
    return caught.value


def test_string_input_and_instructions() -> None:
    assert chat(input="Hello", instructions="Be brief.") == {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    }


def test_multi_turn_with_function_calls_and_outputs() -> None:
    """What ``previous_response_id`` expands to: earlier output items (reasoning, message, function_call) followed
    by the client's function_call_output items and a new user turn."""
    body = chat(
        input=[
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": "Weather in Paris and London?"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "two"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_a", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "call_b", "name": "get_weather", "arguments": '{"city":"London"}'},
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_b", "output": "12C"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris 18C."}]},
            {"role": "user", "content": "Thanks!"},
        ],
        tools=[WEATHER],
    )
    assert body["messages"] == [
        {"role": "developer", "content": "Use metric units."},
        {"role": "user", "content": "Weather in Paris and London?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "two",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"London"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": "12C"},
        {"role": "assistant", "content": "Paris 18C."},
        {"role": "user", "content": "Thanks!"},
    ]


def test_function_calls_without_text_make_their_own_assistant_message() -> None:
    body = chat(
        input=[
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
        ],
        tools=[{**WEATHER, "name": "f"}],
    )
    roles = [(m["role"], m.get("content"), [c["id"] for c in m.get("tool_calls", [])]) for m in body["messages"]]
    assert roles == [("user", "go", []), ("assistant", None, ["c1"]), ("tool", "done", []), ("assistant", None, ["c2"])]


def test_reasoning_items_go_to_the_next_assistant_message_or_nowhere() -> None:
    blocks = [{"type": "thinking", "thinking": "signed", "signature": "sig"}]
    body = chat(
        input=[
            {"role": "user", "content": "q"},
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
            },
            {"type": "reasoning", "summary": [], "encrypted_content": encode_thinking(blocks)},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai-opaque"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "r"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "dangling"}]},
            {"role": "user", "content": "next"},
        ],
        tools=[{**WEATHER, "name": "f"}],
    )
    assistant = body["messages"][1]
    assert assistant["reasoning_content"] == "a\n\nb"
    assert assistant["thinking_blocks"] == blocks
    assert "dangling" not in str(body["messages"])
    assert decode_thinking("gAAAA-openai-opaque") == []


def test_content_parts_images_files_and_cache_breakpoints() -> None:
    body = chat(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Compare"},
                    {"type": "input_image", "image_url": "https://img.test/a.png", "detail": "low"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "original"},
                    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                    {"type": "input_text", "text": "end", "prompt_cache_breakpoint": {"mode": "explicit"}},
                ],
            }
        ]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "https://img.test/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "text", "text": "end", "cache_control": {"type": "ephemeral"}},
    ]


def test_tool_output_images_move_to_a_user_message_after_the_tool_messages() -> None:
    body = chat(
        input=[
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "shot", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "https://i/1"}],
            },
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "plain"}]},
        ]
    )
    assert body["messages"][1:] == [
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "text", "text": "see"}, {"type": "text", "text": TOOL_MEDIA_NOTE}],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "plain"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": "https://i/1"}},
            ],
        },
    ]


def test_tools_choice_and_parallel_calls() -> None:
    body = chat(input="hi", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"})
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("auto", "none", "required"):
        assert chat(input="hi", tools=[WEATHER], tool_choice=choice)["tool_choice"] == choice
    assert chat(input="hi", tools=[WEATHER], parallel_tool_calls=False)["parallel_tool_calls"] is False
    bare = chat(input="hi", tools=[{"type": "function", "name": "f", "parameters": None, "strict": None}])
    assert bare["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert "tool_choice" not in chat(input="hi", tool_choice="auto", parallel_tool_calls=True)
    assert "parallel_tool_calls" not in chat(input="hi", parallel_tool_calls=True)


def test_allowed_tools_narrow_the_tool_list() -> None:
    other = {**WEATHER, "name": "other"}
    body = chat(
        input="hi",
        tools=[WEATHER, other],
        tool_choice={"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "other"}]},
    )
    assert [tool["function"]["name"] for tool in body["tools"]] == ["other"]
    assert body["tool_choice"] == "required"


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search"},
        {"type": "web_search_preview"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "computer_use_preview", "display_width": 1, "display_height": 1, "environment": "linux"},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "mcp", "server_label": "x", "server_url": "https://mcp.test"},
        {"type": "image_generation"},
        {"type": "custom", "name": "grammar"},
    ],
)
def test_built_in_tools_are_refused_by_name(tool: dict[str, Any]) -> None:
    error = refused("tools", tools=[WEATHER, tool])
    assert f"tools[1]: the '{tool['type']}' tool" in error.message


@pytest.mark.parametrize(
    ("choice", "param"),
    [
        ({"type": "function", "name": "missing"}, "tool_choice.name"),
        ({"type": "web_search_preview"}, "tool_choice"),
        ("sometimes", "tool_choice"),
        ({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "mcp", "server_label": "x"}]}, "tool_choice"),
    ],
)
def test_bad_tool_choices(choice: Any, param: str) -> None:
    refused(param, tools=[WEATHER], tool_choice=choice)


def test_required_without_tools_and_odd_function_fields() -> None:
    refused("tool_choice", tool_choice="required")
    refused("tools[0].defer_loading", tools=[{**WEATHER, "defer_loading": True}])
    assert (
        chat(input="hi", tools=[{**WEATHER, "defer_loading": False}])["tools"][0]["function"]["name"] == "get_weather"
    )
    refused("tools[0].name", tools=[{"type": "function", "parameters": {}}])


def test_text_formats() -> None:
    assert "response_format" not in chat(input="hi", text={"format": {"type": "text"}})
    assert chat(input="hi", text={"format": {"type": "json_object"}})["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "name": "thing", "schema": schema, "strict": True, "description": "A thing"}
    body = chat(input="hi", text={"format": fmt, "verbosity": "low"})
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True, "description": "A thing"},
    }
    assert body["verbosity"] == "low"
    refused("text.format.name", text={"format": {"type": "json_schema", "schema": schema}})
    refused("text.format.type", text={"format": {"type": "xml"}})


def test_sampling_reasoning_and_passed_fields() -> None:
    body = chat(
        input="hi",
        max_output_tokens=300,
        temperature=0.2,
        top_p=0.9,
        user="u1",
        safety_identifier="s1",
        service_tier="flex",
        reasoning={"effort": "minimal", "summary": "auto"},
    )
    assert body == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "safety_identifier": "s1",
        "service_tier": "flex",
        "reasoning_effort": "minimal",
    }
    refused("reasoning.effort", reasoning={"effort": "extreme"})
    refused("max_output_tokens", max_output_tokens=0)
    refused("temperature", temperature="hot")


def test_stream_always_asks_for_usage() -> None:
    body = chat(input="hi", stream=True, stream_options={"include_obfuscation": False})
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "stream" not in chat(input="hi", stream=False)


def test_logprobs_only_through_include() -> None:
    body = chat(input="hi", include=["message.output_text.logprobs"], top_logprobs=3)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 3)
    plain = chat(input="hi", include=["reasoning.encrypted_content"], top_logprobs=3)
    assert "logprobs" not in plain and "top_logprobs" not in plain
    refused("include[0]", include=["everything"])


def test_dropped_fields_do_not_reach_the_chat_body() -> None:
    body = chat(
        input="hi",
        metadata={"k": "v"},
        store=False,
        truncation="auto",
        max_tool_calls=3,
        previous_response_id="resp_old",
        background=False,
        instructions=None,
        prompt_cache_key="conversation-1",
        prompt_cache_retention="24h",
        text={"verbosity": "medium"},
    )
    assert body == {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    assert {"metadata", "store", "truncation", "max_tool_calls", "previous_response_id", "prompt_cache_key"} <= DROPPED
    refused("prompt_cache_key", prompt_cache_key=1)
    refused("metadata", metadata=[1])
    refused("truncation", truncation="sometimes")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("conversation", "conv_1"),
        ("prompt", {"id": "pmpt_1"}),
        ("background", True),
        ("context_management", [{"type": "compaction"}]),
        ("brand_new_option", 1),
    ],
)
def test_unknown_and_unservable_fields_are_refused_by_name(field: str, value: Any) -> None:
    error = refused(field, **{field: value})
    assert field in error.message


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}, "input[0].content[0].file_id"),
        ({"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}, "input[0].content[0].file_id"),
        (
            {"role": "user", "content": [{"type": "input_file", "file_url": "https://f"}]},
            "input[0].content[0].file_url",
        ),
        ({"role": "user", "content": [{"type": "input_audio", "data": "x"}]}, "input[0].content[0].type"),
        ({"role": "system", "content": [{"type": "input_image", "image_url": "https://i"}]}, "input[0].content[0]"),
        ({"type": "item_reference", "id": "msg_1"}, "input[0].type"),
        ({"type": "computer_call_output", "call_id": "c", "output": {}}, "input[0].type"),
    ],
)
def test_input_a_chat_provider_cannot_serve(item: dict[str, Any], param: str) -> None:
    refused(param, input=[item])


def test_missing_model_input_or_conversation() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        responses_to_chat_request({"input": "hi"})
    assert caught.value.param == "model" and caught.value.message == "Missing required parameter: 'model'."
    with pytest.raises(InvalidRequestError) as caught:
        responses_to_chat_request({"model": "m"})
    assert caught.value.param == "input"
    refused("input", input=[])


def test_the_body_is_never_mutated() -> None:
    body = {"model": "m", "input": [{"role": "user", "content": "hi"}], "tools": [WEATHER], "stream": True}
    snapshot = repr(body)
    responses_to_chat_request(body)
    assert repr(body) == snapshot
