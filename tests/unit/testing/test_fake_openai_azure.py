"""Azure OpenAI routes of FakeOpenAI, through openai.AzureOpenAI / AsyncAzureOpenAI and raw HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
)

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

KEY = "azure-key-123"
API_VERSION = "2024-10-21"
MSG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello azure"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    deployments = {"chat-dep": "gpt-4o-2024-08-06", "embed-dep": "text-embedding-3-small"}
    async with FakeOpenAI(api_key="sk-openai", azure_api_key=KEY, azure_deployments=deployments) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(azure_endpoint=fake.url, api_version=API_VERSION, api_key=KEY, max_retries=0)


async def raw_post(url: str, body: dict[str, Any], key: str | None = KEY) -> tuple[int, bytes]:
    headers = {"api-key": key} if key else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.read()


def chat_url(fake: FakeOpenAI, deployment: str = "chat-dep", version: str | None = API_VERSION) -> str:
    query = f"?api-version={version}" if version else ""
    return f"{fake.url}/openai/deployments/{deployment}/chat/completions{query}"


async def test_azure_chat_non_stream(fake: FakeOpenAI, client: openai.AsyncAzureOpenAI) -> None:
    resp = await client.chat.completions.create(model="chat-dep", messages=MSG)
    assert resp.model == "gpt-4o-2024-08-06" and resp.choices[0].message.content
    recorded = fake.last_request
    assert recorded is not None
    assert recorded.path == "/openai/deployments/chat-dep/chat/completions"
    assert recorded.query == {"api-version": API_VERSION} and recorded.headers["api-key"] == KEY
    _, raw = await raw_post(chat_url(fake), {"messages": MSG})
    body = orjson.loads(raw)
    ChatCompletion.model_validate(body)
    assert body["prompt_filter_results"][0]["prompt_index"] == 0
    filters = body["prompt_filter_results"][0]["content_filter_results"]
    assert filters["jailbreak"] == {"filtered": False, "detected": False}
    assert body["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}


async def test_azure_stream_starts_with_prompt_filter_chunk(fake: FakeOpenAI, client: openai.AsyncAzureOpenAI) -> None:
    req = {"messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    _, raw = await raw_post(chat_url(fake), req)
    frames = raw.decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    chunks = [orjson.loads(f[len("data: ") :]) for f in frames[:-2]]
    first = chunks[0]
    assert first["choices"] == [] and first["model"] == "" and first["id"] == ""
    assert first["prompt_filter_results"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    for chunk in chunks[1:]:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["model"] == "gpt-4o-2024-08-06"
    assert chunks[1]["choices"][0]["content_filter_results"] == {}
    assert chunks[2]["choices"][0]["content_filter_results"]["sexual"]["filtered"] is False
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0

    stream = await client.chat.completions.create(model="chat-dep", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.startswith("Hello! This is a reply")


async def test_azure_errors(fake: FakeOpenAI, client: openai.AsyncAzureOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="missing-dep", messages=MSG)
    assert info.value.code == "DeploymentNotFound"
    status, raw = await raw_post(chat_url(fake, version=None), {"messages": MSG})
    assert status == 400 and orjson.loads(raw)["error"]["code"] == "BadRequest"
    status, raw = await raw_post(chat_url(fake), {"messages": MSG}, key="wrong")
    assert status == 401
    error = orjson.loads(raw)["error"]
    assert error["code"] == "401" and error["message"].startswith("Access denied due to invalid subscription key")
    status, _ = await raw_post(chat_url(fake), {"messages": MSG}, key=None)
    assert status == 401
    # a Bearer token with the OpenAI key is not accepted on Azure routes
    async with aiohttp.ClientSession() as session:
        hdrs = {"Authorization": "Bearer sk-openai"}
        async with session.post(chat_url(fake), json={"messages": MSG}, headers=hdrs) as resp:
            assert resp.status == 401
    fake.script(Behavior(status=429, headers={"retry-after-ms": "1500"}, match_provider="azure"))
    with pytest.raises(openai.RateLimitError) as rate:
        await client.chat.completions.create(model="chat-dep", messages=MSG)
    assert rate.value.response.headers["retry-after-ms"] == "1500" and rate.value.code == "429"


async def test_azure_embeddings(client: openai.AsyncAzureOpenAI) -> None:
    resp = await client.embeddings.create(model="embed-dep", input="some text", dimensions=16)
    assert resp.model == "text-embedding-3-small" and len(resp.data[0].embedding) == 16


def test_sync_azure_client_via_thread() -> None:
    with FakeServerThread(FakeOpenAI(api_key=KEY)) as runner:
        client = openai.AzureOpenAI(azure_endpoint=runner.url, api_version=API_VERSION, api_key=KEY, max_retries=0)
        resp = client.chat.completions.create(model="any-deployment", messages=MSG)
        assert resp.model == "any-deployment"  # no deployment set configured: all accepted, name echoed
        wrong = openai.AzureOpenAI(azure_endpoint=runner.url, api_version=API_VERSION, api_key="x", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="d", messages=MSG)
