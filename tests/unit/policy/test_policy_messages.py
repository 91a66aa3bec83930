"""Detection over chat payloads: OpenAI messages (string content, content parts, tool calls, a participant's
name), Anthropic content blocks (text, tool_use input, tool_result, images), Responses API items; structure kept,
binary payloads replaced, input never changed, and ``classify`` over ``text_of_messages``."""

from __future__ import annotations

import copy
from typing import Any

from wardgate.policy import classify, redact_messages, text_of_messages

OPENAI: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a clinical assistant."},
    {"role": "user", "name": "jane.doe@example.com", "content": "Patient MRN: 00456789 needs a summary."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "DOB: 03/14/1962"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/scan.png?owner=bob@example.com"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"ssn": "123-45-6789", "limit": 3}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Card on file: 4111 1111 1111 1111"},
]

ANTHROPIC: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Call me at +1 (415) 555-2671", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Look up NPI 1234567893", "signature": "EqoBCkgIARABGAIiQL"},
            {"type": "tool_use", "id": "toolu_01", "name": "search", "input": {"q": "Diagnosis: E11.9", "n": 5}},
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01",
                "content": [{"type": "text", "text": "IBAN GB82WEST12345698765432"}],
            }
        ],
    },
]


def test_openai_messages_are_redacted_field_by_field() -> None:
    redacted = redact_messages(OPENAI)
    assert redacted[0] == OPENAI[0]
    assert redacted[1] == {
        "role": "user",
        "name": "[REDACTED:EMAIL]",
        "content": "Patient MRN: [REDACTED:MRN] needs a summary.",
    }
    parts = redacted[2]["content"]
    assert parts[0] == {"type": "text", "text": "DOB: [REDACTED:DOB]"}
    assert parts[1] == {"type": "image_url", "image_url": {"url": "[REDACTED:DATA]", "detail": "low"}}
    assert parts[2]["image_url"]["url"] == "https://example.com/scan.png?owner=[REDACTED:EMAIL]"
    call = redacted[3]["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == "lookup"
    assert call["function"]["arguments"] == '{"ssn": "[REDACTED:SSN]", "limit": 3}'
    assert redacted[3]["content"] is None
    assert redacted[4] == {"role": "tool", "tool_call_id": "call_1", "content": "Card on file: [REDACTED:CARD]"}


def test_anthropic_blocks_are_redacted_and_keep_their_structure() -> None:
    redacted = redact_messages(ANTHROPIC)
    text, image = redacted[0]["content"]
    assert text == {"type": "text", "text": "Call me at [REDACTED:PHONE]", "cache_control": {"type": "ephemeral"}}
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": "[REDACTED:DATA]"}
    thinking, tool_use = redacted[1]["content"]
    assert thinking == {"type": "thinking", "thinking": "Look up NPI [REDACTED:NPI]", "signature": "EqoBCkgIARABGAIiQL"}
    assert tool_use == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "search",
        "input": {"q": "Diagnosis: [REDACTED:ICD10]", "n": 5},
    }
    result = redacted[2]["content"][0]
    assert result["tool_use_id"] == "toolu_01"
    assert result["content"] == [{"type": "text", "text": "IBAN [REDACTED:IBAN]"}]


def test_responses_items_and_plain_strings() -> None:
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "mail ops@example.com"}]},
        {"type": "function_call_output", "call_id": "call_9", "output": "MRN: 00456789"},
    ]
    redacted = redact_messages(items)
    assert redacted[0]["content"][0] == {"type": "input_text", "text": "mail [REDACTED:EMAIL]"}
    assert redacted[1] == {"type": "function_call_output", "call_id": "call_9", "output": "MRN: [REDACTED:MRN]"}
    assert redact_messages("SSN 123-45-6789") == "SSN [REDACTED:SSN]"
    assert redact_messages(None) is None


def test_input_is_never_changed_and_objects_are_new() -> None:
    for payload in (OPENAI, ANTHROPIC):
        before = copy.deepcopy(payload)
        redacted = redact_messages(payload)
        assert payload == before
        assert redacted is not payload
        assert all(new is not old for new, old in zip(redacted, payload, strict=True))
    clean = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    copied = redact_messages(clean)
    assert copied == clean and copied[0] is not clean[0] and copied[0]["content"] is not clean[0]["content"]


def test_text_of_messages_collects_content_and_skips_structure_and_binary() -> None:
    text = text_of_messages(OPENAI)
    for expected in ("clinical assistant", "jane.doe@example.com", "MRN: 00456789", '"ssn": "123-45-6789"'):
        assert expected in text
    for skipped in ("iVBORw0KGgo", "call_1", "image_url", "function", "low"):
        assert skipped not in text
    anthropic = text_of_messages(ANTHROPIC)
    assert "Diagnosis: E11.9" in anthropic and "IBAN GB82WEST12345698765432" in anthropic
    assert "EqoBCkgIARABGAIiQL" not in anthropic and "toolu_01" not in anthropic


def test_classify_over_messages() -> None:
    assert classify(text_of_messages(OPENAI), ("pii", "phi")) == {"pii", "phi"}
    assert classify(text_of_messages([{"role": "user", "content": "Summarise this memo."}]), ("pii", "phi")) == set()
    tool_only = [
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "f", "arguments": '{"dob": "x", "m": "MRN 1234567"}'}}],
        }
    ]
    assert classify(text_of_messages(tool_only), ("phi",)) == {"phi"}


def test_strings_are_judged_apart() -> None:
    """A label at the end of one part does not reach a value in the next (redaction works part by part)."""
    parts = [{"type": "text", "text": "Diagnosis:"}, {"type": "text", "text": "E11.9 is a code"}]
    assert classify(text_of_messages(parts), ("phi",)) == set()
    assert redact_messages(parts) == parts
