"""``Behavior.reasoning`` on FakeBedrock, driven by boto3: a signed ``reasoningContent`` block first (Converse), and
``reasoningContent`` text deltas then one ``signature`` delta (ConverseStream), as Claude on Bedrock answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from wardgate.testing import Behavior, FakeServerThread, ToolCall
from wardgate.testing.fake_bedrock import FakeBedrock
from wardgate.testing.fake_bedrock.replies import REASONING_TEXT

KEY_ID, SECRET, REGION = "AKIDREASON", "reason-secret", "us-east-1"
MODEL = "anthropic.claude-sonnet-4-20250514-v1:0"
USER = [{"role": "user", "content": [{"text": "Read the config file."}]}]
TOOLS = {"tools": [{"toolSpec": {"name": "Read", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]}
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
REASONING = "The user wants the config file; I will read it before answering."


@pytest.fixture(scope="module")
def runner() -> Iterator[FakeServerThread]:
    thread = FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET, region=REGION).run_in_thread()
    yield thread
    thread.close()


@pytest.fixture
def client(runner: FakeServerThread) -> Any:
    runner.fake.reset()
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=runner.fake.url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_scripted_reasoning_is_a_signed_reasoning_block_first(client: Any, runner: FakeServerThread) -> None:
    runner.fake.script(Behavior(reasoning=REASONING, content="Reading it.", tool_calls=[ToolCall("Read", {})]))
    response = client.converse(modelId=MODEL, messages=USER, toolConfig=TOOLS, inferenceConfig={"maxTokens": 2048})
    content = response["output"]["message"]["content"]
    assert [next(iter(block)) for block in content] == ["reasoningContent", "text", "toolUse"]
    signed = content[0]["reasoningContent"]["reasoningText"]
    assert signed["text"] == REASONING and signed["signature"]
    assert response["stopReason"] == "tool_use"


def test_streamed_reasoning_is_text_deltas_then_the_signature(client: Any, runner: FakeServerThread) -> None:
    runner.fake.script(Behavior(reasoning=REASONING, content="Done."))
    response = client.converse_stream(
        modelId=MODEL, messages=USER, additionalModelRequestFields=THINKING, inferenceConfig={"maxTokens": 2048}
    )
    events = list(response["stream"])
    first = [e["contentBlockDelta"]["delta"]["reasoningContent"] for e in events if _block(e) == 0]
    assert "".join(delta.get("text", "") for delta in first) == REASONING
    assert [list(delta) for delta in first][-1] == ["signature"] and first[-1]["signature"]
    assert all(list(delta) == ["text"] for delta in first[:-1])
    stops = [e["contentBlockStop"]["contentBlockIndex"] for e in events if "contentBlockStop" in e]
    assert stops == [0, 1]


def test_reasoning_unasked_and_suppressed(client: Any, runner: FakeServerThread) -> None:
    runner.fake.script(Behavior(reasoning=REASONING))
    unasked = client.converse(modelId=MODEL, messages=USER)["output"]["message"]["content"]
    assert unasked[0]["reasoningContent"]["reasoningText"]["text"] == REASONING
    runner.fake.script(Behavior(reasoning=""))
    body = {"modelId": MODEL, "messages": USER, "additionalModelRequestFields": THINKING}
    suppressed = client.converse(**body, inferenceConfig={"maxTokens": 2048})["output"]["message"]["content"]
    assert [next(iter(block)) for block in suppressed] == ["text"]
    default = client.converse(**body, inferenceConfig={"maxTokens": 2048})["output"]["message"]["content"]
    assert default[0]["reasoningContent"]["reasoningText"]["text"] == REASONING_TEXT


def _block(event: dict[str, Any]) -> int | None:
    delta = event.get("contentBlockDelta")
    return delta["contentBlockIndex"] if delta is not None else None
