"""The model → encoding table: agrees with tiktoken's own map, strips provider prefixes, refuses non-OpenAI ids."""

from __future__ import annotations

import pytest
from tiktoken.model import encoding_name_for_model

from wardgate.tokens.encodings import MODEL_ENCODINGS, encoding_for

# tiktoken's map names these (its MODEL_TO_ENCODING and MODEL_PREFIX_TO_ENCODING); ours must agree on every one.
TIKTOKEN_KNOWN = [
    "gpt-4o",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "chatgpt-4o-latest",
    "gpt-4.1",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.5-preview",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5.1-2025-11-13",
    "o1",
    "o1-mini",
    "o1-preview-2024-09-12",
    "o3",
    "o3-mini-2025-01-31",
    "o4-mini",
    "o4-mini-2025-04-16",
    "gpt-oss-120b",
    "gpt-oss-20b",
    "gpt-4",
    "gpt-4-0613",
    "gpt-4-32k",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-0125",
    "gpt-35-turbo-16k",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "ft:gpt-4o-mini-2024-07-18:acme::abc123",
    "ft:gpt-3.5-turbo-0125:acme::abc123",
]


@pytest.mark.parametrize("model", TIKTOKEN_KNOWN)
def test_agrees_with_tiktoken(model: str) -> None:
    assert encoding_for(model) == encoding_name_for_model(model)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai/gpt-4o", "o200k_base"),
        ("azure/gpt-4-turbo", "cl100k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("openrouter/openai/gpt-4.1-mini", "o200k_base"),
        ("together/openai/gpt-oss-120b", "o200k_harmony"),
        ("openai.gpt-oss-20b-1:0", "o200k_harmony"),  # Bedrock's id for gpt-oss
        ("GPT-4o-Mini", "o200k_base"),
        ("gpt-4o@2024-08-06", "o200k_base"),
    ],
)
def test_prefixes_and_spellings(model: str, expected: str) -> None:
    assert encoding_for(model) == expected


@pytest.mark.parametrize(
    "model",
    [
        "",
        None,
        "claude-sonnet-4-5",
        "anthropic/claude-3-5-haiku-latest",
        "gemini-2.5-pro",
        "meta-llama/Llama-3.1-8B-Instruct",
        "mistral-large-latest",
        "o100",  # a prefix must end at a separator
        "gpt-40",
        "text-embedding-004",
        "openai/",
    ],
)
def test_not_openai(model: str | None) -> None:
    assert encoding_for(model) is None


def test_specific_prefixes_come_before_general_ones() -> None:
    # "gpt-4" would swallow "gpt-4.1" and "gpt-4.5" if it came first.
    order = [prefix for prefix, _ in MODEL_ENCODINGS]
    assert order.index("gpt-4.1") < order.index("gpt-4")
    assert order.index("gpt-4.5") < order.index("gpt-4")
    assert encoding_for("gpt-4.1-nano") == "o200k_base"
    assert encoding_for("gpt-4-1106-preview") == "cl100k_base"
