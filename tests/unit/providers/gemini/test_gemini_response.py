"""Gemini → OpenAI non-stream responses beyond the golden files: finish reasons, usage arithmetic, ids, odd
bodies and in-body errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from wardgate.core.errors import RateLimitError, UpstreamRejectedError, UpstreamStatusError
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.translate import TranslationContext


def ctx(response_id: str = "chatcmpl-r") -> TranslationContext:
    return TranslationContext(upstream_model="gemini-2.5-flash", request_model="a", response_id=response_id, created=1)


def translate(body: Any, context: TranslationContext | None = None) -> dict[str, Any]:
    result = GeminiAdapter().chat_response(orjson.dumps(body), context or ctx())
    ChatCompletion.model_validate(result)
    return result


def candidate(parts: list[dict[str, Any]], finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"role": "model", "parts": parts}, **extra}
    if finish is not None:
        body["finishReason"] = finish
    return body


@pytest.mark.parametrize(
    ("raw", "with_call", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("OTHER", False, "stop"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
        ("FINISH_REASON_UNSPECIFIED", False, "stop"),
    ],
)
def test_finish_reasons(raw: str, with_call: bool, expected: str) -> None:
    parts: list[dict[str, Any]] = [{"text": "x"}]
    if with_call:
        parts.append({"functionCall": {"name": "f", "args": {}}})
    result = translate({"candidates": [candidate(parts, raw)]})
    assert result["choices"][0]["finish_reason"] == expected


def test_usage_arithmetic() -> None:
    usage = translate(
        {
            "candidates": [candidate([{"text": "x"}])],
            "usageMetadata": {
                "promptTokenCount": 100,
                "cachedContentTokenCount": 60,
                "toolUsePromptTokenCount": 5,
                "candidatesTokenCount": 7,
                "thoughtsTokenCount": 11,
                "totalTokenCount": 123,
            },
        }
    )["usage"]
    assert usage["prompt_tokens"] == 105
    assert usage["completion_tokens"] == 18
    assert usage["total_tokens"] == 123
    assert usage["prompt_tokens_details"]["cached_tokens"] == 60
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 11


def test_missing_usage_is_zero() -> None:
    usage = translate({"candidates": [candidate([{"text": "x"}])]})["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (0, 0)


def test_tool_call_ids_are_stable_per_response_and_gemini_ids_are_kept() -> None:
    body = {
        "candidates": [
            candidate([{"functionCall": {"name": "a"}}, {"functionCall": {"name": "b", "id": "g-1", "args": {"x": 1}}}])
        ]
    }
    first = translate(body)["choices"][0]["message"]["tool_calls"]
    again = translate(body)["choices"][0]["message"]["tool_calls"]
    other = translate(body, ctx("chatcmpl-other"))["choices"][0]["message"]["tool_calls"]
    assert first == again
    assert first[0]["id"].startswith("call_") and len(first[0]["id"]) == 29
    assert first[0]["id"] != other[0]["id"]
    assert first[0]["function"] == {"name": "a", "arguments": "{}"}
    assert first[1]["id"] == "g-1"
    assert first[1]["function"]["arguments"] == '{"x":1}'


def test_text_with_calls_and_thought_only() -> None:
    message = translate(
        {"candidates": [candidate([{"text": "Sure.", "thoughtSignature": "c2ln"}, {"functionCall": {"name": "f"}}])]}
    )
    assert message["choices"][0]["message"]["content"] == "Sure."
    thought_only = translate({"candidates": [candidate([{"text": "hmm", "thought": True}])]})["choices"][0]["message"]
    assert thought_only["content"] == ""
    assert thought_only["reasoning_content"] == "hmm"


def test_list_wrapped_body_is_accepted() -> None:
    assert translate([{"candidates": [candidate([{"text": "hi"}])]}])["choices"][0]["message"]["content"] == "hi"


def test_bad_bodies() -> None:
    adapter = GeminiAdapter()
    for raw in (b"not json", b"[]", b'"text"', b'{"candidates": []}', b"{}"):
        with pytest.raises(UpstreamStatusError):
            adapter.chat_response(raw, ctx())


def test_error_object_in_a_200_body_is_mapped() -> None:
    adapter = GeminiAdapter()
    limited = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(RateLimitError):
        adapter.chat_response(orjson.dumps(limited), ctx())
    invalid = {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
    with pytest.raises(UpstreamRejectedError):
        adapter.chat_response(orjson.dumps(invalid), ctx())


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])
def test_a_failed_function_call_is_an_upstream_error_not_an_empty_answer(reason: str) -> None:
    body = {"candidates": [candidate([{"text": "thinking", "thought": True}], reason)]}
    with pytest.raises(UpstreamStatusError) as raised:
        GeminiAdapter().chat_response(orjson.dumps(body), ctx())
    assert raised.value.retryable
    assert raised.value.code == reason.lower()
