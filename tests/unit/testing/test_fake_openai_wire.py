"""Pure builders of wardgate.testing: text splitting, usage, tool arguments, Behavior parsing."""

from __future__ import annotations

import base64
import struct

import pytest

from wardgate.testing import Behavior, ToolCall
from wardgate.testing.embeddings import embeddings_body, normalize_inputs
from wardgate.testing.errors import mask_key
from wardgate.testing.wire import (
    default_content,
    estimate_prompt_tokens,
    example_arguments,
    split_arguments,
    split_content,
    truncate_words,
    usage_block,
)


@pytest.mark.parametrize(
    ("content", "chunks", "expected"),
    [
        ("a b c d", 2, ("a b", " c d")),
        ("a b c", 2, ("a b", " c")),
        ("ab", 5, ("a", "b")),
        ("hello", 2, ("hel", "lo")),
        ("  lead and trail  ", 3, ("  lead", " and", " trail  ")),
        ("", 3, ()),
    ],
)
def test_split_content_concatenates_back(content: str, chunks: int, expected: tuple[str, ...]) -> None:
    assert split_content(content, chunks) == expected
    assert "".join(split_content(content, chunks)) == content


def test_default_content_and_truncation() -> None:
    text = default_content(20)
    assert len(text.split()) == 20 and text.startswith("Hello! This is a reply from the fake OpenAI server. Hello!")
    assert truncate_words(text, 2) == "Hello! This"
    assert split_arguments('{"a":1}', 3) == ['{"a', '":', "1}"]
    assert split_arguments("", 3) == []


def test_usage_and_prompt_estimate() -> None:
    messages = [{"role": "user", "content": "x" * 9}, {"role": "user", "content": [{"type": "text", "text": "abc"}]}]
    assert estimate_prompt_tokens(messages) == 3
    assert estimate_prompt_tokens([]) == 1
    usage = usage_block(5, 7, {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 50}})
    assert usage["total_tokens"] == 107 and usage["prompt_tokens_details"] == {"cached_tokens": 50}
    assert usage_block(1, 1, {"total_tokens": 9})["total_tokens"] == 9


def test_example_arguments_follow_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "n": {"type": ["null", "number"]},
            "e": {"enum": ["x", "y"]},
            "o": {"type": "object", "properties": {"b": {"type": "boolean"}}},
            "l": {"type": "array"},
        },
    }
    assert example_arguments(schema) == {"s": "example", "n": 1.5, "e": "x", "o": {"b": True}, "l": []}
    assert example_arguments(None) == {}


def test_embeddings_are_deterministic_little_endian_float32() -> None:
    keys = normalize_inputs(["same", "same", "other"])
    assert keys is not None
    body = embeddings_body(keys, "e", 4, "base64")
    raw = base64.b64decode(body["data"][0]["embedding"])
    floats = embeddings_body(keys, "e", 4, "float")["data"][0]["embedding"]
    assert list(struct.unpack("<4f", raw)) == floats
    assert body["data"][0]["embedding"] == body["data"][1]["embedding"] != body["data"][2]["embedding"]
    assert normalize_inputs([1, 2]) is not None and normalize_inputs([]) is None and normalize_inputs(3) is None


def test_behavior_from_dict_round_trip_and_validation() -> None:
    original = Behavior(status=429, error_body=b"raw", headers={"Retry-After": "2"}, tool_calls=[ToolCall("f")])
    rebuilt = Behavior.from_dict(original.to_dict())
    assert rebuilt.status == 429 and rebuilt.error_body == "raw" and rebuilt.tool_calls == [ToolCall("f")]
    with pytest.raises(ValueError, match="unknown"):
        Behavior.from_dict({"colour": "red"})
    for bad in ({"status": 42}, {"chunks": 0}, {"latency": -1}, {"times": 0}, {"match_endpoint": "x"}):
        with pytest.raises(ValueError):
            Behavior.from_dict(bad)
    with pytest.raises(ValueError):
        Behavior.from_dict({"tool_calls": [{"arguments": "{}"}]})


def test_mask_key() -> None:
    assert mask_key("sk-abcdefghijklmnop") == "sk-************mnop"
    assert mask_key("short") == "*****"
