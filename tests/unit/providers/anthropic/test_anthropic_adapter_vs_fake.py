"""AnthropicAdapter against FakeAnthropic over real HTTP: OpenAI request → adapter → fake (strict validation) →
adapter → OpenAI shapes checked with the ``openai`` SDK's types. Every scenario of the conformance battery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.core import errors
from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.translate import TranslationContext
from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_anthropic import FakeAnthropic

KEY = "sk-ant-e2e"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
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
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}, "tags": {"type": "array"}},
    "required": ["name", "population", "tags"],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=KEY) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Gateway:
    """What the gateway's translating client does around the adapter, minus routing."""

    def __init__(self, fake: FakeAnthropic, session: aiohttp.ClientSession) -> None:
        self.fake, self.session, self.adapter = fake, session, AnthropicAdapter()

    async def chat(self, body: dict[str, Any], *, stream: bool = False, include_usage: bool = False) -> Any:
        ctx = TranslationContext(
            upstream_model="claude-sonnet-4-6",
            request_model="claude",
            response_id="chatcmpl-e2e",
            created=1,
            stream=stream,
            include_usage=include_usage,
        )
        call = self.adapter.chat_call({"model": "claude", **body}, ctx)
        headers = {**call.headers, "x-api-key": KEY}
        async with self.session.post(self.fake.url + call.path, data=call.body, headers=headers) as resp:
            if resp.status != 200:
                raise self.adapter.map_error(resp.status, await resp.read(), resp.headers)
            if not stream:
                out = self.adapter.chat_response(await resp.read(), ctx)
                ChatCompletion.model_validate(out)
                return out
            translator = self.adapter.chat_stream(ctx)
            chunks: list[dict[str, Any]] = []
            try:
                async for piece in resp.content.iter_any():
                    chunks.extend(translator.feed(piece))
            except aiohttp.ClientPayloadError:
                pass  # a cut connection: finish() decides whether the stream was complete
            chunks.extend(translator.finish())
            for chunk in chunks:
                ChatCompletionChunk.model_validate(chunk)
            return chunks


@pytest.fixture
def gw(fake: FakeAnthropic, session: aiohttp.ClientSession) -> Gateway:
    return Gateway(fake, session)


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Accumulate stream deltas the way OpenAI clients do."""
    content, reasoning, finish = "", "", None
    calls: dict[int, dict[str, Any]] = {}
    blocks: list[dict[str, Any]] = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            blocks += delta.get("thinking_blocks") or []
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] = call.get("function", {}).get("name") or slot["name"]
                slot["arguments"] += call.get("function", {}).get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {
        "content": content,
        "reasoning": reasoning,
        "calls": [calls[i] for i in sorted(calls)],
        "thinking_blocks": blocks,
        "finish": finish,
        "usage": chunks[-1].get("usage"),
    }


def fits_weather(arguments: str) -> bool:
    args = orjson.loads(arguments)
    return isinstance(args["city"], str) and isinstance(args["days"], int) and args["days"] >= 1


async def test_plain_text_both_ways(gw: Gateway) -> None:
    out = await gw.chat({"messages": ASK})
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["choices"][0]["message"]["content"].startswith("Hello! This is a reply")
    assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["completion_tokens"] == 20
    got = assemble(await gw.chat({"messages": ASK}, stream=True, include_usage=True))
    assert got["content"] == out["choices"][0]["message"]["content"]
    assert got["finish"] == "stop" and got["usage"]["completion_tokens"] == 20


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
async def test_forced_tool_calls_fit_the_schema(gw: Gateway, stream: bool, choice: Any) -> None:
    out = await gw.chat({"messages": ASK, "tools": [WEATHER], "tool_choice": choice}, stream=stream)
    calls = assemble(out)["calls"] if stream else out["choices"][0]["message"]["tool_calls"]
    finish = assemble(out)["finish"] if stream else out["choices"][0]["finish_reason"]
    assert finish == "tool_calls" and len(calls) == 1
    call = (
        calls[0] if stream else {"name": calls[0]["function"]["name"], "arguments": calls[0]["function"]["arguments"]}
    )
    assert call["name"] == "get_weather" and fits_weather(call["arguments"])


async def test_tool_choice_none_and_auto_answer_with_text(gw: Gateway) -> None:
    for choice in ("none", "auto"):
        out = await gw.chat({"messages": ASK, "tools": [WEATHER], "tool_choice": choice, "parallel_tool_calls": False})
        assert out["choices"][0]["finish_reason"] == "stop" and out["choices"][0]["message"]["content"]


@pytest.mark.parametrize("stream", [False, True])
async def test_scripted_parallel_calls_and_their_results_round_trip(
    gw: Gateway, fake: FakeAnthropic, stream: bool
) -> None:
    fake.script(
        Behavior(
            tool_calls=[
                ToolCall("get_weather", {"city": "Paris", "days": 1}),
                ToolCall("get_weather", {"city": "Rome", "days": 2}),
            ]
        )
    )
    out = await gw.chat({"messages": ASK, "tools": [WEATHER]}, stream=stream)
    if stream:
        got = assemble(out)
        calls = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in got["calls"]
        ]
        assert got["finish"] == "tool_calls"
    else:
        calls = out["choices"][0]["message"]["tool_calls"]
    assert [orjson.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Rome"]
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "21C"},
    ]
    final = await gw.chat({"messages": history, "tools": [WEATHER]})
    assert final["choices"][0]["finish_reason"] == "stop"
    sent = fake.last_request
    assert sent is not None and [b["tool_use_id"] for b in sent.json["messages"][2]["content"]] == [
        calls[0]["id"],
        calls[1]["id"],
    ]


async def test_json_schema_answers_are_valid_json_content(gw: Gateway) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    out = await gw.chat({"messages": ASK, "response_format": fmt})
    assert out["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in out["choices"][0]["message"]
    value = orjson.loads(out["choices"][0]["message"]["content"])
    assert isinstance(value["name"], str) and isinstance(value["population"], int) and isinstance(value["tags"], list)
    got = assemble(await gw.chat({"messages": ASK, "response_format": fmt}, stream=True, include_usage=True))
    assert got["finish"] == "stop" and not got["calls"]
    assert set(orjson.loads(got["content"])) >= {"name", "population", "tags"}
    plain = await gw.chat({"messages": ASK, "response_format": {"type": "json_object"}})
    assert isinstance(orjson.loads(plain["choices"][0]["message"]["content"]), dict)


async def test_images_as_data_and_https_urls(gw: Gateway, fake: FakeAnthropic) -> None:
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    out = await gw.chat({"messages": [{"role": "user", "content": content}]})
    assert out["choices"][0]["finish_reason"] == "stop"
    sent = fake.last_request
    assert sent is not None and [b["type"] for b in sent.json["messages"][0]["content"]] == ["text", "image", "image"]


async def test_reasoning_round_trip_with_signed_thinking_blocks(gw: Gateway) -> None:
    got = assemble(await gw.chat({"messages": ASK, "reasoning_effort": "low"}, stream=True, include_usage=True))
    assert got["reasoning"] and got["content"] and got["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert got["thinking_blocks"][0]["signature"]
    history = [
        *ASK,
        {"role": "assistant", "content": got["content"], "thinking_blocks": got["thinking_blocks"]},
        {"role": "user", "content": "Thanks!"},
    ]
    out = await gw.chat({"messages": history, "reasoning_effort": "low", "max_tokens": 100})
    assert out["choices"][0]["message"]["reasoning_content"]


async def test_prompt_caching_reports_cached_prompt_tokens(gw: Gateway) -> None:
    system = {
        "role": "system",
        "content": [
            {
                "type": "text",
                "text": "Reusable instructions. " * 50,
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
    }
    first = await gw.chat({"messages": [system, *ASK]})
    second = await gw.chat({"messages": [system, *ASK]}, stream=True, include_usage=True)
    created = first["usage"]["prompt_tokens_details"]
    assert (
        created["cache_creation_tokens"] > 0 and created["cache_creation_1h_tokens"] == created["cache_creation_tokens"]
    )
    usage = assemble(second)["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == created["cache_creation_tokens"]
    assert usage["prompt_tokens"] == first["usage"]["prompt_tokens"]


async def test_length_and_stop(gw: Gateway) -> None:
    out = await gw.chat({"messages": ASK, "max_tokens": 2})
    assert out["choices"][0]["finish_reason"] == "length" and out["choices"][0]["message"]["content"] == "Hello! This"
    out = await gw.chat({"messages": ASK, "stop": "This"})
    assert out["choices"][0]["finish_reason"] == "stop" and out["choices"][0]["message"]["content"] == "Hello! "


@pytest.mark.parametrize(
    ("behavior", "cls", "status"),
    [
        (Behavior(status=429, headers={"retry-after": "3"}), errors.RateLimitError, 429),
        (Behavior(status=529), errors.UpstreamUnavailableError, 503),
        (Behavior(status=500), errors.UpstreamStatusError, 502),
        (Behavior(status=401), errors.UpstreamStatusError, 502),
        (Behavior(status=413), errors.UpstreamRejectedError, 413),
    ],
)
async def test_each_error_class_maps(
    gw: Gateway, fake: FakeAnthropic, behavior: Behavior, cls: type[Exception], status: int
) -> None:
    fake.script(behavior)
    with pytest.raises(cls) as info:
        await gw.chat({"messages": ASK})
    error: Any = info.value
    assert error.http_status == status
    if status == 429:
        assert error.headers == {"retry-after": "3"}


async def test_upstream_validation_errors_come_back_as_rejections(gw: Gateway) -> None:
    with pytest.raises(errors.UpstreamRejectedError) as info:
        await gw.chat({"messages": [{"role": "assistant", "content": "I start"}]})
    assert info.value.http_status == 400 and 'first message must use the "user" role' in info.value.message


@pytest.mark.parametrize(
    ("behavior", "cls"),
    [
        (Behavior(disconnect_after=5), errors.StreamInterruptedError),
        (Behavior(status=529, disconnect_after=4), errors.UpstreamUnavailableError),
        (Behavior(malformed=True), errors.StreamInterruptedError),
    ],
)
async def test_broken_streams_never_finish_cleanly(
    gw: Gateway, fake: FakeAnthropic, behavior: Behavior, cls: type[Exception]
) -> None:
    fake.script(behavior)
    with pytest.raises(cls):
        await gw.chat({"messages": ASK}, stream=True)


async def test_malformed_json_body(gw: Gateway, fake: FakeAnthropic) -> None:
    fake.script(Behavior(malformed=True))
    with pytest.raises(errors.UpstreamStatusError):
        await gw.chat({"messages": ASK})
