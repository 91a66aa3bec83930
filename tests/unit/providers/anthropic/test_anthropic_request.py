"""Rules of the OpenAI → Anthropic request translation that the golden files do not pin down one by one:
unsupported parameters (strict raises, warn drops and records), extended-thinking constraints, tool_choice and
JSON-mode combinations, message merging, content parts, and input validation."""

from __future__ import annotations

from typing import Any, Literal

import orjson
import pytest

from wardgate.core.errors import InvalidRequestError, UnsupportedParameterError
from wardgate.providers.anthropic import JSON_TOOL_NAME, AnthropicAdapter, openai_to_anthropic
from wardgate.providers.translate import TranslationContext

USER = [{"role": "user", "content": "Hi"}]
Mode = Literal["strict", "warn", "drop"]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def ctx(mode: Mode = "strict", **kw: Any) -> TranslationContext:
    return TranslationContext(
        upstream_model="claude-test", request_model="m", response_id="id", created=1, unsupported_mode=mode, **kw
    )


def translate(body: dict[str, Any], context: TranslationContext | None = None) -> dict[str, Any]:
    return openai_to_anthropic({"model": "m", "messages": USER, **body}, context or ctx())


# ------------------------------------------------------------------------------------- unsupported params


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"seed": 7}, "seed"),
        ({"logprobs": True}, "logprobs"),
        ({"n": 2}, "n"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"temperature": 1.5}, "temperature"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[].type"),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}, "tools": [TOOL]}, "tool_choice"),
    ],
)
def test_unsupported_parameters_raise_in_strict_mode(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        translate(extra)
    assert info.value.param == param
    assert info.value.http_status == 400


def test_warn_mode_drops_and_records_instead() -> None:
    context = ctx("warn")
    body = translate({"seed": 7, "logprobs": True, "temperature": 1.5, "top_p": 0.5}, context)
    assert context.dropped == ["logprobs", "temperature", "seed"]
    assert "temperature" not in body and "seed" not in body
    assert body["top_p"] == 0.5


def test_neutral_values_are_not_unsupported() -> None:
    body = translate(
        {"n": 1, "presence_penalty": 0, "frequency_penalty": 0.0, "logprobs": False, "seed": None, "store": False}
    )
    assert set(body) == {"model", "max_tokens", "messages"}


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": "hi", "name": "bob"}, "messages[].name"),
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "messages[].content[].input_audio"),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}],
            },
            "messages[].content[].image_url.detail",
        ),
        (
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]},
            "messages[].content[].file.file_id",
        ),
    ],
)
def test_unsupported_message_features(message: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        openai_to_anthropic({"model": "m", "messages": [message]}, ctx())
    assert info.value.param == param


def test_echoed_response_fields_and_tool_names_are_ignored() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "r", "refusal": None, "annotations": []},
        {"role": "user", "content": "q2"},
    ]
    assert openai_to_anthropic({"model": "m", "messages": messages}, ctx())["messages"][1] == {
        "role": "assistant",
        "content": "a",
    }


# ---------------------------------------------------------------------------------- tokens and sampling


def test_max_tokens_prefers_max_completion_tokens_then_default() -> None:
    assert translate({"max_tokens": 10, "max_completion_tokens": 20})["max_tokens"] == 20
    assert translate({"max_tokens": 10})["max_tokens"] == 10
    assert translate({}, ctx(default_max_tokens=1234))["max_tokens"] == 1234


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_invalid_max_tokens_is_a_400_naming_it(value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        translate({"max_tokens": value})
    assert info.value.param == "max_tokens"


def test_stop_list_top_k_and_user_identity() -> None:
    body = translate({"stop": ["a", "b"], "top_k": 40, "user": "u", "safety_identifier": "s"})
    assert body["stop_sequences"] == ["a", "b"]
    assert body["top_k"] == 40
    assert body["metadata"] == {"user_id": "s"}


@pytest.mark.parametrize(
    ("effort", "budget"), [("minimal", 1024), ("low", 1024), ("medium", 4096), ("high", 16384), ("xhigh", 32768)]
)
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    body = translate({"reasoning_effort": effort, "max_completion_tokens": 100_000})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 100_000


def test_max_tokens_is_raised_above_the_budget() -> None:
    assert translate({"reasoning_effort": "medium", "max_tokens": 500})["max_tokens"] == 4596
    assert translate({"reasoning_effort": "medium"}, ctx(default_max_tokens=4096))["max_tokens"] == 8192


def test_reasoning_effort_none_and_unknown() -> None:
    assert "thinking" not in translate({"reasoning_effort": "none"})
    with pytest.raises(InvalidRequestError) as info:
        translate({"reasoning_effort": "extreme"})
    assert info.value.param == "reasoning_effort"


def test_a_raw_thinking_object_passes_through() -> None:
    body = translate({"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 100})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2148


@pytest.mark.parametrize(
    ("extra", "param"), [({"temperature": 0.2}, "temperature"), ({"top_p": 0.5}, "top_p"), ({"top_k": 5}, "top_k")]
)
def test_sampling_that_anthropic_forbids_with_thinking(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        translate({"reasoning_effort": "low", **extra})
    assert info.value.param == param
    context = ctx("warn")
    body = translate({"reasoning_effort": "low", **extra}, context)
    assert param not in body and context.dropped == [param]


def test_sampling_allowed_with_thinking() -> None:
    body = translate({"reasoning_effort": "low", "temperature": 1, "top_p": 0.97})
    assert body["temperature"] == 1 and body["top_p"] == 0.97


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [TOOL], "tool_choice": "required"},
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_thinking_cannot_combine_with_a_forced_tool(extra: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        translate({"reasoning_effort": "high", **extra})
    assert info.value.param == "reasoning_effort"
    context = ctx("warn")
    body = translate({"reasoning_effort": "high", **extra}, context)
    assert "thinking" not in body and context.dropped == ["reasoning_effort"]


def test_api_version_2026_10_21_has_no_sampling_parameters() -> None:
    context = ctx("warn")
    body = openai_to_anthropic(
        {"model": "m", "messages": USER, "temperature": 0.5, "top_p": 0.9}, context, api_version="2026-10-21"
    )
    assert "temperature" not in body and "top_p" not in body
    assert context.dropped == ["temperature", "top_p"]


# ------------------------------------------------------------------------------------------------ tools


def test_tool_choice_modes() -> None:
    assert translate({"tools": [TOOL], "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    assert translate({"tools": [TOOL], "tool_choice": "auto"})["tool_choice"] == {"type": "auto"}
    assert "tool_choice" not in translate({"tool_choice": "auto"})
    body = translate({"tools": [TOOL], "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = translate({"tools": [TOOL], "tool_choice": "none", "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "none"}


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "missing"}}, "sometimes", {"type": "x"}]
)
def test_invalid_tool_choice_is_a_400(choice: Any) -> None:
    tools = [TOOL] if choice != "required" else []
    with pytest.raises(InvalidRequestError) as info:
        translate({"tools": tools, "tool_choice": choice})
    assert info.value.param == "tool_choice"


def test_the_json_tool_name_is_reserved() -> None:
    tool = {"type": "function", "function": {"name": JSON_TOOL_NAME}}
    with pytest.raises(InvalidRequestError) as info:
        translate({"tools": [tool]})
    assert info.value.param == "tools[0].function.name"


@pytest.mark.parametrize(
    ("choice", "expected_choice", "json_tool_added"),
    [
        ("none", {"type": "tool", "name": JSON_TOOL_NAME}, True),
        ("auto", {"type": "any"}, True),
        (None, {"type": "any"}, True),
        ("required", {"type": "any"}, False),
        ({"type": "function", "function": {"name": "lookup"}}, {"type": "tool", "name": "lookup"}, False),
    ],
)
def test_json_mode_with_the_clients_tools(choice: Any, expected_choice: dict[str, Any], json_tool_added: bool) -> None:
    extra: dict[str, Any] = {"tools": [TOOL], "response_format": {"type": "json_object"}}
    if choice is not None:
        extra["tool_choice"] = choice
    body = translate(extra)
    assert body["tool_choice"] == expected_choice
    assert [t["name"] for t in body["tools"]] == (["lookup", JSON_TOOL_NAME] if json_tool_added else ["lookup"])


def test_json_schema_that_is_not_an_object_is_unsupported() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "list", "schema": {"type": "array"}}}
    with pytest.raises(UnsupportedParameterError) as info:
        translate({"response_format": fmt})
    assert info.value.param == "response_format"
    assert "tools" not in translate({"response_format": {"type": "text"}})


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", "3"])
def test_invalid_tool_call_arguments_are_a_400_naming_the_param(arguments: str) -> None:
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}],
        },
    ]
    with pytest.raises(InvalidRequestError) as info:
        openai_to_anthropic({"model": "m", "messages": messages}, ctx())
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


# --------------------------------------------------------------------------------------------- messages


def test_consecutive_same_role_messages_merge_and_tool_results_come_first() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "assistant", "content": None},
        {"role": "tool", "tool_call_id": "t1", "content": ""},
    ]
    body = openai_to_anthropic({"model": "m", "messages": messages}, ctx())
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
    ]


def test_text_file_becomes_a_plain_text_document() -> None:
    part = {"type": "file", "file": {"file_data": "data:text/plain;base64,aGVsbG8=", "filename": "a.txt"}}
    body = openai_to_anthropic({"model": "m", "messages": [{"role": "user", "content": [part]}]}, ctx())
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}, "title": "a.txt"}
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}},
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "image_url", "image_url": {}},
        {"type": "file", "file": {"file_data": "data:application/zip;base64,UEs="}},
        {"type": "video", "video": {}},
        {"type": "text", "text": "x", "cache_control": {"type": "persistent"}},
    ],
)
def test_invalid_content_parts_are_400s(part: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        openai_to_anthropic({"model": "m", "messages": [{"role": "user", "content": [part]}]}, ctx())
    assert info.value.param is not None and info.value.param.startswith("messages[0].content[0]")
    assert "ftp://" not in info.value.message


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        [{"role": "function", "content": "x"}],
        [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
        [{"role": "tool", "content": "x"}],
        [{"role": "assistant", "thinking_blocks": [{"type": "thinking", "thinking": "no signature"}]}],
    ],
)
def test_invalid_messages_are_400s(messages: Any) -> None:
    with pytest.raises(InvalidRequestError):
        openai_to_anthropic({"model": "m", "messages": messages}, ctx())


def test_adapter_call_headers_and_betas() -> None:
    call = AnthropicAdapter(betas=["a-1", "b-2"]).chat_call({"model": "m", "messages": USER}, ctx(stream=True))
    assert call.headers["anthropic-beta"] == "a-1,b-2"
    assert "x-api-key" not in call.headers and "authorization" not in {h.lower() for h in call.headers}
    assert orjson.loads(call.body)["stream"] is True and call.stream is True


def test_embeddings_are_an_unsupported_endpoint() -> None:
    adapter = AnthropicAdapter()
    with pytest.raises(InvalidRequestError) as info:
        adapter.embeddings_call({"model": "m", "input": "x"}, ctx())
    assert info.value.code == "unsupported_endpoint"
    assert info.value.http_status == 400
    with pytest.raises(InvalidRequestError):
        adapter.embeddings_response(b"{}", ctx())


def test_thinking_signed_by_another_provider_is_left_out() -> None:
    assistant = {
        "role": "assistant",
        "content": "done",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "from gemini", "signature": "gemini:thought:abc"},
            {"type": "thinking", "thinking": "from claude", "signature": "EqQBCkYIBxgC"},
        ],
    }
    body = openai_to_anthropic({"model": "m", "messages": [*USER, assistant, *USER]}, ctx())
    blocks = body["messages"][1]["content"]
    assert [b.get("thinking") for b in blocks if b["type"] == "thinking"] == ["from claude"]
