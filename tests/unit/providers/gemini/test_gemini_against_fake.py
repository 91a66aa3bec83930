"""The Gemini adapter end to end through the real ``TranslatingClient`` and transport against ``FakeGemini``
(Gemini API with an API key, Vertex AI with a service account exchanged at the fake's /token endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.config.schema import Timeouts
from wardgate.core import errors
from wardgate.core.types import Endpoint, ProxyRequest, RequestContext
from wardgate.providers.auth import api_key_header
from wardgate.providers.base import DeploymentTarget
from wardgate.providers.gemini import GeminiAdapter, VertexTokenSource
from wardgate.providers.signing import StaticSigner, TokenSigner
from wardgate.providers.translating_client import TranslatingClient
from wardgate.providers.transport import Transport
from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_gemini import FakeGemini, make_service_account

KEY = "AIzaSy-test-key-0123456789"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
            "required": ["city", "unit"],
        },
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=KEY) as server:
        yield server


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport()
    yield t
    await t.close()


def client(fake: FakeGemini, transport: Transport, key: str = KEY) -> TranslatingClient:
    return TranslatingClient(
        name="gemini",
        type="gemini",
        adapter=GeminiAdapter(),
        base_url=fake.url,
        signer=StaticSigner(api_key_header(key, "x-goog-api-key")),
        transport=transport,
        timeouts=Timeouts(first_byte=5, idle=5),
    )


def request_ctx() -> RequestContext:
    return RequestContext(request_id="r", snapshot=None, headers={}, client=None, started=0.0)


async def chat(c: TranslatingClient, body: dict[str, Any], model: str = "gemini-2.5-flash") -> dict[str, Any]:
    request = ProxyRequest(Endpoint.CHAT, b"", body={"model": "alias", **body}, model="alias", stream=False)
    response = await c.invoke(request_ctx(), request, DeploymentTarget(model))
    assert response.body is not None
    result: dict[str, Any] = orjson.loads(response.body)
    ChatCompletion.model_validate(result)
    return result


async def stream(c: TranslatingClient, body: dict[str, Any], model: str = "gemini-2.5-flash") -> list[dict[str, Any]]:
    full = {"model": "alias", "stream": True, "stream_options": {"include_usage": True}, **body}
    request = ProxyRequest(Endpoint.CHAT, b"", body=full, model="alias", stream=True)
    response = await c.invoke(request_ctx(), request, DeploymentTarget(model))
    assert response.stream is not None
    chunks = [orjson.loads(data) async for data in response.stream]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def streamed_text(chunks: list[dict[str, Any]], key: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks if c["choices"])


async def test_text_both_ways_and_the_key_stays_in_a_header(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    result = await chat(c, {"messages": [{"role": "system", "content": "Be kind"}, *user("Hello")]})
    assert result["choices"][0]["message"]["content"].startswith("Hello! This is a reply from the fake Gemini")
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"]["completion_tokens"] == 20
    recorded = fake.last_request
    assert recorded is not None
    assert recorded.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert recorded.headers["x-goog-api-key"] == KEY and recorded.query == {}
    chunks = await stream(c, {"messages": user("Hello")})
    assert streamed_text(chunks) == result["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 20
    assert fake.last_request is not None and fake.last_request.query == {"alt": "sse"}


async def test_forced_and_named_tool_calls_fit_the_schema(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        result = await chat(c, {"messages": user("Weather?"), "tools": [WEATHER], "tool_choice": choice})
        call = result["choices"][0]["message"]["tool_calls"][0]
        assert result["choices"][0]["finish_reason"] == "tool_calls"
        assert call["function"]["name"] == "get_weather"
        assert set(orjson.loads(call["function"]["arguments"])) == {"city", "unit", "days"}
    chunks = await stream(c, {"messages": user("Weather?"), "tools": [WEATHER], "tool_choice": "required"})
    first = next(c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"])
    assert first["choices"][0]["delta"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": ""}


async def test_parallel_calls_and_tool_results_round_trip(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    fake.script(
        Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"})])
    )
    first = await chat(c, {"messages": user("Paris and Rome?"), "tools": [WEATHER]})
    message = first["choices"][0]["message"]
    assert [orjson.loads(t["function"]["arguments"])["city"] for t in message["tool_calls"]] == ["Paris", "Rome"]
    results = [{"role": "tool", "tool_call_id": t["id"], "content": "sunny"} for t in message["tool_calls"]]
    second = await chat(c, {"messages": [*user("Paris and Rome?"), message, *results], "tools": [WEATHER]})
    assert second["choices"][0]["finish_reason"] == "stop"
    sent = fake.last_request.json if fake.last_request else None
    assert [p["functionResponse"]["name"] for p in sent["contents"][2]["parts"]] == ["get_weather", "get_weather"]
    # a missing tool result is refused by the fake exactly like the real API (one response per call)
    with pytest.raises(errors.UpstreamRejectedError, match="number of function response parts"):
        await chat(c, {"messages": [*user("Paris and Rome?"), message, results[0]], "tools": [WEATHER]})


async def test_gemini_3_thought_signatures_round_trip(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    model = "gemini-3-pro-preview"
    first = await chat(c, {"messages": user("Weather?"), "tools": [WEATHER], "tool_choice": "required"}, model)
    message = first["choices"][0]["message"]
    signature = message["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    result = {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": '{"temp": 20}'}
    await chat(c, {"messages": [*user("Weather?"), message, result], "tools": [WEATHER]}, model)
    sent = fake.last_request.json if fake.last_request else None
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == signature
    del message["tool_calls"][0]["extra_content"]  # a client that dropped it still works (documented placeholder)
    await chat(c, {"messages": [*user("Weather?"), message, result], "tools": [WEATHER]}, model)


async def test_json_schema_and_json_object(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    result = await chat(c, {"messages": user("A person"), "response_format": response_format})
    parsed = orjson.loads(result["choices"][0]["message"]["content"])
    assert isinstance(parsed["name"], str) and isinstance(parsed["age"], int)
    chunks = await stream(c, {"messages": user("A person"), "response_format": {"type": "json_object"}})
    assert isinstance(orjson.loads(streamed_text(chunks)), dict)


async def test_images_reasoning_and_usage(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    body = {"messages": [{"role": "user", "content": content}], "reasoning_effort": "low"}
    result = await chat(c, body)
    assert result["choices"][0]["message"]["reasoning_content"]
    assert result["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert result["usage"]["prompt_tokens"] >= 258
    chunks = await stream(c, body)
    assert streamed_text(chunks, "reasoning_content")
    assert chunks[-1]["usage"]["prompt_tokens"] == result["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    ("status", "cls", "http"),
    [
        (400, errors.UpstreamRejectedError, 400),
        (404, errors.UpstreamRejectedError, 404),
        (429, errors.RateLimitError, 429),
        (500, errors.UpstreamStatusError, 502),
        (503, errors.UpstreamUnavailableError, 503),
        (504, errors.UpstreamTimeoutError, 504),
        (401, errors.UpstreamStatusError, 502),
        (403, errors.UpstreamStatusError, 502),
    ],
)
async def test_each_error_class(
    fake: FakeGemini, transport: Transport, status: int, cls: type[errors.GatewayError], http: int
) -> None:
    c = client(fake, transport)
    for streaming in (False, True):
        fake.script(Behavior(status=status))
        with pytest.raises(cls) as raised:
            await (stream(c, {"messages": user("x")}) if streaming else chat(c, {"messages": user("x")}))
        assert raised.value.http_status == http
    if status == 429:
        assert raised.value.headers == {"retry-after": "7"}


async def test_wrong_api_key_is_the_gateways_fault(fake: FakeGemini, transport: Transport) -> None:
    with pytest.raises(errors.UpstreamStatusError) as raised:
        await chat(client(fake, transport, key="AIza-wrong"), {"messages": user("x")})
    assert raised.value.code == "upstream_auth_failed" and "AIza" not in raised.value.message


async def test_truncated_and_malformed_streams(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    fake.script(Behavior(disconnect_after=3))
    with pytest.raises(errors.StreamInterruptedError):
        await stream(c, {"messages": user("x")})
    fake.script(Behavior(malformed=True))
    with pytest.raises(errors.StreamInterruptedError):
        await stream(c, {"messages": user("x")})
    fake.script(Behavior(disconnect_after=0))
    with pytest.raises(errors.UpstreamError):
        await chat(c, {"messages": user("x")})


async def test_finish_reason_and_usage_scripting(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    fake.script(Behavior(content="cut", finish_reason="length", usage={"cachedContentTokenCount": 2}))
    result = await chat(c, {"messages": user("x")})
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["usage"]["prompt_tokens_details"]["cached_tokens"] == 2
    result = await chat(c, {"messages": user("x"), "max_tokens": 3})
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["choices"][0]["message"]["content"] == "Hello! This is"


async def test_embeddings_gemini(fake: FakeGemini, transport: Transport) -> None:
    c = client(fake, transport)
    request = ProxyRequest(
        Endpoint.EMBEDDINGS, b"", body={"model": "e", "input": ["a", "b"], "dimensions": 16}, model="e"
    )
    response = await c.invoke(request_ctx(), request, DeploymentTarget("gemini-embedding-001"))
    result = orjson.loads(response.body or b"")
    CreateEmbeddingResponse.model_validate(result)
    assert [len(d["embedding"]) for d in result["data"]] == [16, 16]


async def test_vertex_with_a_service_account(transport: Transport) -> None:
    async with FakeGemini() as fake, aiohttp.ClientSession() as session:
        account, public_pem = make_service_account("https://oauth2.googleapis.com/token")
        fake.token_public_key = public_pem

        async def post_form(url: str, fields: Mapping[str, str]) -> tuple[int, bytes]:
            async with session.post(url, data=dict(fields)) as response:
                return response.status, await response.read()

        tokens = VertexTokenSource(account, post_form, token_url=fake.token_url)
        c = TranslatingClient(
            name="vertex",
            type="vertex_ai",
            adapter=GeminiAdapter("vertex", project="fake-project", location="us-central1"),
            base_url=fake.url,
            signer=TokenSigner(tokens.headers),
            transport=transport,
            timeouts=Timeouts(first_byte=5, idle=5),
        )
        result = await chat(c, {"messages": user("Hello")})
        assert result["choices"][0]["message"]["content"]
        chunks = await stream(c, {"messages": user("Hello"), "tools": [WEATHER], "tool_choice": "required"})
        assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
        request = ProxyRequest(Endpoint.EMBEDDINGS, b"", body={"model": "e", "input": "hello"}, model="e")
        response = await c.invoke(request_ctx(), request, DeploymentTarget("text-embedding-005"))
        assert orjson.loads(response.body or b"")["usage"]["prompt_tokens"] == 2
        assert tokens.refreshes == 1
        paths = [r.path for r in fake.requests]
        assert paths[0] == "/token"
        prefix = "/v1/projects/fake-project/locations/us-central1/publishers/google/models/"
        assert paths[1] == prefix + "gemini-2.5-flash:generateContent"
        fake.vertex_token, fake.issued_tokens = "other", []  # the upstream no longer accepts our token
        with pytest.raises(errors.UpstreamStatusError) as raised:
            await chat(c, {"messages": user("Hello")})
        assert raised.value.code == "upstream_auth_failed"
