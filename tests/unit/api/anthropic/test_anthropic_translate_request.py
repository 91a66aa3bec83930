"""Anthropic Messages request → canonical OpenAI chat body: every top-level mapping, the 400s (with ``param``) for
what cannot be translated, validity against the ``openai`` SDK's request types, and lossless round trips through
the OpenAI → Anthropic provider translation."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming
from pydantic import TypeAdapter

from wardgate.api.anthropic.translate import anthropic_to_openai_request
from wardgate.api.anthropic.translate.request import REASONING_BUDGETS, effort_for_budget
from wardgate.core.errors import InvalidRequestError
from wardgate.providers.anthropic import openai_to_anthropic
from wardgate.providers.anthropic.request import REASONING_BUDGETS as PROVIDER_BUDGETS
from wardgate.providers.translate import TranslationContext

USER = [{"role": "user", "content": "Hi"}]
TWO_TURNS = {"type": "thinking_turns", "value": 2}
TOOL = {"name": "lookup", "description": "Find a thing", "input_schema": {"type": "object", "properties": {}}}
ANTHROPIC_PARAMS: TypeAdapter[Any] = TypeAdapter(MessageCreateParamsNonStreaming)
OPENAI_PARAMS: TypeAdapter[Any] = TypeAdapter(CompletionCreateParamsStreaming)


def validated(adapter: TypeAdapter[Any], body: dict[str, Any]) -> Any:
    """Validate ``body`` completely: pydantic checks ``Iterable`` fields lazily, so every iterator is drained."""

    def drain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: drain(item) for key, item in value.items()}
        if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
            return [drain(item) for item in value]
        return value

    return drain(adapter.validate_python(body))


def translate(**fields: Any) -> dict[str, Any]:
    return anthropic_to_openai_request({"model": "claude-x", "max_tokens": 256, "messages": USER, **fields})


def rejected(body: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        anthropic_to_openai_request({"model": "claude-x", "max_tokens": 256, "messages": USER, **body})
    assert info.value.http_status == 400
    return info.value


def to_anthropic(openai_body: dict[str, Any]) -> dict[str, Any]:
    ctx = TranslationContext(
        upstream_model="claude-x",
        request_model="claude-x",
        response_id="r",
        created=1,
        stream=bool(openai_body.get("stream")),
    )
    return openai_to_anthropic(openai_body, ctx)


# ------------------------------------------------------------------------------------------------- basics


def test_minimal_request() -> None:
    assert translate() == {"model": "claude-x", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 256}


def test_sampling_stop_user_and_stream() -> None:
    body = translate(
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END", "STOP"],
        metadata={"user_id": "user-7"},
        stream=True,
    )
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["top_k"] == 40
    assert body["stop"] == ["END", "STOP"]
    assert body["user"] == "user-7"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_false_and_nulls_are_absent() -> None:
    body = translate(stream=False, temperature=None, system=None, metadata={"user_id": None}, container=None)
    assert body == translate()


def test_string_system_becomes_a_system_message_first() -> None:
    assert translate(system="Be brief")["messages"][0] == {"role": "system", "content": "Be brief"}


def test_system_blocks_keep_cache_control_with_ttl() -> None:
    system = [
        {"type": "text", "text": "Rules"},
        {"type": "text", "text": "Big context", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    assert translate(system=system)["messages"][0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "Rules"},
            {"type": "text", "text": "Big context", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ],
    }


def test_top_level_cache_control_marks_the_last_message() -> None:
    body = translate(cache_control={"type": "ephemeral"})
    assert body["messages"][-1] == {"role": "user", "content": "Hi", "cache_control": {"type": "ephemeral"}}
    already = [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}]
    assert "cache_control" not in translate(messages=already, cache_control={"type": "ephemeral"})["messages"][-1]


def test_input_is_never_mutated() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}
    snapshot = repr(body)
    anthropic_to_openai_request(body)
    assert repr(body) == snapshot


# -------------------------------------------------------------------------------------------- unknowns


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}, "mcp_servers"),
        ({"container": "cntr_1"}, "container"),
        (
            {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": TWO_TURNS}]}},
            "context_management",
        ),
        ({"inference_geo": "us"}, "inference_geo"),
        ({"speed": "fast"}, "speed"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ],
)
def test_untranslatable_fields_are_named(extra: dict[str, Any], param: str) -> None:
    error = rejected(extra)
    assert error.param == param
    assert f"`{param}`" in error.message


def test_every_unknown_field_is_listed() -> None:
    error = rejected({"foo": 1, "bar": 2})
    assert error.param == "foo" and "`foo`, `bar`" in error.message


def test_neutral_values_pass() -> None:
    assert translate(service_tier="auto", speed="standard") == translate()
    assert translate(service_tier="standard_only") == translate()


def test_claude_codes_default_context_management_clears_nothing_and_passes() -> None:
    keep_all = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    adaptive = {"type": "adaptive"}
    assert translate(context_management=keep_all, thinking=adaptive) == translate(thinking=adaptive)
    clearing = {"edits": [{"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000}}]}
    assert rejected({"context_management": clearing}).param == "context_management"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": ""}, "model"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id"),
        ({"metadata": {"tenant": "a"}}, "metadata.tenant"),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system[0]"),
        ({"cache_control": {"type": "persistent"}}, "cache_control"),
        ({"cache_control": {"type": "ephemeral", "ttl": "2h"}}, "cache_control.ttl"),
    ],
)
def test_invalid_values_name_their_param(body: dict[str, Any], param: str) -> None:
    assert rejected(body).param == param


# ------------------------------------------------------------------------------------------------ tools


def test_custom_tools_become_function_tools() -> None:
    tools = [
        {**TOOL, "cache_control": {"type": "ephemeral", "ttl": "5m"}, "strict": True},
        {"type": "custom", "name": "bare", "input_schema": {"type": "object"}, "eager_input_streaming": True},
    ]
    assert translate(tools=tools)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find a thing",
                "parameters": {"type": "object", "properties": {}},
                "strict": True,
            },
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
        },
        {"type": "function", "function": {"name": "bare", "parameters": {"type": "object"}}},
    ]


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ],
)
def test_server_tools_are_refused_naming_the_tool(tool: dict[str, Any]) -> None:
    error = rejected({"tools": [TOOL, tool]})
    assert error.param == "tools[1]"
    assert tool["type"] in error.message


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ({"name": "x"}, "tools"),
        ([{"input_schema": {"type": "object"}}], "tools[0].name"),
        ([{"name": "x"}], "tools[0].input_schema"),
        ([{**TOOL, "description": 3}], "tools[0].description"),
        ([{**TOOL, "input_examples": [{}]}], "tools[0].input_examples"),
        ([{**TOOL, "defer_loading": True}], "tools[0].defer_loading"),
    ],
)
def test_invalid_tools(tools: Any, param: str) -> None:
    assert rejected({"tools": tools}).param == param


def test_defer_loading_false_is_neutral() -> None:
    assert translate(tools=[{**TOOL, "defer_loading": False}]) == translate(tools=[TOOL])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "tool", "name": "lookup"}, {"tool_choice": {"type": "function", "function": {"name": "lookup"}}}),
        ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"tool_choice": "required", "parallel_tool_calls": False}),
        ({"type": "none", "disable_parallel_tool_use": True}, {"tool_choice": "none"}),
        ({"type": "auto", "disable_parallel_tool_use": False}, {"tool_choice": "auto"}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    body = translate(tools=[TOOL], tool_choice=choice)
    assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected


def test_tool_choice_without_tools() -> None:
    assert translate(tool_choice={"type": "auto", "disable_parallel_tool_use": True}) == translate()
    assert translate(tool_choice={"type": "none"}) == translate()
    assert rejected({"tool_choice": {"type": "any"}}).param == "tool_choice"
    assert rejected({"tool_choice": {"type": "tool", "name": "lookup"}}).param == "tool_choice.name"


@pytest.mark.parametrize(
    ("choice", "param"),
    [
        ({"type": "sometimes"}, "tool_choice"),
        ("auto", "tool_choice"),
        ({"type": "tool", "name": "missing"}, "tool_choice.name"),
        ({"type": "auto", "disable_parallel_tool_use": "yes"}, "tool_choice.disable_parallel_tool_use"),
        ({"type": "auto", "extra": 1}, "tool_choice.extra"),
    ],
)
def test_invalid_tool_choice(choice: Any, param: str) -> None:
    assert rejected({"tools": [TOOL], "tool_choice": choice}).param == param


# -------------------------------------------------------------------------------------------- reasoning


def test_budget_thresholds_mirror_the_provider_table() -> None:
    assert REASONING_BUDGETS == PROVIDER_BUDGETS
    for effort in ("low", "medium", "high"):
        assert effort_for_budget(REASONING_BUDGETS[effort]) == effort
    # OpenAI's reasoning_effort stops at "high": larger budgets map there
    assert [effort_for_budget(b) for b in (1024, 4095, 4096, 16383, 16384, 31999, 32768, 100_000)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "high",
        "high",
    ]


def test_enabled_thinking_maps_to_an_effort_and_stays_standard() -> None:
    body = translate(max_tokens=32000, thinking={"type": "enabled", "budget_tokens": 10000, "display": "summarized"})
    assert "thinking" not in body  # the canonical body stays standard OpenAI (Anthropic deployments pass through)
    assert body["reasoning_effort"] == "medium"


@pytest.mark.parametrize("kind", ["disabled", "adaptive"])
def test_other_thinking_types_ask_for_no_effort(kind: str) -> None:
    body = translate(thinking={"type": kind})
    assert "thinking" not in body and "reasoning_effort" not in body


def test_output_config_effort_wins_and_format_becomes_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body = translate(
        thinking={"type": "enabled", "budget_tokens": 2048},
        output_config={"effort": "max", "format": {"type": "json_schema", "schema": schema}},
    )
    assert body["reasoning_effort"] == "high"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1023}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "between_tools"}}, "thinking.type"),
        ({"thinking": {"type": "disabled", "budget_tokens": 2000}}, "thinking"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000, "style": "x"}}, "thinking.style"),
        ({"output_config": {"effort": "huge"}}, "output_config.effort"),
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
        ({"output_config": {"verbosity": "low"}}, "output_config.verbosity"),
    ],
)
def test_invalid_reasoning_settings(fields: dict[str, Any], param: str) -> None:
    assert rejected(fields).param == param


# ------------------------------------------------------------------------------- SDK types and round trips

FULL_REQUEST: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 20000,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture, and what is the weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need the weather tool.", "signature": "c2lnbmF0dXJl"},
                {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
                {"type": "text", "text": "A cat. Checking the weather."},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [{"type": "text", "text": "24C", "cache_control": {"type": "ephemeral"}}],
                },
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ],
    "tools": [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 8000},
    "stop_sequences": ["###"],
    "metadata": {"user_id": "u-1"},
    "temperature": 1,
    "stream": True,
}


def test_the_full_request_is_valid_for_both_sdks() -> None:
    validated(ANTHROPIC_PARAMS, {**FULL_REQUEST, "stream": False})
    body = anthropic_to_openai_request(FULL_REQUEST)
    validated(OPENAI_PARAMS, body)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]


def test_round_trip_through_the_anthropic_provider_is_lossless() -> None:
    # thinking budgets travel as reasoning_effort (Anthropic deployments get the native body instead)
    request = {key: value for key, value in FULL_REQUEST.items() if key not in ("thinking", "temperature")}
    assert to_anthropic(anthropic_to_openai_request(request)) == request


@pytest.mark.parametrize(
    "fields",
    [
        {"tool_choice": {"type": "any"}},
        {"tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}},
        {"tool_choice": {"type": "none"}},
        {"top_k": 5, "top_p": 0.5, "temperature": 0.2},
    ],
)
def test_round_trip_variants(fields: dict[str, Any]) -> None:
    request = {key: value for key, value in FULL_REQUEST.items() if key not in ("thinking", "temperature")}
    request["messages"] = [{"role": "user", "content": "Weather in Paris?"}]
    request.update(fields)
    assert to_anthropic(anthropic_to_openai_request(request)) == request
