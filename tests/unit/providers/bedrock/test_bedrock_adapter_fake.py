"""The adapter end to end against FakeBedrock: translate → SigV4-sign → send with aiohttp → translate back.

This is the path the gateway's client takes, so it also proves the signing contract (URL sent byte for byte as
signed: ``yarl.URL(url, encoded=True)``)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from yarl import URL

from wardgate.core.errors import GatewayError, RateLimitError, StreamInterruptedError, UpstreamStatusError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.bedrock import BedrockAdapter, SigV4Signer
from wardgate.providers.translate import TranslationContext
from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_bedrock import FakeBedrock

KEY_ID, SECRET, REGION = "AKIDFAKE", "fake-secret/key+value", "eu-central-1"
CLAUDE = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
        },
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
ADAPTER = BedrockAdapter()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET, region=REGION) as server:
        yield server


def _ctx(stream: bool = False, model: str = CLAUDE) -> TranslationContext:
    return TranslationContext(
        upstream_model=model,
        request_model="gw",
        response_id="chatcmpl-1",
        created=1,
        stream=stream,
        include_usage=stream,
    )


async def _send(fake: FakeBedrock, call: UpstreamCall, secret: str = SECRET) -> tuple[int, bytes, dict[str, str]]:
    url = fake.url + call.path
    headers = SigV4Signer(REGION, KEY_ID, secret).headers(call.method, url, call.headers, call.body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(URL(url, encoded=True), data=call.body, headers=headers) as resp,
    ):
        body = b""
        try:
            async for piece in resp.content.iter_any():
                body += piece
        except aiohttp.ClientPayloadError:
            pass  # a cut connection: the translator's finish() must notice
        return resp.status, body, dict(resp.headers)


async def _chat(fake: FakeBedrock, request: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx()
    status, body, headers = await _send(fake, ADAPTER.chat_call({"model": "gw", **request}, ctx))
    if status != 200:
        raise ADAPTER.map_error(status, body, headers)
    result = ADAPTER.chat_response(body, ctx)
    ChatCompletion.model_validate(result)
    return result


async def _stream(fake: FakeBedrock, request: dict[str, Any]) -> list[dict[str, Any]]:
    ctx = _ctx(stream=True)
    status, body, headers = await _send(fake, ADAPTER.chat_call({"model": "gw", **request, "stream": True}, ctx))
    if status != 200:
        raise ADAPTER.map_error(status, body, headers)
    translator = ADAPTER.chat_stream(ctx)
    chunks = [c for i in range(0, len(body), 7) for c in translator.feed(body[i : i + 7])] + translator.finish()
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def _message(result: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = result["choices"][0]["message"]
    return message


async def test_plain_text_and_stream(fake: FakeBedrock) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    result = await _chat(fake, {"messages": messages, "max_tokens": 5})
    assert _message(result)["content"] == "Hello! This is a reply"
    assert result["choices"][0]["finish_reason"] == "length" and result["usage"]["completion_tokens"] == 5
    assert fake.last_request is not None and "%3A" in fake.last_request.path
    chunks = await _stream(fake, {"messages": messages})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("Hello! This is a reply from the fake Bedrock server.")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 20
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_required_tool_then_tool_result_round_trip(fake: FakeBedrock) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris for 3 days?"}]
    result = await _chat(fake, {"messages": messages, "tools": [WEATHER], "tool_choice": "required"})
    [call] = _message(result)["tool_calls"]
    arguments = orjson.loads(call["function"]["arguments"])
    assert set(arguments) >= {"city", "days"} and arguments["days"] >= 1
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    messages += [_message(result), {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    final = await _chat(fake, {"messages": messages, "tools": [WEATHER]})
    assert final["choices"][0]["finish_reason"] == "stop" and _message(final)["content"]


async def test_named_tool_stream_and_scripted_parallel_calls(fake: FakeBedrock) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    chunks = await _stream(
        fake, {"messages": [{"role": "user", "content": "Rome?"}], "tools": [WEATHER], "tool_choice": choice}
    )
    starts = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls", [{}])[0].get("id")]
    assert len(starts) == 1
    fake.script(
        Behavior(
            tool_calls=[
                ToolCall("get_weather", {"city": "Paris", "days": 1}),
                ToolCall("get_weather", {"city": "Rome", "days": 2}),
            ]
        )
    )
    result = await _chat(fake, {"messages": [{"role": "user", "content": "both"}], "tools": [WEATHER]})
    calls = _message(result)["tool_calls"]
    assert [orjson.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Rome"]


async def test_json_schema_mode(fake: FakeBedrock) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    result = await _chat(fake, {"messages": [{"role": "user", "content": "Ada Lovelace"}], "response_format": fmt})
    value = orjson.loads(_message(result)["content"])
    assert isinstance(value["name"], str) and isinstance(value["age"], int)
    assert result["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in _message(result)
    chunks = await _stream(
        fake, {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    )
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert isinstance(orjson.loads(text), dict)


async def test_image_and_reasoning_round_trip(fake: FakeBedrock) -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, part]}]
    result = await _chat(fake, {"messages": messages, "reasoning_effort": "low", "tools": [WEATHER]})
    message = _message(result)
    assert message["reasoning_content"] and message["thinking_blocks"][0]["signature"]
    messages += [{**message, "content": message["content"]}, {"role": "user", "content": "and again"}]
    again = await _chat(fake, {"messages": messages, "reasoning_effort": "low", "tools": [WEATHER]})
    assert _message(again)["content"]
    sent = fake.last_request.json if fake.last_request else None
    assert sent is not None and "reasoningContent" in sent["messages"][1]["content"][0]


async def test_errors_and_truncation(fake: FakeBedrock) -> None:
    user = [{"role": "user", "content": "hi"}]
    fake.script(Behavior(status=429))
    with pytest.raises(RateLimitError):
        await _chat(fake, {"messages": user})
    fake.script(Behavior(disconnect_after=3))
    with pytest.raises(StreamInterruptedError):
        await _stream(fake, {"messages": user})
    fake.script(Behavior(status=503, disconnect_after=2))
    with pytest.raises(GatewayError) as info:
        await _stream(fake, {"messages": user})
    assert info.value.http_status == 503
    ctx = _ctx()
    status, body, headers = await _send(fake, ADAPTER.chat_call({"model": "gw", "messages": user}, ctx), "wrong")
    error = ADAPTER.map_error(status, body, headers)
    assert status == 403 and isinstance(error, UpstreamStatusError) and error.code == "upstream_auth_failed"


@pytest.mark.parametrize("model", ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3", "cohere.embed-v4:0"])
async def test_embeddings(fake: FakeBedrock, model: str) -> None:
    ctx = _ctx(model=model)
    calls = ADAPTER.embeddings_calls(
        {"model": "gw", "input": ["alpha", "beta"], "dimensions": 256 if "v3" not in model else None}, ctx
    )
    answers = [await _send(fake, call) for call in calls]
    assert all(status == 200 for status, _, _ in answers)
    result = ADAPTER.embeddings_responses([b for _, b, _ in answers], ctx, [h for _, _, h in answers])
    CreateEmbeddingResponse.model_validate(result)
    assert len(result["data"]) == 2 and result["usage"]["prompt_tokens"] == 3
    assert len(result["data"][0]["embedding"]) == (1024 if "v3" in model else 256)
