"""``TranslatingClient.count_tokens`` through the real client, signer and transport against the fakes: Anthropic's
count_tokens (native passthrough and translated), Gemini's countTokens (Gemini API; Vertex AI against a recording
server, the fake has no Vertex count route) and Bedrock's CountTokens (SigV4-signed), with their error paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wardgate.config.schema import Timeouts
from wardgate.core import errors
from wardgate.core.types import Endpoint, NativeBody, ProxyRequest
from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.anthropic.count import count_body
from wardgate.providers.auth import api_key_header, bearer
from wardgate.providers.base import DeploymentTarget
from wardgate.providers.bedrock import BedrockAdapter, SigV4Signer
from wardgate.providers.bedrock.count import count_model_id
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.signing import RequestSigner, StaticSigner, SyncSigner
from wardgate.providers.translate import ChatAdapter
from wardgate.providers.translating_client import TranslatingClient, token_counter
from wardgate.providers.transport import Transport
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_anthropic.reply import prompt_tokens as anthropic_prompt_tokens
from wardgate.testing.fake_bedrock import FakeBedrock
from wardgate.testing.fake_gemini import FakeGemini
from wardgate.testing.fake_gemini.reply import prompt_tokens as gemini_prompt_tokens

KEY = "upstream-key-0123456789"
KEY_ID, SECRET, REGION = "AKIDCOUNT", "count-secret", "us-east-1"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CHAT = {
    "model": "alias",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ],
    "max_tokens": 300,
    "temperature": 0.2,
    "logit_bias": {"50256": -100},  # no translating provider has it: counting drops it even in strict mode
}


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport()
    yield t
    await t.close()


def client(adapter: ChatAdapter, base_url: str, signer: RequestSigner, transport: Transport) -> TranslatingClient:
    return TranslatingClient(
        name="up",
        type="test",
        adapter=adapter,
        base_url=base_url,
        signer=signer,
        transport=transport,
        timeouts=Timeouts(first_byte=5, idle=5),
        secrets=(KEY, SECRET),
    )


def chat_request(body: dict[str, Any] = CHAT) -> ProxyRequest:
    return ProxyRequest(Endpoint.CHAT, orjson.dumps(body), body=body, model="alias")


def anthropic_request(body: dict[str, Any], headers: dict[str, str] | None = None) -> ProxyRequest:
    raw = orjson.dumps(body)
    native = NativeBody("anthropic", body, raw, headers or {})
    canonical = {"model": body["model"], "messages": [{"role": "user", "content": "not this one"}]}
    return ProxyRequest(Endpoint.CHAT, raw, body=canonical, model=body["model"], native=native)


# -------------------------------------------------------------------------------------------- anthropic


@pytest.fixture
async def anthropic() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=KEY) as server:
        yield server


def anthropic_client(fake: FakeAnthropic, transport: Transport, key: str = KEY) -> TranslatingClient:
    adapter = AnthropicAdapter(betas=["prompt-caching-2024-07-31"])
    return client(adapter, fake.url, StaticSigner(api_key_header(key, "x-api-key")), transport)


async def test_anthropic_native_body_is_counted_without_messages_only_fields(
    anthropic: FakeAnthropic, transport: Transport
) -> None:
    body = {
        "model": "claude",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "max_tokens": 4096,
        "stream": True,
        "temperature": 0.5,
        "top_k": 5,
        "metadata": {"user_id": "u1"},
        "stop_sequences": ["END"],
        "service_tier": "auto",
    }
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"}
    count = await anthropic_client(anthropic, transport).count_tokens(
        anthropic_request(body, headers), DeploymentTarget("claude-sonnet-4-6")
    )
    recorded = anthropic.last_request
    assert recorded is not None and recorded.path == "/v1/messages/count_tokens"
    countable = ("system", "messages", "tools", "tool_choice", "thinking")
    assert recorded.json == {"model": "claude-sonnet-4-6", **{k: body[k] for k in countable}}
    assert recorded.headers["anthropic-version"] == "2023-06-01" and recorded.headers["x-api-key"] == KEY
    assert recorded.headers["anthropic-beta"] == "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14"
    assert count == anthropic_prompt_tokens(recorded.json) and count > 10


async def test_anthropic_countable_body_with_the_same_model_goes_byte_for_byte(
    anthropic: FakeAnthropic, transport: Transport
) -> None:
    raw = b'{"model": "claude-sonnet-4-6",  "messages": [{"role": "user", "content": "Hello, Claude!!"}]}'
    native = NativeBody("anthropic", orjson.loads(raw), raw, {"anthropic-version": "2023-06-01"})
    request = ProxyRequest(Endpoint.CHAT, raw, body={}, model="claude-sonnet-4-6", native=native)
    count = await anthropic_client(anthropic, transport).count_tokens(request, DeploymentTarget("claude-sonnet-4-6"))
    assert anthropic.last_request is not None and anthropic.last_request.body == raw
    assert count == 4  # "Hello, Claude!!": 15 characters


async def test_anthropic_counts_an_openai_request_through_its_translation(
    anthropic: FakeAnthropic, transport: Transport
) -> None:
    count = await anthropic_client(anthropic, transport).count_tokens(chat_request(), DeploymentTarget("claude-x"))
    recorded = anthropic.last_request
    assert recorded is not None and recorded.path == "/v1/messages/count_tokens"
    assert set(recorded.json) == {"model", "system", "messages"}
    assert recorded.json["model"] == "claude-x"
    assert recorded.json["messages"] == [{"role": "user", "content": "What is the weather in Paris?"}]
    assert count == 10  # "Be brief." + the question: 38 characters


async def test_anthropic_errors_are_mapped(anthropic: FakeAnthropic, transport: Transport) -> None:
    with pytest.raises(errors.UpstreamStatusError) as denied:
        await anthropic_client(anthropic, transport, key="wrong").count_tokens(
            chat_request(), DeploymentTarget("claude-x")
        )
    assert denied.value.code == "upstream_auth_failed"
    bad = {"model": "claude", "messages": [{"role": "assistant", "content": "first"}]}
    with pytest.raises(errors.UpstreamRejectedError) as rejected:
        await anthropic_client(anthropic, transport).count_tokens(
            anthropic_request(bad, {"anthropic-version": "2023-06-01"}), DeploymentTarget("claude-x")
        )
    assert rejected.value.http_status == 400


def test_count_body_keeps_unknown_count_fields_out() -> None:
    body = {"model": "m", "messages": [], "container": "c", "output_config": {"effort": "low"}, "speed": "fast"}
    assert count_body(body, "up") == {
        "model": "up",
        "messages": [],
        "output_config": {"effort": "low"},
        "speed": "fast",
    }


# ----------------------------------------------------------------------------------------------- gemini


async def test_gemini_counts_the_whole_generate_request(transport: Transport) -> None:
    async with FakeGemini(api_key=KEY) as fake:
        signer = StaticSigner(api_key_header(KEY, "x-goog-api-key"))
        up = client(GeminiAdapter(), fake.url, signer, transport)
        body = {**CHAT, "tools": [WEATHER]}
        count = await up.count_tokens(chat_request(body), DeploymentTarget("gemini-2.5-flash"))
        recorded = fake.last_request
        assert recorded is not None and recorded.path == "/v1beta/models/gemini-2.5-flash:countTokens"
        assert recorded.headers["x-goog-api-key"] == KEY and recorded.query == {}
        inner = recorded.json["generateContentRequest"]
        assert list(recorded.json) == ["generateContentRequest"] and inner["model"] == "models/gemini-2.5-flash"
        assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert inner["contents"] == [{"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}]
        assert inner["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
        assert count == gemini_prompt_tokens(inner) == 10


async def test_gemini_errors_are_mapped(transport: Transport) -> None:
    async with FakeGemini(api_key=KEY) as fake:
        up = client(GeminiAdapter(), fake.url, StaticSigner(api_key_header("wrong", "x-goog-api-key")), transport)
        with pytest.raises(errors.UpstreamStatusError) as failed:
            await up.count_tokens(chat_request(), DeploymentTarget("gemini-2.5-flash"))
        assert failed.value.code == "upstream_auth_failed"


async def vertex_server(answers: list[bytes]) -> tuple[TestServer, list[tuple[str, dict[str, Any]]]]:
    """A recording stand-in for Vertex AI's countTokens (FakeGemini serves no Vertex count route)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    async def count(request: web.Request) -> web.Response:
        seen.append((request.path, await request.json()))
        return web.Response(body=answers.pop(0), content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", count)
    server = TestServer(app)
    await server.start_server()
    return server, seen


async def test_vertex_counts_with_top_level_fields(transport: Transport) -> None:
    server, seen = await vertex_server([b'{"totalTokens": 31, "totalBillableCharacters": 120}', b"{}", b'{"x": 1}'])
    try:
        adapter = GeminiAdapter("vertex", project="my-project", location="us-central1")
        up = client(adapter, str(server.make_url("")).rstrip("/"), StaticSigner(bearer("tok")), transport)
        assert (
            await up.count_tokens(chat_request({**CHAT, "tools": [WEATHER]}), DeploymentTarget("gemini-2.5-pro")) == 31
        )
        path, body = seen[0]
        assert (
            path == "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:countTokens"
        )
        assert set(body) == {"contents", "systemInstruction", "tools", "generationConfig"}
        assert body["generationConfig"]["maxOutputTokens"] == 300
        assert await up.count_tokens(chat_request(), DeploymentTarget("gemini-2.5-pro")) == 0  # proto3 omits a zero
        assert await up.count_tokens(chat_request(), DeploymentTarget("gemini-2.5-pro")) == 0
    finally:
        await server.close()


async def test_an_unreadable_count_is_an_upstream_error(transport: Transport) -> None:
    server, _ = await vertex_server([b'{"totalTokens": "many"}', b"not json"])
    try:
        adapter = GeminiAdapter("vertex", project="my-project", location="us-central1")
        up = client(adapter, str(server.make_url("")).rstrip("/"), StaticSigner(bearer("tok")), transport)
        for _ in range(2):
            with pytest.raises(errors.UpstreamStatusError, match="token count that could not be read"):
                await up.count_tokens(chat_request(), DeploymentTarget("gemini-2.5-pro"))
    finally:
        await server.close()


# ---------------------------------------------------------------------------------------------- bedrock


@pytest.fixture
async def bedrock() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET, region=REGION) as server:
        yield server


def bedrock_client(fake: FakeBedrock, transport: Transport, secret: str = SECRET) -> TranslatingClient:
    signer = SyncSigner(SigV4Signer(REGION, KEY_ID, secret).headers)
    return client(BedrockAdapter(), fake.url, signer, transport)


async def test_bedrock_counts_the_converse_input(bedrock: FakeBedrock, transport: Transport) -> None:
    count = await bedrock_client(bedrock, transport).count_tokens(
        chat_request({**CHAT, "tools": [WEATHER]}), DeploymentTarget(CLAUDE)
    )
    recorded = bedrock.last_request
    assert recorded is not None and recorded.path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens"
    assert list(recorded.json) == ["input"] and list(recorded.json["input"]) == ["converse"]
    converse = recorded.json["input"]["converse"]
    assert set(converse) == {"messages", "system", "toolConfig"}  # no inferenceConfig
    assert converse["system"] == [{"text": "Be brief."}]
    assert converse["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert count == 10


async def test_bedrock_counts_an_inference_profile_with_its_foundation_model(
    bedrock: FakeBedrock, transport: Transport
) -> None:
    count = await bedrock_client(bedrock, transport).count_tokens(chat_request(), DeploymentTarget("us." + CLAUDE))
    assert count == 10
    assert bedrock.last_request is not None and bedrock.last_request.path.startswith("/model/anthropic.claude-3-5")


async def test_bedrock_declines_models_and_credentials_that_cannot_count(
    bedrock: FakeBedrock, transport: Transport
) -> None:
    nova = await bedrock_client(bedrock, transport).count_tokens(
        chat_request(), DeploymentTarget("amazon.nova-pro-v1:0")
    )
    assert nova is None and bedrock.request_count == 1
    denied = await bedrock_client(bedrock, transport, secret="wrong").count_tokens(
        chat_request(), DeploymentTarget(CLAUDE)
    )
    assert denied is None and bedrock.request_count == 2


async def test_bedrock_other_errors_are_raised(transport: Transport) -> None:
    async with FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET, region=REGION, models=[CLAUDE]) as fake:
        with pytest.raises(errors.UpstreamRejectedError, match="model identifier is invalid"):
            await bedrock_client(fake, transport).count_tokens(chat_request(), DeploymentTarget("meta.llama3-8b"))


@pytest.mark.parametrize(
    ("model", "counted"),
    [
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y",
        ),
        ("us.nothing", "us.nothing"),
    ],
)
def test_count_model_id(model: str, counted: str) -> None:
    assert count_model_id(model) == counted


# ------------------------------------------------------------------------------------------------ others


def test_adapters_without_a_count_api_get_none() -> None:
    assert token_counter(cast(ChatAdapter, object())) is None
