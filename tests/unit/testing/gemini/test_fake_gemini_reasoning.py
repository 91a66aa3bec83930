"""FakeGemini's thoughts: ``Behavior.reasoning`` as ``thought: true`` parts, and where the thought signature goes
(Gemini 3: the first function call; other models: the thought, in a stream on an empty thought part after the
thought text). Bodies are checked with google-genai's own (``extra="forbid"``) response types."""

from __future__ import annotations

from typing import Any

import orjson
from google.genai import types as gt

from wardgate.testing import Behavior, ToolCall
from wardgate.testing.fake_gemini.reply import (
    THOUGHT_CHUNKS,
    THOUGHT_TEXT,
    build_reply,
    response_body,
    stream_frames,
)

REASONING = "The user asked for the weather, so I need to call the weather function for Paris."
REQUEST: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]}
THOUGHTS: dict[str, Any] = {
    **REQUEST,
    "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}},
}
CALL = [ToolCall("get_weather", {"city": "Paris"})]


def parts(behavior: Behavior, model: str = "gemini-2.5-flash", body: dict[str, Any] = REQUEST) -> list[Any]:
    reply = response_body(build_reply(body, model, behavior, vertex=False))
    gt.GenerateContentResponse.model_validate(reply)
    result: list[Any] = reply["candidates"][0]["content"]["parts"]
    return result


def streamed_parts(behavior: Behavior, model: str = "gemini-2.5-flash") -> list[list[Any]]:
    chunks = []
    for frame in stream_frames(build_reply(REQUEST, model, behavior, vertex=False)):
        chunk = orjson.loads(frame.removeprefix(b"data: "))
        gt.GenerateContentResponse.model_validate(chunk)
        chunks.append(chunk["candidates"][0]["content"]["parts"])
    return chunks


def test_scripted_reasoning_is_a_signed_thought_part_first() -> None:
    got = parts(Behavior(reasoning=REASONING, content="Let me check.", tool_calls=CALL))
    assert got[0]["text"] == REASONING and got[0]["thought"] is True and got[0]["thoughtSignature"]
    assert got[1] == {"text": "Let me check."}
    assert got[2] == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}  # the thought is signed


def test_gemini_3_signs_the_first_function_call_instead() -> None:
    got = parts(Behavior(reasoning=REASONING, tool_calls=[*CALL, ToolCall("get_time", {})]), "gemini-3-pro-preview")
    assert got[0] == {"text": REASONING, "thought": True}
    assert got[1]["thoughtSignature"] and "thoughtSignature" not in got[2]


def test_streamed_thought_comes_in_pieces_then_a_signature_only_part() -> None:
    chunks = streamed_parts(Behavior(reasoning=REASONING, content="Sunny.", chunks=1))
    thoughts = chunks[:THOUGHT_CHUNKS]
    assert all(len(chunk) == 1 and chunk[0]["thought"] is True for chunk in thoughts)
    assert "".join(chunk[0]["text"] for chunk in thoughts) == REASONING
    signature = chunks[THOUGHT_CHUNKS]
    assert signature == [{"text": "", "thought": True, "thoughtSignature": signature[0]["thoughtSignature"]}]
    assert chunks[THOUGHT_CHUNKS + 1] == [{"text": "Sunny."}]


def test_default_thoughts_only_when_asked_and_empty_reasoning_suppresses_them() -> None:
    assert "thought" not in parts(Behavior())[0]  # no thought unless asked
    assert parts(Behavior(), body=THOUGHTS)[0]["text"] == THOUGHT_TEXT
    assert all("thought" not in part for part in parts(Behavior(reasoning=""), body=THOUGHTS))
    assert parts(Behavior(reasoning=REASONING))[0]["thought"] is True  # scripted: sent even unasked


def test_thought_tokens_are_counted() -> None:
    reply = response_body(build_reply(REQUEST, "gemini-2.5-flash", Behavior(reasoning=REASONING), vertex=False))
    assert reply["usageMetadata"]["thoughtsTokenCount"] == len(REASONING.split())
