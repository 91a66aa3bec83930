"""Gemini thought signatures as ``thinking_blocks`` and back: what the response and stream translators emit for
each part that can carry a signature (thought, function call, text), how ``messages`` puts them back on the parts
Gemini issued them on, and the whole loop through an Anthropic client (Gemini answer → Anthropic content →
history → Gemini request) — the path Claude Code takes to a Gemini deployment."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.api.anthropic.translate import (
    OpenAIChunksToAnthropicEvents,
    anthropic_to_openai_request,
    openai_to_anthropic_response,
)
from wardgate.core.errors import UpstreamStatusError
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.gemini.response import mark_signature, read_signature
from wardgate.providers.translate import TranslationContext
from wardgate.testing.fake_gemini.validate import validate_generate

S1, S2, S3 = "c2lnLTE=", "c2lnLTI=", "c2lnLTM="
CALL = {"functionCall": {"name": "Read", "args": {"path": "a.py"}}}


def ctx(model: str = "gemini-2.5-flash", *, stream: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model=model, request_model="alias", response_id="chatcmpl-sig", created=1, stream=stream,
        include_usage=stream,
    )  # fmt: skip


def body(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}]}


def completion(parts: list[dict[str, Any]]) -> dict[str, Any]:
    result = GeminiAdapter().chat_response(orjson.dumps(body(parts)), ctx())
    ChatCompletion.model_validate(result)
    message: dict[str, Any] = result["choices"][0]["message"]
    return message


def chunks(steps: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The OpenAI chunks for a stream sending one chunk per step (the last one finishes)."""
    translator = GeminiAdapter().chat_stream(ctx(stream=True))
    out: list[dict[str, Any]] = []
    for position, parts in enumerate(steps):
        chunk = body(parts)
        if position < len(steps) - 1:
            del chunk["candidates"][0]["finishReason"]
        out.extend(translator.feed(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"))
    out.extend(translator.finish())
    for item in out:
        ChatCompletionChunk.model_validate(item)
    return out


def deltas(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in stream if c["choices"] and c["choices"][0]["delta"]][1:]


def signed(thinking: str, kind: str, signature: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": mark_signature(kind, signature)}


# ------------------------------------------------------------------------------------------------ marks


def test_marks_round_trip_and_other_signatures_are_not_gemini_s() -> None:
    assert read_signature(mark_signature("call", S1)) == ("call", S1)
    for value in (S1, "gemini:other:x", "gemini:thought:", "gemini:", "", None, 7):
        assert read_signature(value) is None


# --------------------------------------------------------------------------------------------- response


@pytest.mark.parametrize(
    ("parts", "blocks"),
    [
        (  # a signed thought (Gemini's streams close thoughts with one) and a text answer
            [{"text": "Plan.", "thought": True, "thoughtSignature": S1}, {"text": "Hi"}],
            [signed("Plan.", "thought", S1)],
        ),
        (  # Gemini 3: the first function call carries it; the thoughts before it are in its block
            [{"text": "A", "thought": True}, {"text": "B", "thought": True}, {**CALL, "thoughtSignature": S1}, CALL],
            [signed("AB", "call", S1)],
        ),
        (  # a text answer signed on its last part; text in between does not matter when not streaming
            [{"text": "A", "thought": True}, {"text": "x"}, {"text": "", "thoughtSignature": S2}],
            [signed("A", "text", S2)],
        ),
        (  # two signatures: each closes its own run
            [{"text": "A", "thought": True, "thoughtSignature": S1}, {**CALL, "thoughtSignature": S2}],
            [signed("A", "thought", S1), signed("", "call", S2)],
        ),
        (  # thought text after the last signature stays, as an unsigned block
            [{"text": "A", "thought": True, "thoughtSignature": S1}, {"text": "B", "thought": True}, {"text": "x"}],
            [signed("A", "thought", S1), {"type": "thinking", "thinking": "B", "signature": ""}],
        ),
    ],
)
def test_response_thinking_blocks(parts: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    message = completion(parts)
    assert message["thinking_blocks"] == blocks
    assert message["reasoning_content"] == "".join(p["text"] for p in parts if p.get("thought"))


def test_no_signature_no_thinking_blocks_and_calls_keep_extra_content() -> None:
    assert "thinking_blocks" not in completion([{"text": "A", "thought": True}, {"text": "x"}])
    message = completion([{**CALL, "thoughtSignature": S1}])
    assert message["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": S1}}


# ----------------------------------------------------------------------------------------------- stream


def test_stream_signs_the_open_thought_then_streams_the_answer() -> None:
    steps: list[list[dict[str, Any]]] = [
        [{"text": "Let me ", "thought": True}],
        [{"text": "think.", "thought": True}],
        [{"text": "", "thought": True, "thoughtSignature": S1}],  # the signature-only part
        [{"text": "Hi"}],
    ]
    assert deltas(chunks(steps)) == [
        {"reasoning_content": "Let me "},
        {"reasoning_content": "think."},
        {"thinking_blocks": [signed("Let me think.", "thought", S1)]},
        {"content": "Hi"},
    ]


def test_stream_call_signature_after_text_travels_without_text() -> None:
    got = deltas(chunks([[{"text": "A", "thought": True}], [{"text": "x"}], [{**CALL, "thoughtSignature": S1}]]))
    assert got[:3] == [{"reasoning_content": "A"}, {"content": "x"}, {"thinking_blocks": [signed("", "call", S1)]}]
    assert got[3]["tool_calls"][0]["function"]["name"] == "Read"
    direct = deltas(chunks([[{"text": "A", "thought": True}], [{**CALL, "thoughtSignature": S1}]]))
    assert direct[1] == {"thinking_blocks": [signed("A", "call", S1)]}


def test_a_signature_alone_is_not_output() -> None:
    """A failed function call after a signature-only part is still a failed generation, not an empty answer."""
    translator = GeminiAdapter().chat_stream(ctx(stream=True))
    candidate = {
        "content": {"parts": [{"text": "", "thoughtSignature": S1}]},
        "finishReason": "MALFORMED_FUNCTION_CALL",
    }
    with pytest.raises(UpstreamStatusError, match="invalid function call"):
        translator.feed(b"data: " + orjson.dumps({"candidates": [candidate]}) + b"\r\n\r\n")


@pytest.mark.parametrize(
    "parts",
    [
        [{"text": "Plan.", "thought": True, "thoughtSignature": S1}, {"text": "Reading."}, CALL],
        [{"text": "Plan.", "thought": True}, {**CALL, "thoughtSignature": S1}],
    ],
)
def test_anthropic_clients_see_the_same_content_streamed_or_not(parts: list[dict[str, Any]]) -> None:
    """When nothing comes between the thought and its signature, the stream builds exactly the message."""
    streamed = accumulate(parts)
    completion_body = GeminiAdapter().chat_response(orjson.dumps(body(parts)), ctx())
    whole = openai_to_anthropic_response(completion_body, model="alias")["content"]
    assert [strip_ids(b) for b in streamed] == [strip_ids(b) for b in whole]
    kind = "thought" if parts[0].get("thoughtSignature") else "call"
    assert streamed[0] == {"type": "thinking", "thinking": "Plan.", "signature": mark_signature(kind, S1)}


def accumulate(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The content blocks an Anthropic client accumulates from the streamed answer."""
    events = OpenAIChunksToAnthropicEvents(model="alias")
    stream = chunks([[part] for part in parts])
    produced = [event for item in stream for event in events.feed(item)] + events.finish()
    blocks: list[dict[str, Any]] = []
    for name, data in produced:
        if name == "content_block_start":
            blocks.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            if delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                block["input"] = orjson.loads(delta["partial_json"])
    return blocks


def strip_ids(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "id"}


# ---------------------------------------------------------------------------------------------- history


def request(message: dict[str, Any], model: str = "gemini-2.5-flash") -> list[dict[str, Any]]:
    """The parts of the model turn Gemini receives for ``message`` (an assistant message with tool calls)."""
    ids = [call["id"] for call in message.get("tool_calls") or []]
    messages = [
        {"role": "user", "content": "Fix it"},
        message,
        *({"role": "tool", "tool_call_id": call_id, "content": "ok"} for call_id in ids),
    ]
    tool = {"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}}}
    context = ctx(model)
    call = GeminiAdapter().chat_call({"model": "alias", "messages": messages, "tools": [tool]}, context)
    sent: dict[str, Any] = orjson.loads(call.body)
    validate_generate(sent, vertex=False, model=model)
    parts: list[dict[str, Any]] = sent["contents"][1]["parts"]
    return parts


def tool_call(call_id: str, signature: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"id": call_id, "type": "function", "function": {"name": "Read", "arguments": "{}"}}
    if signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def test_history_puts_each_signature_back_on_its_part() -> None:
    message = {
        "role": "assistant",
        "content": "Reading.",
        "reasoning_content": "Plan.",
        "tool_calls": [tool_call("c1"), tool_call("c2")],
        "thinking_blocks": [
            signed("Plan.", "thought", S1),
            {"type": "thinking", "thinking": "Claude's", "signature": "EqQBCkYIARgC"},  # not Gemini's: left out
            {"type": "thinking", "thinking": "unsigned", "signature": ""},
            signed("", "call", S2),
            signed("", "text", S3),
        ],
    }
    assert request(message) == [
        {"text": "Plan.", "thought": True, "thoughtSignature": S1},
        {"text": "Reading.", "thoughtSignature": S3},
        {"functionCall": {"name": "Read", "args": {}, "id": "c1"}, "thoughtSignature": S2},
        {"functionCall": {"name": "Read", "args": {}, "id": "c2"}},
    ]


def test_a_call_signature_from_extra_content_wins_and_gemini_3_gets_the_real_one() -> None:
    both = {"role": "assistant", "tool_calls": [tool_call("c1", S1)], "thinking_blocks": [signed("", "call", S1)]}
    assert request(both) == [{"functionCall": {"name": "Read", "args": {}, "id": "c1"}, "thoughtSignature": S1}]
    blocks_only = {"role": "assistant", "tool_calls": [tool_call("c1")], "thinking_blocks": [signed("", "call", S2)]}
    assert request(blocks_only, "gemini-3-pro-preview")[0]["thoughtSignature"] == S2  # not the skip placeholder
    plain = {"role": "assistant", "tool_calls": [tool_call("c1")]}
    assert request(plain, "gemini-3-pro-preview")[0]["thoughtSignature"] == "skip_thought_signature_validator"


@pytest.mark.parametrize(
    ("parts", "replayed"),
    [
        (  # Gemini 2.5 through the fake's shape: the signed thought comes back as it was
            [{"text": "Plan.", "thought": True, "thoughtSignature": S1}, {"text": "Reading."}, CALL],
            [{"text": "Plan.", "thought": True, "thoughtSignature": S1}, {"text": "Reading."}, CALL],
        ),
        (  # Gemini 3: the call keeps its signature; unsigned thought text is not sent back
            [{"text": "Plan.", "thought": True}, {"text": "Reading."}, {**CALL, "thoughtSignature": S2}],
            [{"text": "Reading."}, {**CALL, "thoughtSignature": S2}],
        ),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_round_trip_through_an_anthropic_client(
    parts: list[dict[str, Any]], replayed: list[dict[str, Any]], streamed: bool
) -> None:
    """Gemini answer → the content an Anthropic client holds → its next request → what Gemini receives."""
    if streamed:
        content = accumulate(parts)
    else:
        completion_body = GeminiAdapter().chat_response(orjson.dumps(body(parts)), ctx())
        content = openai_to_anthropic_response(completion_body, model="alias")["content"]
    call_id = next(block["id"] for block in content if block["type"] == "tool_use")
    anthropic_body = {
        "model": "alias",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}],
        "messages": [
            {"role": "user", "content": "Fix it"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "ok"}]},
        ],
    }
    canonical = anthropic_to_openai_request(anthropic_body)
    sent = orjson.loads(GeminiAdapter().chat_call(canonical, ctx()).body)
    expected = [
        {**part, "functionCall": {**part["functionCall"], "id": call_id}} if "functionCall" in part else part
        for part in replayed
    ]
    assert sent["contents"][1]["parts"] == expected
