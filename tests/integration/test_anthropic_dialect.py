"""The official anthropic SDK against a real gateway: /v1/messages passes through to Anthropic deployments and is
translated for OpenAI, Gemini and Bedrock ones, streaming and tools included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeAnthropic, FakeBedrock, FakeGemini, FakeOpenAI

ANTHROPIC_KEY = "sk-ant-dialect-test-0123456789"
OPENAI_KEY = "sk-openai-dialect-test-0123456789"
GEMINI_KEY = "gemini-dialect-test-0123456789"
AWS = ("AKIADIALECTTEST00001", "dialect/secret/0123456789abcdefghijkl")
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
HI = [{"role": "user", "content": "Say hello"}]
TARGETS = ["claude", "gpt", "gemini", "bedrock"]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    made = {
        "claude": FakeAnthropic(api_key=ANTHROPIC_KEY),
        "gpt": FakeOpenAI(api_key=OPENAI_KEY),
        "gemini": FakeGemini(api_key=GEMINI_KEY),
        "bedrock": FakeBedrock(access_key_id=AWS[0], secret_access_key=AWS[1], region="us-east-1"),
    }
    runners = [fake.run_in_thread() for fake in made.values()]
    try:
        yield made
    finally:
        for runner in runners:
            runner.close()


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"access_log": True, "breaker": {"enabled": False}},  # scripted 429s must not cool "gpt" down
        "providers": [
            {"name": "claude", "type": "anthropic", "base_url": fakes["claude"].url, "api_key": ANTHROPIC_KEY},
            {"name": "gpt", "type": "openai", "base_url": fakes["gpt"].base_url, "api_key": OPENAI_KEY},
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
            {"name": "claude", "deployments": [{"provider": "claude", "model": "claude-sonnet-4-6"}]},
            {"name": "gpt", "deployments": [{"provider": "gpt", "model": "gpt-4o-mini"}]},
            {"name": "gemini", "deployments": [{"provider": "gemini", "model": "gemini-2.5-flash"}]},
            {
                "name": "bedrock",
                "deployments": [{"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20241022-v2:0"}],
            },
        ],
    }
    workdir: Path = tmp_path_factory.mktemp("anthropic-dialect")
    process = GatewayProcess(workdir, config, master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess, fakes: dict[str, Any]) -> anthropic.Anthropic:
    for fake in fakes.values():
        fake.reset()
    return anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0, timeout=20)


def test_passthrough_to_anthropic_keeps_the_body(client: anthropic.Anthropic, fakes: dict[str, Any]) -> None:
    message = client.messages.create(
        model="claude",
        max_tokens=100,
        messages=HI,  # type: ignore[arg-type]
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert message.content[0].type == "text" and message.stop_reason == "end_turn"
    sent = fakes["claude"].last_request
    assert sent.json["model"] == "claude-sonnet-4-6"
    assert sent.json["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "interleaved-thinking-2025-05-14" in sent.headers["anthropic-beta"]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY


@pytest.mark.parametrize("target", TARGETS)
def test_text_and_usage(client: anthropic.Anthropic, target: str) -> None:
    message = client.messages.create(model=target, max_tokens=200, messages=HI)  # type: ignore[arg-type]
    assert message.type == "message" and message.role == "assistant"
    assert message.content and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("target", TARGETS)
def test_stream_accumulates(client: anthropic.Anthropic, target: str) -> None:
    with client.messages.stream(model=target, max_tokens=200, messages=HI) as stream:  # type: ignore[arg-type]
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    assert final.content[0].type == "text" and final.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("target", TARGETS)
def test_tool_use_streamed_and_not(client: anthropic.Anthropic, target: str) -> None:
    message = client.messages.create(
        model=target,
        max_tokens=300,
        tools=TOOLS,
        tool_choice={"type": "any"},  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    block = next(b for b in message.content if b.type == "tool_use")
    assert block.name == "get_weather" and isinstance(block.input["city"], str)  # type: ignore[index]
    assert message.stop_reason == "tool_use"
    with client.messages.stream(
        model=target,
        max_tokens=300,
        tools=TOOLS,
        tool_choice={"type": "any"},  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    block = next(b for b in final.content if b.type == "tool_use")
    assert isinstance(block.input["city"], str)  # type: ignore[index]
    follow_up = client.messages.create(
        model=target,
        max_tokens=300,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": block.id, "name": "get_weather", "input": block.input}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "21C sunny"}]},
        ],
    )
    assert follow_up.content and follow_up.content[0].type == "text"


@pytest.mark.parametrize("target", TARGETS)
async def test_async_client(gateway: GatewayProcess, target: str) -> None:
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    message = await client.messages.create(model=target, max_tokens=100, messages=HI)  # type: ignore[arg-type]
    assert message.content[0].type == "text"


def test_errors_in_anthropic_shape(client: anthropic.Anthropic, gateway: GatewayProcess, fakes: dict[str, Any]) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=HI)  # type: ignore[arg-type]
    bad = anthropic.Anthropic(base_url=gateway.url, api_key="wg-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="gpt", max_tokens=10, messages=HI)  # type: ignore[arg-type]
    fakes["gpt"].script(Behavior(status=429, headers={"Retry-After": "3"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="gpt", max_tokens=10, messages=HI)  # type: ignore[arg-type]
    assert info.value.body["type"] == "error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="gpt", max_tokens=10, messages=[])  # type: ignore[arg-type]


def test_broken_upstream_stream_ends_with_error_event(client: anthropic.Anthropic, fakes: dict[str, Any]) -> None:
    fakes["gpt"].script(Behavior(chunks=10, disconnect_after=4))
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model="gpt",
            max_tokens=100,
            messages=HI,  # type: ignore[arg-type]
        ) as stream,
    ):
        for _ in stream:
            pass


def test_count_tokens_estimates_where_the_provider_cannot_count(
    client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    result = client.messages.count_tokens(model="gpt", messages=HI, tools=TOOLS)  # type: ignore[arg-type]
    assert result.input_tokens > 0
    assert fakes["gpt"].request_count == 0


@pytest.mark.parametrize("target", ["claude", "gemini", "bedrock"])
def test_count_tokens_asks_the_provider(client: anthropic.Anthropic, fakes: dict[str, Any], target: str) -> None:
    system = "You are a careful assistant. " * 40
    result = client.messages.count_tokens(
        model=target,
        system=system,
        messages=HI,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
    )
    sent = fakes[target].last_request
    assert sent is not None and "count" in sent.path.lower()
    if target == "claude":
        direct = anthropic.Anthropic(base_url=fakes["claude"].url, api_key=ANTHROPIC_KEY, max_retries=0)
        expected = direct.messages.count_tokens(
            model="claude-sonnet-4-6",
            system=system,
            messages=HI,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
        )
        assert result.input_tokens == expected.input_tokens
        assert sent.json["model"] == "claude-sonnet-4-6" and "max_tokens" not in sent.json
        assert "token-counting-2024-11-01" in sent.headers["anthropic-beta"]
    assert result.input_tokens > 0


def test_anthropic_only_hints_do_not_reach_openai(client: anthropic.Anthropic, fakes: dict[str, Any]) -> None:
    client.messages.create(
        model="gpt",
        max_tokens=100,  # type: ignore[arg-type]
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
        ],
    )
    sent = fakes["gpt"].last_request
    assert "cache_control" not in sent.body.decode()
    assert sent.json["messages"][0]["role"] == "system" and "Be brief." in sent.body.decode()
