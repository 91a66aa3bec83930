"""OpenAI → Gemini request translation: paths, parameters, tools and tool_choice, messages, and every parameter
Gemini cannot express going through ``ctx.unsupported`` (never dropped silently)."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from wardgate.core.errors import InvalidRequestError, UnsupportedParameterError
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.translate import TranslationContext, UnsupportedMode
from wardgate.testing.fake_gemini.validate import validate_generate

USER = [{"role": "user", "content": "Hi"}]
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}
OTHER_TOOL = {"type": "function", "function": {"name": "other", "description": "no parameters"}}


def ctx(
    mode: UnsupportedMode = "strict", *, model: str = "gemini-2.5-flash", stream: bool = False
) -> TranslationContext:
    return TranslationContext(
        upstream_model=model, request_model="alias", response_id="chatcmpl-x", created=1, stream=stream,
        unsupported_mode=mode,
    )  # fmt: skip


def translate(body: dict[str, Any], context: TranslationContext | None = None) -> dict[str, Any]:
    context = context or ctx()
    call = GeminiAdapter().chat_call({"model": "alias", "messages": USER, **body}, context)
    result: dict[str, Any] = orjson.loads(call.body)
    validate_generate(result, vertex=False, model=context.upstream_model)
    return result


# ----------------------------------------------------------------------------------------------- paths


def test_paths_and_headers_for_both_flavors() -> None:
    gemini = GeminiAdapter()
    call = gemini.chat_call({"messages": USER}, ctx(stream=True))
    assert (call.path, call.query, call.stream) == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        {"alt": "sse"},
        True,
    )
    assert call.headers == {"Content-Type": "application/json"}
    assert call.method == "POST"
    vertex = GeminiAdapter("vertex", project="my-project-1", location="europe-west4")
    call = vertex.chat_call({"messages": USER}, ctx())
    assert call.path == (
        "/v1/projects/my-project-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert call.query == {}
    assert GeminiAdapter(api_version="v1").chat_call({"messages": USER}, ctx()).path.startswith("/v1/models/")
    assert GeminiAdapter.needs_image_bytes is True


@pytest.mark.parametrize("model", ["", "a/b", "a?b", "a#b", "..", "a b", "gemini%2F..", "https://evil/x", "a:b"])
def test_model_names_that_could_change_the_url_are_refused(model: str) -> None:
    for adapter in (GeminiAdapter(), GeminiAdapter("vertex", project="my-project-1", location="us-central1")):
        with pytest.raises(InvalidRequestError):
            adapter.chat_call({"messages": USER}, ctx(model=model))
        with pytest.raises(InvalidRequestError):
            adapter.embeddings_call({"input": "x"}, ctx(model=model))


def test_models_prefix_is_tolerated_for_gemini_only() -> None:
    assert GeminiAdapter().chat_call({"messages": USER}, ctx(model="models/gemini-2.0-flash")).path == (
        "/v1beta/models/gemini-2.0-flash:generateContent"
    )
    vertex = GeminiAdapter("vertex", project="my-project-1", location="us-central1")
    with pytest.raises(InvalidRequestError):
        vertex.chat_call({"messages": USER}, ctx(model="models/gemini-2.0-flash"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flavor": "openai"},
        {"api_version": "v1/../x"},
        {"flavor": "vertex", "location": "us-central1"},
        {"flavor": "vertex", "project": "Bad_Project", "location": "us-central1"},
        {"flavor": "vertex", "project": "my-project-1", "location": "us/central1"},
    ],
)
def test_constructor_validates_its_url_parts(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GeminiAdapter(**kwargs)


# ------------------------------------------------------------------------------------------ parameters


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    config = translate({"max_tokens": 10, "max_completion_tokens": 20})["generationConfig"]
    assert config == {"maxOutputTokens": 20}
    assert translate({"max_tokens": 10})["generationConfig"] == {"maxOutputTokens": 10}
    assert "generationConfig" not in translate({})


def test_penalties_and_top_k_and_stop_list() -> None:
    config = translate({"presence_penalty": 0.3, "frequency_penalty": 0, "top_k": 5, "stop": ["a", "b"]})
    assert config["generationConfig"] == {"topK": 5, "stopSequences": ["a", "b"], "presencePenalty": 0.3}


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("minimal", {"thinkingBudget": 0}),
        ("none", {"thinkingBudget": 0}),
        ("low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("high", {"thinkingBudget": 24576, "includeThoughts": True}),
    ],
)
def test_reasoning_effort_maps_to_thinking_budget(effort: str, thinking: dict[str, Any]) -> None:
    assert translate({"reasoning_effort": effort})["generationConfig"]["thinkingConfig"] == thinking


def test_invalid_values_are_400() -> None:
    for body in (
        {"reasoning_effort": "extreme"},
        {"response_format": {"type": "xml"}},
        {"response_format": {"type": "json_schema"}},
    ):
        with pytest.raises(InvalidRequestError):
            translate(body)


def test_response_formats() -> None:
    assert "generationConfig" not in translate({"response_format": {"type": "text"}})
    assert translate({"response_format": {"type": "json_object"}})["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    no_schema = translate({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})
    assert no_schema["generationConfig"] == {"responseMimeType": "application/json"}


def test_user_is_accepted_and_not_forwarded() -> None:
    context = ctx("strict")
    body = translate({"user": "user-123"}, context)
    assert "user-123" not in json.dumps(body) and context.dropped == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("parallel_tool_calls", False),
        ("logit_bias", {"50256": -100}),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("prediction", {"type": "content", "content": "x"}),
        ("web_search_options", {}),
        ("modalities", ["text", "audio"]),
        ("service_tier", "flex"),
        ("store", True),
        ("function_call", "auto"),
    ],
)
def test_inexpressible_parameters_are_never_dropped_silently(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParameterError) as raised:
        translate({param: value})
    assert raised.value.param == param
    context = ctx("warn")
    translate({param: value}, context)
    assert context.dropped == [param]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("user", None),
        ("parallel_tool_calls", True),
        ("logprobs", False),
        ("n", 1),
        ("store", False),
        ("metadata", None),
    ],
)
def test_neutral_values_pass(param: str, value: Any) -> None:
    context = ctx()
    translate({param: value}, context)
    assert context.dropped == []


def test_message_names_are_reported() -> None:
    context = ctx("drop")
    result = translate({"messages": [{"role": "user", "name": "alice", "content": "Hi"}]}, context)
    assert context.dropped == ["name"]
    assert result["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


# --------------------------------------------------------------------------------------- tools


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", None),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "other"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["other"]}},
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [TOOL]}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}},
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [TOOL]}},
            {"functionCallingConfig": {"mode": "VALIDATED", "allowedFunctionNames": ["lookup"]}},
        ),
    ],
)
def test_tool_choice_modes(choice: Any, config: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"tools": [TOOL, OTHER_TOOL]}
    if choice is not None:
        body["tool_choice"] = choice
    result = translate(body)
    assert result.get("toolConfig") == config
    assert result["tools"] == [
        {
            "functionDeclarations": [
                {"name": "lookup", "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}},
                {"name": "other", "description": "no parameters"},
            ]
        }
    ]


def test_tool_choice_errors() -> None:
    for body in (
        {"tool_choice": "required"},
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "missing"}}},
        {"tools": [TOOL], "tool_choice": "sometimes"},
        {"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "x"}}},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
        {"tools": "lookup"},
    ):
        with pytest.raises(InvalidRequestError):
            translate(body)
    assert "toolConfig" not in translate({"tool_choice": "none"})


def test_non_function_tools_are_unsupported() -> None:
    with pytest.raises(UnsupportedParameterError):
        translate({"tools": [{"type": "custom", "custom": {"name": "x"}}]})
    context = ctx("warn")
    result = translate({"tools": [{"type": "custom", "custom": {"name": "x"}}, TOOL]}, context)
    assert context.dropped == ["tools"]
    assert [d["name"] for d in result["tools"][0]["functionDeclarations"]] == ["lookup"]


# ------------------------------------------------------------------------------------------ messages


def test_image_urls_must_already_be_data_urls() -> None:
    for url in ("https://example.com/cat.png", "data:image/png,raw", "data:;base64,AAAA", "data:image/png;base64,"):
        message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
        with pytest.raises(InvalidRequestError):
            translate({"messages": [message]})


def test_files_and_audio() -> None:
    content = [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
    ]
    parts = translate({"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
    ]
    for bad in (
        [{"type": "file", "file": {"file_id": "file-1"}}],
        [{"type": "input_audio", "input_audio": {"data": "x", "format": "flac"}}],
        [{"type": "video", "video": {}}],
    ):
        with pytest.raises(InvalidRequestError):
            translate({"messages": [{"role": "user", "content": bad}]})


def test_message_shape_errors() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{"}}
    for messages in (
        [],
        [{"role": "system", "content": "only system"}],
        [{"role": "function", "name": "f", "content": "x"}],
        [{"role": "tool", "tool_call_id": "nope", "content": "x"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call]}],
        [{"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}],
        [{"role": "user", "content": 42}],
        ["not an object"],
    ):
        with pytest.raises(InvalidRequestError):
            translate({"messages": messages})


def test_assistant_refusal_and_empty_turns() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
    ]
    assert translate({"messages": messages})["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "I can't."}]},
    ]


def test_signature_placeholder_only_for_gemini_3_and_real_signatures_win() -> None:
    def history(signature: str | None) -> list[dict[str, Any]]:
        call: dict[str, Any] = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        if signature:
            call["extra_content"] = {"google": {"thought_signature": signature}}
        return [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "{}"},
        ]

    def signature_of(model: str, signature: str | None) -> Any:
        result = translate({"messages": history(signature), "tools": [TOOL]}, ctx(model=model))
        return result["contents"][1]["parts"][0].get("thoughtSignature")

    assert signature_of("gemini-2.5-flash", None) is None
    assert signature_of("gemini-3-pro-preview", None) == "skip_thought_signature_validator"
    assert signature_of("gemini-3-flash-preview", "cmVhbA==") == "cmVhbA=="
    assert signature_of("gemini-2.5-flash", "cmVhbA==") == "cmVhbA=="


def test_translation_never_mutates_the_request() -> None:
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "lookup"}}]},
            {"role": "tool", "tool_call_id": "c", "content": '{"a": 1}'},
        ],
        "tools": [TOOL],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": TOOL["function"]["parameters"]},
        },
    }
    before = copy.deepcopy(body)
    adapter = GeminiAdapter()
    first = adapter.chat_call(body, ctx()).body
    assert adapter.chat_call(body, ctx()).body == first
    assert body == before
