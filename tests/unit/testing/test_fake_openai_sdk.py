"""FakeOpenAI checked through the real openai SDK (async in-loop, sync via FakeServerThread)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai.types import CreateEmbeddingResponse, Model
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionNamedToolChoiceParam,
)

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread, ToolCall

KEY = "sk-test-key-0123456789"
MSG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather like in Paris today?"}]
WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=KEY, served_model={"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def threaded() -> Iterator[FakeServerThread]:
    with FakeServerThread(FakeOpenAI(api_key=KEY)) as runner:
        yield runner


@pytest.fixture
def sync_client(threaded: FakeServerThread) -> Iterator[openai.OpenAI]:
    threaded.fake.reset()
    with openai.OpenAI(base_url=threaded.base_url, api_key=KEY, max_retries=0) as c:
        yield c


async def raw_post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    hdrs = {"Authorization": f"Bearer {KEY}", **(headers or {})}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=hdrs) as resp:
        return resp.status, await resp.read()


def sse_payloads(raw: bytes) -> list[str]:
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    assert all(f.startswith("data: ") for f in frames[:-1])
    return [f[len("data: ") :] for f in frames[:-1]]


# ------------------------------------------------------------------------------------------ chat


async def test_completion_matches_sdk_types(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    status, raw = await raw_post(fake.base_url + "/chat/completions", {"model": "gpt-4o-mini", "messages": MSG})
    assert status == 200
    body = orjson.loads(raw)
    parsed = ChatCompletion.model_validate(body)
    assert parsed.id.startswith("chatcmpl-") and parsed.object == "chat.completion"
    assert parsed.model == "gpt-4o-mini-2024-07-18" and parsed.system_fingerprint
    choice = body["choices"][0]
    assert choice["logprobs"] is None and choice["finish_reason"] == "stop"
    assert choice["message"]["refusal"] is None and choice["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["prompt_tokens"] == 10  # 40 chars / 4
    assert usage["completion_tokens"] == 20 == len(choice["message"]["content"].split())
    assert usage["total_tokens"] == 30
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert set(usage["completion_tokens_details"]) == {
        "reasoning_tokens",
        "audio_tokens",
        "accepted_prediction_tokens",
        "rejected_prediction_tokens",
    }
    sdk = await client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert sdk.model == "gpt-4o"  # unmapped models are echoed
    assert sdk.choices[0].message.content == choice["message"]["content"]


async def test_stream_with_include_usage_raw_and_sdk(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    req = {"model": "gpt-4o", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    status, raw = await raw_post(fake.base_url + "/chat/completions", req)
    assert status == 200
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["object"] == "chat.completion.chunk" and "usage" in chunk
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 20
    assert len(chunks) == 1 + 20 + 1 + 1  # role, 20 content deltas, finish, usage

    stream = await client.chat.completions.create(
        model="gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    plain = await client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert text == plain.choices[0].message.content
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_without_include_usage_has_no_usage_key(fake: FakeOpenAI) -> None:
    fake.script(Behavior(content="one two three", chunks=2))
    _, raw = await raw_post(fake.base_url + "/chat/completions", {"model": "m", "messages": MSG, "stream": True})
    chunks = [orjson.loads(p) for p in sse_payloads(raw)[:-1]]
    assert all("usage" not in c for c in chunks)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["one two", " three"]


async def test_tool_call_required_non_stream(client: openai.AsyncOpenAI) -> None:
    resp = await client.chat.completions.create(
        model="gpt-4o", messages=MSG, tools=[WEATHER_TOOL], tool_choice="required"
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "example", "unit": "c", "days": 1}


async def test_tool_call_stream_deltas_reassemble(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("noop")], chunks=4))
    req = {"model": "m", "messages": MSG, "stream": True, "tools": [WEATHER_TOOL]}
    _, raw = await raw_post(fake.base_url + "/chat/completions", req)
    deltas = [orjson.loads(p)["choices"][0]["delta"] for p in sse_payloads(raw)[:-1]]
    first = deltas[0]["tool_calls"][0]
    assert deltas[0]["role"] == "assistant" and deltas[0]["content"] is None
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0] for d in deltas[1:] if "tool_calls" in d and "id" not in d["tool_calls"][0]]
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)

    fake.script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("noop")], chunks=4))
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True, tools=[WEATHER_TOOL])
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        finish = chunk.choices[0].finish_reason or finish
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "noop"]
    assert orjson.loads(calls[0]["arguments"]) == {"city": "Paris"} and calls[1]["arguments"] == "{}"


async def test_named_tool_choice_and_max_tokens(client: openai.AsyncOpenAI) -> None:
    named: ChatCompletionNamedToolChoiceParam = {"type": "function", "function": {"name": "get_weather"}}
    resp = await client.chat.completions.create(model="m", messages=MSG, tools=[WEATHER_TOOL], tool_choice=named)
    (call,) = resp.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    auto = await client.chat.completions.create(model="m", messages=MSG, tools=[WEATHER_TOOL])
    assert auto.choices[0].message.tool_calls is None and auto.choices[0].finish_reason == "stop"
    short = await client.chat.completions.create(model="m", messages=MSG, max_tokens=3)
    assert short.choices[0].message.content == "Hello! This is"
    assert short.choices[0].finish_reason == "length" and short.usage and short.usage.completion_tokens == 3


# ---------------------------------------------------------------------------------------- errors


async def test_429_retry_after_raises_rate_limit_error(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(status=429, headers={"Retry-After": "7", "x-ratelimit-remaining-requests": "0"}))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert info.value.code == "rate_limit_exceeded"
    # the script is consumed: the next request succeeds
    ok = await client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert ok.choices[0].message.content


def test_sync_client_errors_and_success(sync_client: openai.OpenAI, threaded: FakeServerThread) -> None:
    threaded.fake.script_many(
        [
            Behavior(status=429, error_body={"error": {"message": "slow down", "type": "requests"}}),
            Behavior(status=503),
            Behavior(status=400, error_body=b"not json at all"),
        ]
    )
    with pytest.raises(openai.RateLimitError, match="slow down"):
        sync_client.chat.completions.create(model="m", messages=MSG)
    with pytest.raises(openai.InternalServerError, match="overloaded"):
        sync_client.chat.completions.create(model="m", messages=MSG)
    with pytest.raises(openai.BadRequestError) as info:
        sync_client.chat.completions.create(model="m", messages=MSG)
    assert info.value.response.content == b"not json at all"
    text = ""
    for chunk in sync_client.chat.completions.create(model="m", messages=MSG, stream=True):
        text += chunk.choices[0].delta.content or ""
    assert text.startswith("Hello! This is a reply")


async def test_auth_wrong_and_missing_key(fake: FakeOpenAI) -> None:
    wrong = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-wrong-key-abcdefgh", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await wrong.chat.completions.create(model="m", messages=MSG)
    assert info.value.code == "invalid_api_key"
    assert info.value.body == {
        "message": "Incorrect API key provided: sk-**************efgh. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    async with aiohttp.ClientSession() as session, session.get(fake.base_url + "/models") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["message"].startswith("You didn't provide an API key")


async def test_mid_stream_disconnect(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(disconnect_after=3))
    req = {"model": "m", "messages": MSG, "stream": True}
    async with aiohttp.ClientSession() as session:
        hdrs = {"Authorization": f"Bearer {KEY}"}
        async with session.post(fake.base_url + "/chat/completions", json=req, headers=hdrs) as resp:
            received = b""
            with pytest.raises(aiohttp.ClientPayloadError):
                async for data in resp.content.iter_any():
                    received += data
    assert received.count(b"data: ") == 3 and b"[DONE]" not in received

    fake.script(Behavior(disconnect_after=2, chunk_interval=0.01))
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["", "Hello!"]
    assert fake.cancelled_streams == 0  # our own disconnects are not "client went away"


async def test_non_stream_disconnect_and_malformed(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(disconnect_after=0))
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=MSG)
    fake.script(Behavior(malformed=True))
    with pytest.raises(ValueError, match="Expecting"):
        await client.chat.completions.create(model="m", messages=MSG)
    fake.script(Behavior(malformed=True))
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
    with pytest.raises(ValueError, match="Expecting"):
        async for _ in stream:
            pass
    fake.script(Behavior(malformed=True))
    _, raw = await raw_post(fake.base_url + "/chat/completions", {"model": "m", "messages": MSG, "stream": True})
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    bad = [p for p in payloads[:-1] if not _is_json(p)]
    assert len(bad) == 1 and payloads.index(bad[0]) == 1


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


async def test_client_going_away_is_counted_without_tracebacks(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    fake.script(Behavior(chunk_interval=0.05))
    req = {"model": "m", "messages": MSG, "stream": True}
    hdrs = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.base_url + "/chat/completions", json=req, headers=hdrs) as resp:
            assert (await resp.content.readline()).startswith(b"data: ")
        fake.script(Behavior(latency=5))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1), session.post(fake.base_url + "/chat/completions", json=req, headers=hdrs):
                pass
    await fake.wait_for_cancelled(2, within=2)
    assert fake.cancelled_streams == 2 and fake.completed_streams == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_latency_and_chunk_interval(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(latency=0.15))
    started = time.monotonic()
    await client.chat.completions.create(model="m", messages=MSG)
    assert time.monotonic() - started >= 0.15
    fake.script(Behavior(content="a b c d", chunks=4, chunk_interval=0.03))
    started = time.monotonic()
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
    stamps = [(time.monotonic(), c.choices[0].delta.content) async for c in stream]
    assert [text for _, text in stamps] == ["", "a", " b", " c", " d", None]
    assert stamps[-1][0] - started >= 5 * 0.03


# ---------------------------------------------------------------------------- embeddings, models


async def test_embeddings_base64_float_and_tokens(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    b64 = await client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    assert fake.last_request is not None and fake.last_request.json["encoding_format"] == "base64"
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["hello", "world"], encoding_format="float"
    )
    assert [d.embedding for d in b64.data] == [d.embedding for d in floats.data]
    assert len(b64.data[0].embedding) == 1536 and b64.data[0].embedding != b64.data[1].embedding
    assert abs(sum(v * v for v in b64.data[0].embedding) - 1.0) < 1e-4
    _, raw = await raw_post(
        fake.base_url + "/embeddings", {"model": "e", "input": [[1, 2, 3]], "dimensions": 8, "encoding_format": "float"}
    )
    parsed = CreateEmbeddingResponse.model_validate(orjson.loads(raw))
    assert len(parsed.data[0].embedding) == 8 and parsed.usage.prompt_tokens == 3
    status, raw = await raw_post(fake.base_url + "/embeddings", {"model": "e", "input": [{"x": 1}]})
    assert status == 400 and orjson.loads(raw)["error"]["type"] == "invalid_request_error"


async def test_models_list_and_retrieve(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    listed = [m async for m in client.models.list()]
    assert [m.id for m in listed] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "text-embedding-3-large"]
    _, raw = await _get(fake.base_url + "/models/gpt-4o")
    assert Model.model_validate(orjson.loads(raw)).owned_by == "system"
    with pytest.raises(openai.NotFoundError) as info:
        await client.models.retrieve("nope")
    assert info.value.code == "model_not_found"
    fake.script(Behavior(status=500, match_endpoint="models"))
    with pytest.raises(openai.InternalServerError):
        await client.models.list()


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.get(url, headers={"Authorization": f"Bearer {KEY}"}) as resp:
        return resp.status, await resp.read()
