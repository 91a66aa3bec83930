"""``Behavior.reasoning`` on FakeAnthropic: a signed ``thinking`` block (``thinking_delta``\\s then one
``signature_delta`` in a stream), checked through the official ``anthropic`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam

from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_anthropic.reply import THINKING_TEXT

KEY = "sk-ant-test-0123456789"
MODEL = "claude-sonnet-4-6"
REASONING = "The user wants the weather in Paris, so I will call the weather tool first."
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
TOOL: Any = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
USER: list[MessageParam] = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=KEY, max_retries=0)


async def test_scripted_reasoning_is_a_signed_thinking_block_before_text_and_tools(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(Behavior(reasoning=REASONING, content="Checking.", tool_calls=[ToolCall("get_weather", {"city": "P"})]))
    message = await client.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, tools=[TOOL], messages=USER)
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == REASONING and thinking.signature
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == len(REASONING.split())


async def test_streamed_reasoning_is_thinking_deltas_then_one_signature(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(Behavior(reasoning=REASONING, content="Sunny.", chunks=4))
    async with client.messages.stream(model=MODEL, max_tokens=2048, thinking=THINKING, messages=USER) as stream:
        deltas = [(e.index, e.delta.type) async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    thinking = [kind for index, kind in deltas if index == 0]
    assert thinking == ["thinking_delta"] * 4 + ["signature_delta"]
    assert final.content[0].type == "thinking" and final.content[0].thinking == REASONING
    assert final.content[0].signature
    assert final.content[1].type == "text" and final.content[1].text == "Sunny."


async def test_reasoning_is_sent_without_thinking_and_empty_reasoning_suppresses_it(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(Behavior(reasoning=REASONING))
    unasked = await client.messages.create(model=MODEL, max_tokens=2048, messages=USER)
    assert unasked.content[0].type == "thinking" and unasked.content[0].thinking == REASONING
    fake.script(Behavior(reasoning=""))
    suppressed = await client.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, messages=USER)
    assert [block.type for block in suppressed.content] == ["text"]
    assert suppressed.usage.output_tokens_details is None
    default = await client.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, messages=USER)
    assert default.content[0].type == "thinking" and default.content[0].thinking == THINKING_TEXT


def test_reasoning_is_accepted_by_the_control_api_form() -> None:
    behavior = Behavior.from_dict({"reasoning": REASONING, "content": "x"})
    assert behavior.reasoning == REASONING
    assert Behavior.from_dict(behavior.to_dict()) == behavior
