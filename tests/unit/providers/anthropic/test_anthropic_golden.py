"""Golden files for the Anthropic adapter: OpenAI request in → Anthropic body out, Anthropic response in → OpenAI
completion out, Anthropic SSE stream in → OpenAI chunks out (fed in one piece and byte by byte).

Every side is also checked against the real shapes: OpenAI outputs with the ``openai`` SDK's types, Anthropic
inputs with the ``anthropic`` SDK's types, and Anthropic request bodies with the fake's strict validator.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.sse import SSEDecoder
from wardgate.providers.translate import TranslationContext
from wardgate.testing.fake_anthropic.validate import validate_request

GOLDEN = Path(__file__).parent / "golden"
CASES = {path.stem: orjson.loads(path.read_bytes()) for path in sorted(GOLDEN.glob("*.json"))}
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def _ctx(case: dict[str, Any]) -> TranslationContext:
    return TranslationContext(
        upstream_model="claude-sonnet-4-5-20250929",
        request_model="claude",
        response_id="chatcmpl-golden",
        created=1700000000,
        **case["ctx"],
    )


def _names(kind: str) -> list[str]:
    return [name for name, case in CASES.items() if case["kind"] == kind]


def test_golden_files_cover_every_direction() -> None:
    assert len(_names("request")) >= 8
    assert len(_names("response")) >= 7
    assert len(_names("stream")) >= 4


@pytest.mark.parametrize("name", _names("request"))
def test_request_golden(name: str) -> None:
    case = CASES[name]
    original = copy.deepcopy(case["input"])
    call = AnthropicAdapter().chat_call(case["input"], _ctx(case))
    body = orjson.loads(call.body)
    assert body == case["expected"]
    assert case["input"] == original, "translation must not mutate its input"
    assert call.path == "/v1/messages"
    assert call.headers == {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    assert call.stream is case["ctx"].get("stream", False)
    validate_request(body)  # the body passes the fake's strict, Anthropic-like validation


@pytest.mark.parametrize("name", _names("response"))
def test_response_golden(name: str) -> None:
    case = CASES[name]
    Message.model_validate(case["input"])  # the input is a real Anthropic Message
    out = AnthropicAdapter().chat_response(orjson.dumps(case["input"]), _ctx(case))
    assert out == case["expected"]
    ChatCompletion.model_validate(out)


def _stream_events(raw: bytes) -> list[dict[str, Any]]:
    events = SSEDecoder().feed(raw)
    payloads: list[dict[str, Any]] = [orjson.loads(e.data) for e in events]
    for event, payload in zip(events, payloads, strict=True):
        assert event.event == payload["type"], "every Anthropic frame names its type in `event:`"
    return payloads


@pytest.mark.parametrize("name", _names("stream"))
def test_stream_golden_in_one_piece(name: str) -> None:
    case = CASES[name]
    raw = case["input"].encode()
    for payload in _stream_events(raw):
        if payload["type"] != "ping":
            STREAM_EVENT.validate_python(payload)
    translator = AnthropicAdapter().chat_stream(_ctx(case))
    chunks = translator.feed(raw) + translator.finish()
    assert chunks == case["expected"]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)


@pytest.mark.parametrize("name", _names("stream"))
def test_stream_golden_byte_by_byte(name: str) -> None:
    case = CASES[name]
    translator = AnthropicAdapter().chat_stream(_ctx(case))
    chunks: list[dict[str, Any]] = []
    for byte in case["input"].encode():
        chunks.extend(translator.feed(bytes([byte])))
    chunks.extend(translator.finish())
    assert chunks == case["expected"]


@pytest.mark.parametrize("name", _names("stream"))
def test_stream_golden_with_crlf_framing(name: str) -> None:
    case = CASES[name]
    raw = case["input"].replace("\n", "\r\n").encode()
    translator = AnthropicAdapter().chat_stream(_ctx(case))
    chunks = [c for i in range(0, len(raw), 7) for c in translator.feed(raw[i : i + 7])] + translator.finish()
    assert chunks == case["expected"]
