"""Claude's signed reasoning on Bedrock through an Anthropic client and back: a streamed ``reasoningContent`` block
becomes a signed ``thinking`` block, which returns as the first ``reasoningContent`` of the assistant turn (with
thinking on, Claude requires it); blocks another provider signed (Gemini's ``gemini:`` signatures) stay away."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.api.anthropic.translate import OpenAIChunksToAnthropicEvents, anthropic_to_openai_request
from wardgate.providers.bedrock import BedrockAdapter
from wardgate.providers.translate import TranslationContext
from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_bedrock.replies import build_reply, stream_frames

CLAUDE = "anthropic.claude-sonnet-4-20250514-v1:0"
REASONING = "I need the file before I can fix anything."
TOOL = {"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}}}


def ctx(stream: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model=CLAUDE, request_model="m", response_id="chatcmpl-b", created=1, stream=stream,
        include_usage=stream,
    )  # fmt: skip


def converse(messages: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"model": "m", "messages": messages, "tools": [TOOL], "reasoning_effort": "low"}
    result: dict[str, Any] = orjson.loads(BedrockAdapter().chat_call(body, ctx()).body)
    return result


def streamed_content() -> list[dict[str, Any]]:
    """What an Anthropic client accumulates from a ConverseStream answer with signed reasoning and a tool call."""
    reply = build_reply(
        {"messages": []}, Behavior(reasoning=REASONING, content="Reading.", tool_calls=[ToolCall("Read")])
    )
    translator = BedrockAdapter().chat_stream(ctx(stream=True))
    events = OpenAIChunksToAnthropicEvents(model="m")
    produced = [
        e for frame in stream_frames(reply, 2, 5) for chunk in translator.feed(frame) for e in events.feed(chunk)
    ]
    produced += [e for chunk in translator.finish() for e in events.feed(chunk)] + events.finish()
    blocks: list[dict[str, Any]] = []
    for name, data in produced:
        if name == "content_block_start":
            blocks.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            key = {"thinking_delta": "thinking", "text_delta": "text"}.get(delta["type"])
            if key is not None:
                block[key] += delta[key]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
    assert reply.signature is not None
    assert blocks[0] == {"type": "thinking", "thinking": REASONING, "signature": reply.signature}
    return blocks


def test_streamed_signed_reasoning_comes_back_first_in_the_assistant_turn() -> None:
    content = streamed_content()
    call_id = content[-1]["id"]
    canonical = anthropic_to_openai_request(
        {
            "model": "m",
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "Read", "input_schema": {"type": "object", "properties": {}}}],
            "messages": [
                {"role": "user", "content": "Fix it"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "x = 1"}]},
            ],
        }
    )
    assistant = converse(canonical["messages"])["messages"][1]["content"]
    signature = content[0]["signature"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": REASONING, "signature": signature}}}
    assert assistant[1] == {"text": "Reading."}
    assert assistant[2]["toolUse"]["toolUseId"] == call_id


@pytest.mark.parametrize("signature", ["gemini:thought:c2ln", "gemini:call:c2ln"])
def test_reasoning_signed_by_gemini_is_left_out(signature: str) -> None:
    message = {
        "role": "assistant",
        "content": "Reading.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}],
        "thinking_blocks": [
            {"type": "thinking", "thinking": "from Gemini", "signature": signature},
            {"type": "thinking", "thinking": "from Claude", "signature": "EqQBCkYIARgC"},
        ],
    }
    messages = [{"role": "user", "content": "Fix it"}, message, {"role": "tool", "tool_call_id": "c1", "content": "x"}]
    assistant = converse(messages)["messages"][1]["content"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": "from Claude", "signature": "EqQBCkYIARgC"}}}
    assert [next(iter(block)) for block in assistant] == ["reasoningContent", "text", "toolUse"]
