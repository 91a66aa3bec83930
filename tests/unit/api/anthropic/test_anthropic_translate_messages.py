"""Anthropic ``messages`` → OpenAI ``messages``: content blocks, tool results (order, errors, images), thinking
(signed, redacted, unsigned), ``cache_control`` placement and the 400s for blocks with no portable form."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletionToolMessageParam
from pydantic import TypeAdapter, ValidationError

from wardgate.api.anthropic.translate import anthropic_to_openai_request
from wardgate.api.anthropic.translate.messages import TOOL_ERROR_PREFIX, TOOL_IMAGE_NOTE
from wardgate.core.errors import InvalidRequestError
from wardgate.providers.anthropic import openai_to_anthropic
from wardgate.providers.translate import TranslationContext

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
EPHEMERAL = {"type": "ephemeral"}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}


def convert(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    body = anthropic_to_openai_request({"model": "m", "max_tokens": 10, "messages": list(messages)})
    result: list[dict[str, Any]] = body["messages"]
    return result


def rejected(*messages: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        convert(*messages)
    return info.value


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


# --------------------------------------------------------------------------------------------- user content


def test_text_and_images() -> None:
    assert convert(
        user(
            {"type": "text", "text": "Look", "cache_control": EPHEMERAL},
            {"type": "image", "source": PNG},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}, "cache_control": EPHEMERAL},
        )
    ) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look", "cache_control": EPHEMERAL},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}, "cache_control": EPHEMERAL},
            ],
        }
    ]


def test_string_content_stays_a_string() -> None:
    assert convert({"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]


@pytest.mark.parametrize(
    ("block", "param"),
    [
        ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}, ""),
        ({"type": "search_result", "source": "s", "title": "t", "content": []}, ""),
        ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, ".source"),
        ({"type": "image", "source": {"type": "url", "url": "ftp://x"}}, ".source.url"),
        ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}, ".source"),
        ({"type": "image"}, ".source"),
        ({"type": "text"}, ".text"),
        ({"type": "text", "text": "x", "citations": [{"type": "char_location"}]}, ".citations"),
        ({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "scope": "org"}}, ".cache_control.scope"),
        ({"type": "image", "source": PNG, "transformations": {"crop": 1}}, ".transformations"),
        ({"type": "thinking", "thinking": "x", "signature": "s"}, ""),
        ({"type": "tool_use", "id": "t", "name": "n", "input": {}}, ""),
        ({"type": "web_search_tool_result", "tool_use_id": "t", "content": []}, ""),
    ],
)
def test_unportable_user_blocks_are_named(block: dict[str, Any], param: str) -> None:
    error = rejected(user({"type": "text", "text": "a"}, block))
    assert error.param == f"messages[0].content[1]{param}"


def test_documents_are_refused_as_unsupported() -> None:
    error = rejected(user({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}))
    assert "document" in error.message and "Anthropic" in error.message


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "system", "content": "x"}, "messages[0].role"),
        ({"role": "user", "content": 5}, "messages[0].content"),
        ({"role": "user", "content": []}, "messages[0].content"),
        ({"role": "user", "content": ["text"]}, "messages[0].content[0]"),
        ({"role": "user", "content": "x", "name": "bob"}, "messages[0].name"),
    ],
)
def test_malformed_messages(message: dict[str, Any], param: str) -> None:
    assert rejected(message).param == param


# --------------------------------------------------------------------------------------------- tool results


def test_tool_results_become_tool_messages_before_the_rest_of_the_turn() -> None:
    messages = convert(
        assistant(CALL, {**CALL, "id": "toolu_2"}),
        user(
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "two"}]},
            {"type": "text", "text": "and now?"},
        ),
    )
    assert messages[1:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "one"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "two"}]},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("boom", TOOL_ERROR_PREFIX + "boom"),
        (None, "Error"),
        ([{"type": "text", "text": "bad"}], [{"type": "text", "text": TOOL_ERROR_PREFIX + "bad"}]),
    ],
)
def test_is_error_prefixes_the_content(content: Any, expected: Any) -> None:
    block = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True}
    if content is not None:
        block["content"] = content
    assert convert(assistant(CALL), user(block))[1]["content"] == expected


def test_empty_results_and_cache_control() -> None:
    messages = convert(
        assistant(CALL),
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": [], "cache_control": EPHEMERAL}),
    )
    assert messages[1] == {"role": "tool", "tool_call_id": "toolu_1", "content": "", "cache_control": EPHEMERAL}


def test_tool_result_images_move_to_a_user_message_after_the_tool_messages() -> None:
    messages = convert(
        assistant(CALL, {**CALL, "id": "toolu_2"}),
        user(
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "screenshot:"}, {"type": "image", "source": PNG}],
            },
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "image", "source": PNG}]},
            {"type": "text", "text": "what do you see?"},
        ),
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert messages[1:] == [
        {
            "role": "tool",
            "tool_call_id": "toolu_1",
            "content": [{"type": "text", "text": "screenshot:"}, {"type": "text", "text": TOOL_IMAGE_NOTE}],
        },
        {"role": "tool", "tool_call_id": "toolu_2", "content": TOOL_IMAGE_NOTE},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call toolu_1:"},
                image,
                {"type": "text", "text": "Images returned by tool call toolu_2:"},
                image,
                {"type": "text", "text": "what do you see?"},
            ],
        },
    ]


def test_why_images_leave_tool_messages() -> None:
    """OpenAI's tool messages take text only: an image part there is invalid for the ``openai`` SDK's types."""
    adapter: TypeAdapter[Any] = TypeAdapter(ChatCompletionToolMessageParam)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(ValidationError):
        list(adapter.validate_python({"role": "tool", "tool_call_id": "t", "content": [image]})["content"])


@pytest.mark.parametrize(
    ("block", "param"),
    [
        ({"type": "tool_result"}, ".tool_use_id"),
        ({"type": "tool_result", "tool_use_id": "t", "content": 5}, ".content"),
        ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}, ".content[0]"),
        ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_use"}]}, ".content[0]"),
        ({"type": "tool_result", "tool_use_id": "t", "toolset_name": "mcp"}, ".toolset_name"),
    ],
)
def test_invalid_tool_results(block: dict[str, Any], param: str) -> None:
    assert rejected(user(block)).param == f"messages[0].content[0]{param}"


# ---------------------------------------------------------------------------------------------- assistant


def test_assistant_text_thinking_and_tool_calls() -> None:
    message = convert(
        assistant(
            {"type": "thinking", "thinking": "Let me ", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "think.", "signature": "sig-2"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_9", "name": "calc", "input": {"x": [1, 2], "y": "é"}},
        )
    )[0]
    assert message == {
        "role": "assistant",
        "content": "Calling.",
        "tool_calls": [
            {"id": "toolu_9", "type": "function", "function": {"name": "calc", "arguments": '{"x":[1,2],"y":"é"}'}}
        ],
        "reasoning_content": "Let me think.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me ", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "think.", "signature": "sig-2"},
        ],
    }


def test_unsigned_thinking_travels_as_reasoning_content_only() -> None:
    message = convert(
        assistant({"type": "thinking", "thinking": "hmm", "signature": ""}, {"type": "text", "text": "x"})
    )
    assert message == [{"role": "assistant", "content": "x", "reasoning_content": "hmm"}]


def test_tool_only_turn_has_null_content_and_thinking_only_turn_empty_text() -> None:
    assert convert(assistant(CALL))[0]["content"] is None
    assert convert(assistant({"type": "thinking", "thinking": "t", "signature": "s"}))[0]["content"] == ""


def test_several_text_blocks_stay_separate_parts() -> None:
    assert convert(assistant({"type": "text", "text": "a"}, {"type": "text", "text": "b"}))[0]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
    ]


def test_cache_control_on_a_tool_use_marks_the_assistant_message() -> None:
    message = convert(assistant({"type": "text", "text": "a"}, {**CALL, "cache_control": EPHEMERAL}))[0]
    assert message["cache_control"] == EPHEMERAL
    ctx = TranslationContext(upstream_model="c", request_model="c", response_id="r", created=1)
    back = openai_to_anthropic({"model": "c", "messages": [message]}, ctx)
    assert back["messages"][0]["content"][-1] == {**CALL, "cache_control": EPHEMERAL}


def test_direct_caller_is_accepted() -> None:
    assert convert(assistant({**CALL, "caller": {"type": "direct"}}))[0]["tool_calls"][0]["id"] == "toolu_1"


@pytest.mark.parametrize(
    ("block", "param"),
    [
        ({"type": "tool_use", "name": "n", "input": {}}, ""),
        ({"type": "tool_use", "id": "t", "name": "n", "input": [1]}, ".input"),
        ({**CALL, "caller": {"type": "code_execution_20250825", "tool_id": "x"}}, ".caller"),
        ({"type": "thinking", "thinking": "x"}, ""),
        ({"type": "thinking", "thinking": "x", "signature": "s", "cache_control": EPHEMERAL}, ".cache_control"),
        ({"type": "redacted_thinking"}, ".data"),
        ({"type": "image", "source": PNG}, ""),
        ({"type": "tool_result", "tool_use_id": "t"}, ""),
        ({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, ""),
    ],
)
def test_invalid_assistant_blocks(block: dict[str, Any], param: str) -> None:
    assert rejected(assistant(block)).param == f"messages[0].content[0]{param}"
