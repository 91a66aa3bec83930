"""The official openai SDK's ``client.responses`` against a real gateway: passthrough to OpenAI and Azure
deployments, translation for chat-only ones (simulated, Anthropic, Gemini, Bedrock, vLLM), streaming and tools,
``previous_response_id`` continued across providers from the gateway's store, and retrieve / input items / delete."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeAnthropic, FakeBedrock, FakeGemini, FakeOpenAI, ToolCall

OPENAI_KEY = "sk-openai-responses-test-0123456789"
ANTHROPIC_KEY = "sk-ant-responses-test-0123456789"
GEMINI_KEY = "gemini-responses-test-0123456789"
AWS = ("AKIARESPONSESTEST001", "responses/secret/0123456789abcdefghij")
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
TRANSLATED = ["sim", "claude", "gemini", "bedrock", "vllm"]
NATIVE = ["gpt", "azure"]
SCRIPTABLE = ["gpt", "azure", "claude", "gemini", "bedrock", "vllm"]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    made = {
        "openai": FakeOpenAI(api_key=OPENAI_KEY, azure_deployments=["gpt-4o-prod"]),
        "claude": FakeAnthropic(api_key=ANTHROPIC_KEY),
        "gemini": FakeGemini(api_key=GEMINI_KEY),
        "bedrock": FakeBedrock(access_key_id=AWS[0], secret_access_key=AWS[1], region="us-east-1"),
    }
    runners = [fake.run_in_thread() for fake in made.values()]
    try:
        yield made
    finally:
        for runner in runners:
            runner.close()


def fake_for(fakes: dict[str, Any], target: str) -> Any:
    return fakes["openai"] if target in ("gpt", "azure", "vllm") else fakes[target]


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    timeouts = {"connect": 2, "first_byte": 5, "idle": 5}
    openai_fake = fakes["openai"]
    config = {
        "server": {"breaker": {"enabled": False}},  # scripted 429s (Retry-After: 5) must not cool the models down
        "providers": [
            {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 100000},
            {"name": "gpt", "type": "openai", "base_url": openai_fake.base_url, "api_key": OPENAI_KEY},
            {
                "name": "azure",
                "type": "azure_openai",
                "base_url": openai_fake.url,
                "api_key": OPENAI_KEY,
                "api_version": "2025-04-01-preview",
            },
            {
                "name": "vllm",
                "type": "openai_compatible",
                "preset": "vllm",
                "base_url": openai_fake.base_url,
                "api_key": OPENAI_KEY,
            },
            {"name": "claude", "type": "anthropic", "base_url": fakes["claude"].url, "api_key": ANTHROPIC_KEY},
            {"name": "gemini", "type": "gemini", "base_url": fakes["gemini"].url, "api_key": GEMINI_KEY},
            {
                "name": "bedrock",
                "type": "bedrock",
                "region": "us-east-1",
                "base_url": fakes["bedrock"].url,
                "access_key_id": AWS[0],
                "secret_access_key": AWS[1],
            },
        ],
        "models": [
            {"name": "sim", "deployments": [{"provider": "sim", "model": "sim-chat"}]},
            {"name": "gpt", "deployments": [{"provider": "gpt", "model": "gpt-4o-mini"}]},
            {"name": "azure", "deployments": [{"provider": "azure", "model": "gpt-4o-prod"}]},
            {"name": "vllm", "deployments": [{"provider": "vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"}]},
            {"name": "claude", "deployments": [{"provider": "claude", "model": "claude-sonnet-4-6"}]},
            {"name": "gemini", "deployments": [{"provider": "gemini", "model": "gemini-2.5-flash"}]},
            {
                "name": "bedrock",
                "deployments": [{"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20241022-v2:0"}],
            },
        ],
    }
    for provider in config["providers"]:
        if provider["type"] != "simulated":
            provider["timeouts"] = timeouts
    workdir: Path = tmp_path_factory.mktemp("responses-dialect")
    process = GatewayProcess(workdir, config, master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess, fakes: dict[str, Any]) -> openai.OpenAI:
    for fake in fakes.values():
        fake.reset()
    return openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


@pytest.mark.parametrize("target", NATIVE + TRANSLATED)
def test_text_and_usage(client: openai.OpenAI, target: str) -> None:
    response = client.responses.create(model=target, input="Say hello", instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


@pytest.mark.parametrize("target", NATIVE)
def test_native_deployments_get_the_request_as_sent(client: openai.OpenAI, fakes: dict[str, Any], target: str) -> None:
    client.responses.create(
        model=target, input="Say hello", instructions="Be brief.", metadata={"app": "x"}, extra_body={"new_field": 1}
    )
    sent = fakes["openai"].last_request
    assert sent.path.endswith("/responses")
    assert sent.json["input"] == "Say hello" and sent.json["instructions"] == "Be brief."
    assert sent.json["new_field"] == 1 and sent.json["metadata"] == {"app": "x"}
    assert sent.json["model"] == ("gpt-4o-mini" if target == "gpt" else "gpt-4o-prod")


def test_translated_deployments_get_chat(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    client.responses.create(model="vllm", input="Say hello", instructions="Be brief.", max_output_tokens=50)
    sent = fakes["openai"].last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.json["messages"][0]["content"] == "Be brief."
    assert sent.json["messages"][-1]["role"] == "user"
    assert sent.json["max_completion_tokens"] == 50 or sent.json.get("max_tokens") == 50


@pytest.mark.parametrize("target", NATIVE + TRANSLATED)
def test_stream_events_and_final_response(client: openai.OpenAI, target: str) -> None:
    with client.responses.stream(model=target, input="Say hello") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert final.output_text and final.usage is not None and final.usage.output_tokens > 0


@pytest.mark.parametrize("target", SCRIPTABLE)
def test_tool_call_then_function_output_continues(client: openai.OpenAI, fakes: dict[str, Any], target: str) -> None:
    fake = fake_for(fakes, target)
    fake.script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    first = client.responses.create(model=target, input="Weather in Paris?", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
    fake.script(Behavior(content="It is sunny in Paris."))
    second = client.responses.create(
        model=target,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"sky": "sunny"}'}],
        tools=TOOLS,
    )
    assert second.output_text == "It is sunny in Paris."
    assert second.previous_response_id == first.id
    text = json.dumps(fake.last_request.json)
    assert "Weather in Paris?" in text and "sunny" in text and "get_weather" in text


@pytest.mark.parametrize("target", SCRIPTABLE)
def test_streamed_tool_call_arguments(client: openai.OpenAI, fakes: dict[str, Any], target: str) -> None:
    fake_for(fakes, target).script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Oslo"})]))
    stream = client.responses.create(model=target, input="Weather in Oslo?", tools=TOOLS, stream=True)
    events = list(stream)
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and json.loads(done[0].arguments) == {"city": "Oslo"}
    completed = events[-1]
    assert completed.type == "response.completed"
    assert [item.type for item in completed.response.output if item.type != "reasoning"] == ["function_call"]


@pytest.mark.parametrize("first_target,second_target", [("claude", "gpt"), ("gpt", "gemini"), ("sim", "bedrock")])
def test_conversation_moves_between_providers(
    client: openai.OpenAI, fakes: dict[str, Any], first_target: str, second_target: str
) -> None:
    if first_target != "sim":
        fake_for(fakes, first_target).script(Behavior(content="My name is Ada."))
    first = client.responses.create(model=first_target, input="Who are you?")
    second = client.responses.create(model=second_target, previous_response_id=first.id, input="Repeat that.")
    assert second.status == "completed"
    sent = json.dumps(fake_for(fakes, second_target).last_request.json)
    assert "Who are you?" in sent and first.output_text in sent and "Repeat that." in sent


def test_retrieve_input_items_and_delete(client: openai.OpenAI) -> None:
    created = client.responses.create(
        model="sim", input=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    )
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    items = client.responses.input_items.list(created.id, order="asc")
    texts = [item.content[0].text for item in items.data]  # type: ignore[union-attr]
    assert texts == ["one", "two"]
    page = client.responses.input_items.list(created.id, limit=1)
    assert len(page.data) == 1 and page.has_more
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    created = client.responses.create(model="sim", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_unknown_previous_response(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="claude", previous_response_id="resp_unknown", input="hi")
    assert caught.value.code == "previous_response_not_found"
    client.responses.create(model="gpt", previous_response_id="resp_made_at_openai", input="hi")
    assert fakes["openai"].last_request.json["previous_response_id"] == "resp_made_at_openai"


def test_builtin_tools_need_an_openai_deployment(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gemini", input="news?", tools=[{"type": "web_search"}])
    assert "web_search" in caught.value.message
    client.responses.create(model="gpt", input="news?", tools=[{"type": "web_search"}])
    assert fakes["openai"].last_request.json["tools"] == [{"type": "web_search"}]


@pytest.mark.parametrize("target", ["gpt", "claude"])
def test_upstream_error_statuses(client: openai.OpenAI, fakes: dict[str, Any], target: str) -> None:
    # longer than the gateway waits for a retry (backoff.max_ms): the 429 reaches the client
    fake_for(fakes, target).script(Behavior(status=429, headers={"retry-after": "5"}))
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model=target, input="hi")


@pytest.mark.parametrize("target", ["gpt", "gemini"])
def test_broken_stream_raises_in_the_sdk(client: openai.OpenAI, fakes: dict[str, Any], target: str) -> None:
    fake_for(fakes, target).script(Behavior(chunks=10, disconnect_after=4))
    stream = client.responses.create(model=target, input="hi", stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def call(gateway: GatewayProcess, method: str, path: str, body: Any = None, key: str | None = MASTER_KEY) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(gateway.base_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_bad_requests_get_openai_errors(gateway: GatewayProcess) -> None:
    status, body = call(gateway, "POST", "/responses", {"model": "sim"})
    assert status == 400 and body["error"]["param"] == "input"
    status, body = call(gateway, "POST", "/responses", {"model": "sim", "input": "x"}, key=None)
    assert status == 401
    status, body = call(gateway, "GET", "/responses/resp_nope")
    assert status == 404 and body["error"]["message"] == "Response with id 'resp_nope' not found."
    status, body = call(gateway, "POST", "/responses", {"model": "sim", "input": "x", "background": True})
    assert status == 400 and body["error"]["param"] == "background"
    status, body = call(gateway, "PUT", "/responses/resp_nope")
    assert status == 405


async def test_async_client(gateway: GatewayProcess) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    response = await client.responses.create(model="sim", input="Say hello")
    assert response.output_text
    stream = await client.responses.create(model="claude", input="Say hello", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    await client.close()
