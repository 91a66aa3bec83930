"""Request translation edge cases: unsupported parameters (strict raises, warn records), tool_choice none with
tool history, reserved names, invalid inputs, Claude thinking constraints."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.core.errors import InvalidRequestError, UnsupportedParameterError
from wardgate.providers.bedrock import BedrockAdapter
from wardgate.providers.translate import TranslationContext, UnsupportedMode

CLAUDE = "anthropic.claude-3-7-sonnet-20250219-v1:0"
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
HISTORY = [
    {"role": "user", "content": "look it up"},
    {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "found"},
]


def _ctx(mode: UnsupportedMode = "strict", model: str = CLAUDE, stream: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model=model, request_model="m", response_id="r", created=1, stream=stream, unsupported_mode=mode
    )


def _body(request: dict[str, Any], ctx: TranslationContext | None = None) -> dict[str, Any]:
    call = BedrockAdapter().chat_call({"model": "m", **request}, ctx or _ctx())
    result: dict[str, Any] = orjson.loads(call.body)
    return result


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("seed", 7),
        ("logit_bias", {"1": 2}),
        ("logprobs", True),
        ("top_logprobs", 2),
        ("n", 2),
        ("presence_penalty", 0.5),
        ("frequency_penalty", 0.1),
        ("parallel_tool_calls", False),
        ("audio", {"voice": "x"}),
        ("prediction", {"type": "content", "content": "x"}),
        ("temperature", 1.5),
        ("service_tier", "scale"),
        ("reasoning_effort", "extreme"),
    ],
)
def test_unsupported_parameters(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        _body({"messages": USER, param: value})
    assert info.value.param == param
    ctx = _ctx("warn")
    body = _body({"messages": USER, param: value}, ctx)
    assert ctx.dropped == [param]
    assert "inferenceConfig" not in body or "temperature" not in body["inferenceConfig"]


def test_neutral_values_and_nulls_pass() -> None:
    ctx = _ctx()
    _body({"messages": USER, "n": 1, "seed": None, "logprobs": False, "presence_penalty": 0, "store": False}, ctx)
    assert ctx.dropped == []


def test_stream_call_path_and_accept() -> None:
    call = BedrockAdapter().chat_call({"model": "m", "messages": USER, "stream": True}, _ctx(stream=True))
    assert call.path == "/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    assert call.stream and call.headers["Accept"] == "application/vnd.amazon.eventstream"


def test_tool_choice_none_with_tool_history() -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        _body({"messages": HISTORY, "tools": [TOOL], "tool_choice": "none"})
    assert info.value.param == "tool_choice"
    ctx = _ctx("drop")
    body = _body({"messages": HISTORY, "tools": [TOOL], "tool_choice": "none"}, ctx)
    assert body["toolConfig"]["toolChoice"] == {"auto": {}} and ctx.dropped == ["tool_choice"]


def test_tool_history_without_tools_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="tools"):
        _body({"messages": HISTORY})


def test_json_mode_with_tool_history_keeps_a_tool_config() -> None:
    body = _body(
        {"messages": HISTORY, "response_format": {"type": "json_object"}, "tools": [TOOL], "tool_choice": "none"}
    )
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "json_response"}}


def test_reserved_tool_name_and_bad_choices() -> None:
    reserved = {"type": "function", "function": {"name": "json_response"}}
    with pytest.raises(InvalidRequestError, match="reserved"):
        _body({"messages": USER, "tools": [reserved]})
    with pytest.raises(InvalidRequestError, match="unknown tool"):
        _body({"messages": USER, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}})
    with pytest.raises(InvalidRequestError):
        _body({"messages": USER, "tool_choice": "required"})
    with pytest.raises(InvalidRequestError):
        _body({"messages": USER, "response_format": {"type": "yaml"}})


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}],
        [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{not json"}}]}],
        [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}],
        [{"role": "tool", "content": "x"}],
        [{"role": "wizard", "content": "x"}],
    ],
)
def test_invalid_messages(messages: list[Any]) -> None:
    with pytest.raises(InvalidRequestError):
        _body({"messages": messages, "tools": [TOOL]})


def test_image_detail_and_unknown_parts_are_flagged() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}}
    with pytest.raises(UnsupportedParameterError):
        _body({"messages": [{"role": "user", "content": [part]}]})
    ctx = _ctx("warn")
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    body = _body({"messages": [{"role": "user", "content": [part, audio, {"type": "text", "text": "x"}]}]}, ctx)
    assert body["messages"][0]["content"][0]["image"]["format"] == "jpeg"
    assert ctx.dropped == ["image_url.detail", "content part type 'input_audio'"]


def test_non_base64_data_url_is_encoded() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}}
    body = _body({"messages": [{"role": "user", "content": [part]}]})
    assert body["messages"][0]["content"][0]["image"]["source"]["bytes"] == "iVBORw=="


def test_claude_thinking_constraints() -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        _body({"messages": USER, "reasoning_effort": "low", "response_format": {"type": "json_object"}})
    assert info.value.param == "reasoning_effort"
    with pytest.raises(UnsupportedParameterError):
        _body({"messages": USER, "reasoning_effort": "low", "max_tokens": 1500})
    ctx = _ctx("warn")
    body = _body({"messages": USER, "reasoning_effort": "low", "temperature": 0.3, "top_p": 0.5}, ctx)
    assert "temperature" not in body["inferenceConfig"] and "topP" not in body["inferenceConfig"]
    assert ctx.dropped == ["temperature", "top_p"]
    assert _body({"messages": USER, "reasoning_effort": "none"}).get("additionalModelRequestFields") is None


def test_reasoning_on_a_model_without_a_mapping() -> None:
    with pytest.raises(UnsupportedParameterError):
        _body({"messages": USER, "reasoning_effort": "high"}, _ctx(model="meta.llama3-70b-instruct-v1:0"))


def test_metadata_rules() -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        _body({"messages": USER, "metadata": {"k": "bad<value>"}})
    assert info.value.param == "metadata"
    body = _body({"messages": USER, "safety_identifier": "hash-1"})
    assert body["requestMetadata"] == {"safety_identifier": "hash-1"}
    with pytest.raises(UnsupportedParameterError):
        _body({"messages": USER, "metadata": {f"k{i}": "v" for i in range(16)}, "user": "u"})


def test_message_name_is_flagged() -> None:
    with pytest.raises(UnsupportedParameterError):
        _body({"messages": [{"role": "user", "content": "hi", "name": "bob"}]})


def test_empty_tool_result_stays_empty() -> None:
    history = [*HISTORY[:2], {"role": "tool", "tool_call_id": "c1", "content": ""}]
    body = _body({"messages": history, "tools": [TOOL]})
    assert body["messages"][2]["content"] == [{"toolResult": {"toolUseId": "c1", "content": []}}]
