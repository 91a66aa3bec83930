"""Golden files: OpenAI request → Converse body, Converse response → OpenAI completion, ConverseStream frames →
OpenAI chunks (fed whole and byte by byte). OpenAI outputs are also validated with the openai SDK's types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.providers.bedrock import BedrockAdapter
from wardgate.providers.translate import TranslationContext
from wardgate.testing.fake_bedrock import event_frame

GOLDEN = Path(__file__).parent / "golden"
CLAUDE = "anthropic.claude-sonnet-4-20250514-v1:0"
ADAPTER = BedrockAdapter()


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / name).read_text())
    return cases


def _ctx(model: str = CLAUDE, *, stream: bool = False, include_usage: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model=model,
        request_model="m",
        response_id="chatcmpl-golden",
        created=1700000000,
        stream=stream,
        include_usage=include_usage,
    )


@pytest.mark.parametrize("case", _load("requests.json"), ids=lambda c: c["name"])
def test_request_golden(case: dict[str, Any]) -> None:
    snapshot = json.dumps(case["request"], sort_keys=True)
    call = ADAPTER.chat_call(case["request"], _ctx(case["model"]))
    assert json.dumps(case["request"], sort_keys=True) == snapshot  # never mutates its input
    expected = case["expected"]
    assert call.path == expected["path"]
    assert call.stream is expected["stream"]
    assert call.headers == expected["headers"]
    assert orjson.loads(call.body) == expected["body"]


@pytest.mark.parametrize("case", _load("responses.json"), ids=lambda c: c["name"])
def test_response_golden(case: dict[str, Any]) -> None:
    result = ADAPTER.chat_response(orjson.dumps(case["response"]), _ctx())
    assert result == case["expected"]
    ChatCompletion.model_validate(result)


def _frames(case: dict[str, Any]) -> bytes:
    return b"".join(event_frame(e["event"], e["payload"]) for e in case["events"])


@pytest.mark.parametrize("case", _load("streams.json"), ids=lambda c: c["name"])
def test_stream_golden_whole(case: dict[str, Any]) -> None:
    translator = ADAPTER.chat_stream(_ctx(stream=True, include_usage=case["include_usage"]))
    chunks = translator.feed(_frames(case)) + translator.finish()
    assert chunks == case["expected"]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)


@pytest.mark.parametrize("case", _load("streams.json"), ids=lambda c: c["name"])
def test_stream_golden_byte_by_byte(case: dict[str, Any]) -> None:
    translator = ADAPTER.chat_stream(_ctx(stream=True, include_usage=case["include_usage"]))
    data = _frames(case)
    chunks: list[dict[str, Any]] = []
    for position in range(len(data)):
        chunks.extend(translator.feed(data[position : position + 1]))
    chunks.extend(translator.finish())
    assert chunks == case["expected"]
