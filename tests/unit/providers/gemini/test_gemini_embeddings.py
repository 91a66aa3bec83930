"""Embeddings translation for both flavors (inputs, dimensions, unsupported fields, odd responses)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.core.errors import InvalidRequestError, UnsupportedParameterError, UpstreamStatusError
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.translate import TranslationContext, UnsupportedMode

VERTEX = GeminiAdapter("vertex", project="my-project-1", location="us-central1")


def ctx(mode: UnsupportedMode = "strict") -> TranslationContext:
    return TranslationContext(
        upstream_model="gemini-embedding-001", request_model="e", response_id="x", created=1,
        unsupported_mode=mode,
    )  # fmt: skip


def call_body(adapter: GeminiAdapter, body: dict[str, Any], context: TranslationContext | None = None) -> Any:
    return orjson.loads(adapter.embeddings_call(body, context or ctx()).body)


def test_single_string_and_dimensions() -> None:
    assert call_body(GeminiAdapter(), {"input": "hello", "dimensions": 8}) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "hello"}]},
                "outputDimensionality": 8,
            }
        ]
    }
    assert call_body(VERTEX, {"input": ["a", "b"], "encoding_format": "base64"}) == {
        "instances": [{"content": "a"}, {"content": "b"}]
    }


@pytest.mark.parametrize(
    "body",
    [
        {"input": [1, 2, 3]},
        {"input": [[1, 2]]},
        {"input": []},
        {"input": "x", "dimensions": 0},
        {"input": "x", "dimensions": True},
        {"input": "x", "encoding_format": "int8"},
    ],
)
def test_invalid_inputs(body: dict[str, Any]) -> None:
    for adapter in (GeminiAdapter(), VERTEX):
        with pytest.raises(InvalidRequestError):
            adapter.embeddings_call(body, ctx())


def test_user_and_unknown_fields_are_unsupported() -> None:
    with pytest.raises(UnsupportedParameterError):
        GeminiAdapter().embeddings_call({"input": "x", "user": "u1"}, ctx())
    context = ctx("warn")
    call_body(VERTEX, {"input": "x", "user": "u1", "truncate": "END"}, context)
    assert context.dropped == ["truncate", "user"]


def test_response_usage_and_bad_bodies() -> None:
    with_usage = {"embeddings": [{"values": [1.0]}], "usageMetadata": {"promptTokenCount": 4}}
    assert GeminiAdapter().embeddings_response(orjson.dumps(with_usage), ctx())["usage"]["prompt_tokens"] == 4
    for adapter, raw in (
        (GeminiAdapter(), {"embeddings": [{}]}),
        (GeminiAdapter(), {"nothing": []}),
        (VERTEX, {"predictions": [{"embeddings": {}}]}),
        (VERTEX, {"embeddings": []}),
    ):
        with pytest.raises(UpstreamStatusError):
            adapter.embeddings_response(orjson.dumps(raw), ctx())
