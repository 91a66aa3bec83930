"""The local ``count_tokens`` estimate: characters / 4 over every text, per-message overhead, fixed image and
PDF-page costs, the tool-use overhead, and tolerance of malformed input."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson

from wardgate.api.anthropic.translate import estimate_tokens
from wardgate.api.anthropic.translate.tokens import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    PDF_PAGE_TOKENS,
    TOOL_USE_OVERHEAD,
)

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def estimate(**fields: Any) -> int:
    return estimate_tokens({"model": "m", "messages": [], **fields})


def test_text_is_about_four_characters_a_token() -> None:
    assert estimate(messages=[{"role": "user", "content": "x" * 400}]) == 100 + MESSAGE_OVERHEAD
    assert estimate(messages=[{"role": "user", "content": "abc"}]) == 1 + MESSAGE_OVERHEAD


def test_system_string_and_blocks_count() -> None:
    assert estimate(system="y" * 40) == 10
    assert estimate(system=[{"type": "text", "text": "y" * 40}, {"type": "text", "text": "z" * 40}]) == 20


def test_each_message_adds_overhead() -> None:
    messages = [{"role": "user", "content": "a" * 8}, {"role": "assistant", "content": "b" * 8}]
    assert estimate(messages=messages) == 4 + 2 * MESSAGE_OVERHEAD


def test_images_cost_a_fixed_amount_wherever_they_are() -> None:
    image = {"type": "image", "source": PNG}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [image, {"type": "text", "text": "x" * 8}]}
    messages = [{"role": "user", "content": [image, result]}]
    assert estimate(messages=messages) == 2 * IMAGE_TOKENS + 2 + MESSAGE_OVERHEAD


def test_tool_calls_thinking_and_tools() -> None:
    use = {"type": "tool_use", "id": "t", "name": "calc", "input": {"a": 1}}
    thinking = {"type": "thinking", "thinking": "t" * 40, "signature": "s" * 400}
    redacted = {"type": "redacted_thinking", "data": "r" * 4000}
    tool = {"name": "calc", "input_schema": {"type": "object"}}
    body = {"messages": [{"role": "assistant", "content": [thinking, redacted, use]}], "tools": [tool]}
    chars = 40 + len("calc") + len('{"a":1}')
    tools = len(orjson.dumps(tool)) / 4
    assert estimate(**body) == math.ceil(chars / 4 + MESSAGE_OVERHEAD + TOOL_USE_OVERHEAD + tools)


def test_documents() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] >>\n2 0 obj << /Type /Page >>\n3 0 obj <</Type/Page>>"
    pdf_source = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()}
    text_source = {"type": "text", "media_type": "text/plain", "data": "d" * 80}
    blocks = [{"type": "document", "source": pdf_source}, {"type": "document", "source": text_source}]
    assert estimate(messages=[{"role": "user", "content": blocks}]) == 2 * PDF_PAGE_TOKENS + 20 + MESSAGE_OVERHEAD
    broken = {"type": "base64", "media_type": "application/pdf", "data": "not base64!"}
    assert estimate(messages=[{"role": "user", "content": [{"type": "document", "source": broken}]}]) == (
        PDF_PAGE_TOKENS + MESSAGE_OVERHEAD
    )


def test_unknown_blocks_count_as_their_json() -> None:
    block = {"type": "search_result", "source": "s", "title": "t", "content": []}
    expected = math.ceil(len(orjson.dumps(block)) / 4) + MESSAGE_OVERHEAD
    assert estimate(messages=[{"role": "user", "content": [block]}]) == expected


def test_malformed_input_is_tolerated_and_at_least_one() -> None:
    assert estimate_tokens({}) == 1
    assert estimate_tokens({"messages": "nope", "system": 5, "tools": "x"}) == 1
    assert estimate(messages=["junk", {"role": "user"}, {"role": "user", "content": [None, 3]}]) == 3 * MESSAGE_OVERHEAD
