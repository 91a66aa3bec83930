"""The Gemini SSE stream translator as a state machine: completion rules, interruptions, errors, framing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from wardgate.core.errors import RateLimitError, StreamInterruptedError, UpstreamStatusError
from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.gemini.stream import GeminiStreamTranslator
from wardgate.providers.translate import TranslationContext


def translator(include_usage: bool = False) -> GeminiStreamTranslator:
    context = TranslationContext(
        upstream_model="gemini-2.5-flash", request_model="a", response_id="chatcmpl-s", created=1, stream=True,
        include_usage=include_usage,
    )  # fmt: skip
    result = GeminiAdapter().chat_stream(context)
    assert isinstance(result, GeminiStreamTranslator)
    return result


def frame(payload: Any, end: bytes = b"\r\n\r\n") -> bytes:
    return b"data: " + orjson.dumps(payload) + end


def text_chunk(text: str, finish: str | None = None, index: int = 0, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": index}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **extra}


def run(data: bytes, include_usage: bool = False, *, bytewise: bool = False) -> list[dict[str, Any]]:
    t = translator(include_usage)
    out: list[dict[str, Any]] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        out.extend(t.feed(piece))
    out.extend(t.finish())
    for chunk in out:
        ChatCompletionChunk.model_validate(chunk)
    return out


def deltas(chunks: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], str | None]]:
    return [
        (c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
        for c in chunks
        if c["choices"]
    ]


def test_stream_without_finish_reason_is_interrupted() -> None:
    t = translator()
    assert deltas(t.feed(frame(text_chunk("Hello")))) == [
        (0, {"role": "assistant", "content": ""}, None),
        (0, {"content": "Hello"}, None),
    ]
    with pytest.raises(StreamInterruptedError):
        t.finish()


def test_empty_stream_is_interrupted() -> None:
    with pytest.raises(StreamInterruptedError):
        translator().finish()


def test_stream_cut_in_the_middle_of_an_event_is_interrupted() -> None:
    data = frame(text_chunk("Hello", "STOP"))
    t = translator()
    t.feed(data[: len(data) // 2])
    with pytest.raises(StreamInterruptedError):
        t.finish()


def test_last_event_without_blank_line_still_counts() -> None:
    chunks = run(frame(text_chunk("Hi", "STOP"), end=b""))
    assert deltas(chunks)[-1] == (0, {}, "stop")


@pytest.mark.parametrize("bytewise", [False, True])
def test_lf_framing_comments_and_keepalives(bytewise: bool) -> None:
    data = b": keep-alive\n\n" + frame(text_chunk("a"), b"\n\n") + b"\n" + frame(text_chunk("b", "STOP"), b"\n\n")
    assert [d for _, d, _ in deltas(run(data, bytewise=bytewise))] == [
        {"role": "assistant", "content": ""},
        {"content": "a"},
        {"content": "b"},
        {},
    ]


def test_error_event_raises_the_mapped_error() -> None:
    t = translator()
    t.feed(frame(text_chunk("partial")))
    with pytest.raises(RateLimitError):
        t.feed(frame({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}))
    with pytest.raises(UpstreamStatusError):
        translator().feed(frame({"error": {"message": "boom", "status": "INTERNAL"}}))


def test_invalid_event_is_interrupted() -> None:
    with pytest.raises(StreamInterruptedError):
        translator().feed(b"data: {not json\r\n\r\n")
    with pytest.raises(StreamInterruptedError):
        translator().feed(b"data: 42\r\n\r\n")


def test_usage_only_chunk_after_finish_updates_usage() -> None:
    data = frame(text_chunk("Hi", "STOP", usageMetadata={"promptTokenCount": 3})) + frame(
        {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}
    )
    chunks = run(data, include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 4
    assert all(c["usage"] is None for c in chunks[:-1])


def test_no_usage_chunk_unless_asked() -> None:
    chunks = run(frame(text_chunk("Hi", "STOP", usageMetadata={"promptTokenCount": 3})))
    assert all("usage" not in c for c in chunks)


def test_two_candidates_finish_independently() -> None:
    t = translator()
    out = t.feed(
        frame(
            {
                "candidates": [
                    text_chunk("a", index=0)["candidates"][0],
                    text_chunk("b", "STOP", index=1)["candidates"][0],
                ]
            }
        )
    )
    assert (1, {}, "stop") in deltas(out)
    with pytest.raises(StreamInterruptedError):
        t.finish()
    t2 = translator()
    t2.feed(
        frame(
            {
                "candidates": [
                    text_chunk("a", index=0)["candidates"][0],
                    text_chunk("b", "STOP", index=1)["candidates"][0],
                ]
            }
        )
    )
    out = t2.feed(frame(text_chunk("c", "MAX_TOKENS", index=0)))
    assert deltas(out)[-1] == (0, {}, "length")
    assert t2.finish() == []


def test_empty_text_parts_and_finish_only_chunks() -> None:
    data = frame(text_chunk("")) + frame({"candidates": [{"finishReason": "SAFETY", "index": 0}]})
    assert deltas(run(data)) == [(0, {"role": "assistant", "content": ""}, None), (0, {}, "content_filter")]


def test_chunks_after_finish_are_ignored() -> None:
    data = frame(text_chunk("a", "STOP")) + frame(text_chunk("late"))
    assert {"content": "late"} not in [d for _, d, _ in deltas(run(data))]


def test_a_failed_function_call_raises_unless_something_was_produced() -> None:
    t = translator()
    t.feed(frame({"candidates": [{"content": {"parts": [{"text": "hm", "thought": True}]}, "index": 0}]}))
    with pytest.raises(UpstreamStatusError):
        t.feed(frame({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]}))
    chunks = run(
        frame(text_chunk("partial answer")) + frame({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]})
    )
    assert deltas(chunks)[-1] == (0, {}, "stop")
