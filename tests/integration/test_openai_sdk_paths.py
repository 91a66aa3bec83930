"""The official openai SDK against a real gateway process: simulated, OpenAI, Azure and compatible upstreams."""

from __future__ import annotations

import json

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import AZURE_KEY, MASTER_KEY, UPSTREAM_KEY

from wardgate.testing import Behavior, FakeOpenAI, ToolCall

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_simulated_chat_stream_embeddings_models(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Tell me about tea"}]
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.model == "sim-chat"

    stream = client.chat.completions.create(
        model="sim-chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0

    emb = client.embeddings.create(model="sim-embed", input=["a cat", "a dog"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 1536

    ids = {m.id for m in client.models.list()}
    assert {"sim-chat", "gpt-4o-mini", "azure-gpt", "llama"} <= ids
    assert client.models.retrieve("llama").id == "llama"


def test_openai_upstream_passthrough(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(content="Bonjour from upstream", served_model="gpt-4o-mini-2024-07-18"))
    reply = client.chat.completions.create(
        model="renamed",
        messages=[{"role": "user", "content": "hello"}],
        temperature=0.2,
        extra_body={"a_future_field": {"nested": [1, 2]}},
    )
    assert reply.choices[0].message.content == "Bonjour from upstream"
    assert reply.model == "gpt-4o-mini-2024-07-18"
    sent = fake.last_request
    assert sent is not None and sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-4o-mini-2024-07-18"
    assert sent.json["a_future_field"] == {"nested": [1, 2]}
    assert sent.json["temperature"] == 0.2
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert MASTER_KEY not in json.dumps(sent.headers)


def test_unchanged_model_forwards_body_bytes(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    import urllib.request

    raw = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],  "zz_order":1,"aa":2}'
    request = urllib.request.Request(
        gateway.base_url + "/chat/completions",
        data=raw,
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert fake.last_request is not None and fake.last_request.body == raw


def test_openai_stream_with_usage_and_tools(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(chunks=12))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 12
    assert chunks[-1].usage is not None

    fake.script(Behavior(tool_calls=[ToolCall(name="get_weather", arguments='{"city": "Paris"}')]))
    with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    ) as events:
        final = events.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert fake.last_request is not None and fake.last_request.json["tools"] == [WEATHER_TOOL]


def test_azure_upstream(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    reply = client.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    sent = fake.last_request
    assert sent is not None and sent.path == "/openai/deployments/gpt4o-deploy/chat/completions"
    assert sent.query["api-version"] == "2024-10-21"
    assert sent.headers["api-key"] == AZURE_KEY and "authorization" not in sent.headers

    stream = client.chat.completions.create(
        model="azure-gpt",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk is relayed untouched
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None


def test_azure_unknown_deployment_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="azure-missing", messages=[{"role": "user", "content": "hi"}])


def test_compatible_preset_and_embeddings(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    reply = client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert fake.last_request is not None and fake.last_request.json["model"] == "meta-llama/Llama-3.1-8B"

    emb = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(emb.data[0].embedding) > 0
    assert fake.last_request is not None and fake.last_request.path == "/v1/embeddings"


async def test_async_client_chat_and_stream(aclient: openai.AsyncOpenAI) -> None:
    reply = await aclient.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    stream = await aclient.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text


def test_routes_without_v1_prefix_and_request_id(gateway: GatewayProcess) -> None:
    plain = openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    raw = plain.chat.completions.with_raw_response.create(
        model="sim-chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "abc-123"}
    )
    assert raw.headers["x-request-id"] == "abc-123"
    raw = plain.chat.completions.with_raw_response.create(
        model="sim-chat",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "bad id/slash"},
    )
    assert raw.headers["x-request-id"].startswith("req_")
    assert [m.id for m in plain.models.list()]


def test_keys_accepted_from_each_header(gateway: GatewayProcess) -> None:
    for header in ("x-api-key", "api-key"):
        anonymous = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
        reply = anonymous.chat.completions.create(
            model="sim-chat",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"Authorization": openai.Omit(), header: MASTER_KEY},  # type: ignore[dict-item]
        )
        assert reply.choices[0].message.content


def test_azure_embeddings(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    emb = client.embeddings.create(model="azure-gpt", input=["one", "two"])
    assert len(emb.data) == 2 and len(emb.data[1].embedding) > 0
    sent = fake.last_request
    assert sent is not None and sent.path == "/openai/deployments/gpt4o-deploy/embeddings"
    assert sent.headers["api-key"] == AZURE_KEY
