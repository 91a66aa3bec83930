"""The stream meter: usage read from each dialect's stream items (built with the SDKs' own event types), the
hidden usage chunk dropped, output events counted, malformed items passed through without a raise."""

from __future__ import annotations

from typing import Any

import anthropic.types as at
import orjson
import pytest
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import Choice, ChoiceDelta
from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage, PromptTokensDetails
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails
from pydantic import BaseModel

from wardgate.core.types import RESPONSES_DIALECT
from wardgate.tokens import usage as usage_module
from wardgate.tokens.usage import StreamUsage, Usage

# --- openai: bare JSON chunk payloads --------------------------------------------------------------------------


def chunk(content: str | None = None, usage: CompletionUsage | None = None, *, choices: bool = True) -> bytes:
    """A chunk as OpenAI sends it with include_usage: "usage": null on content chunks (compact JSON)."""
    items = [Choice(index=0, delta=ChoiceDelta(content=content), finish_reason=None)] if choices else []
    body = ChatCompletionChunk(
        id="c1", object="chat.completion.chunk", created=1, model="gpt-4o", choices=items, usage=usage
    )
    return orjson.dumps(body.model_dump(mode="json"))


USAGE = CompletionUsage(
    prompt_tokens=31,
    completion_tokens=7,
    total_tokens=38,
    prompt_tokens_details=PromptTokensDetails(cached_tokens=0),
    completion_tokens_details=CompletionTokensDetails(reasoning_tokens=2),
)
OPENAI_STREAM = [chunk(""), chunk("Hello"), chunk(" world"), chunk(None), chunk(usage=USAGE, choices=False)]


def feed(meter: StreamUsage, items: list[bytes]) -> list[bytes]:
    passed = []
    for item in items:
        out = meter.feed(item)
        if out is not None:
            assert out is item, "items pass through untouched"
            passed.append(out)
    return passed


def test_openai_usage_chunk_read_and_passed_on() -> None:
    assert b'"usage":null' in OPENAI_STREAM[1]
    meter = StreamUsage("openai")
    assert meter.usage is None
    assert feed(meter, OPENAI_STREAM) == OPENAI_STREAM
    assert meter.usage == Usage(input_tokens=31, output_tokens=7, reasoning_tokens=2)
    assert meter.events == 4


def test_only_items_that_carry_usage_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []
    real = orjson.loads

    def spy(data: bytes) -> Any:
        parsed.append(data)
        return real(data)

    monkeypatch.setattr(usage_module.orjson, "loads", spy)
    feed(StreamUsage("openai"), OPENAI_STREAM)
    assert parsed == [OPENAI_STREAM[-1]]
    parsed.clear()
    stream = [message_start(input_tokens=3, output_tokens=1), PING, BLOCK_START, text_delta("a"), BLOCK_STOP]
    feed(StreamUsage("anthropic"), [*stream, message_delta(output_tokens=2), STOP])
    assert len(parsed) == 2


def test_openai_hidden_usage_chunk_dropped() -> None:
    meter = StreamUsage("openai", hide_usage_chunk=True)
    assert feed(meter, OPENAI_STREAM) == OPENAI_STREAM[:-1]
    assert meter.usage == Usage(input_tokens=31, output_tokens=7, reasoning_tokens=2)


def test_openai_without_usage() -> None:
    items = [orjson.dumps(orjson.loads(c) | {"usage": None}) for c in OPENAI_STREAM[:-1]]
    plain = [c.replace(b',"usage":null', b"") for c in OPENAI_STREAM[:-1]]
    for stream in (items, plain):
        meter = StreamUsage("openai", hide_usage_chunk=True)
        assert feed(meter, stream) == stream
        assert meter.usage is None
        assert meter.events == 4  # the lower bound a disconnect falls back to


def test_openai_spaced_json_from_compatible_servers() -> None:
    spaced = b'{"id": "x", "choices": [ ], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}}'
    content = b'{"id": "x", "choices": [ {"index": 0, "delta": {"content": "\\"usage\\": 1"}} ], "usage" : null}'
    meter = StreamUsage("openai", hide_usage_chunk=True)
    assert feed(meter, [content, spaced]) == [content]
    assert meter.usage == Usage(5, 6)
    assert meter.events == 1


def test_openai_usage_on_a_content_chunk_is_kept() -> None:
    last = chunk("!", usage=USAGE)
    meter = StreamUsage("openai", hide_usage_chunk=True)
    assert meter.feed(last) is last  # it carries output the client needs
    assert meter.usage is not None and meter.usage.output_tokens == 7


@pytest.mark.parametrize(
    "item",
    [
        b"",
        b"[DONE]",
        b"not json",
        b'{"usage": {"prompt_tokens": 1',
        b'{"usage": {"prompt_tokens": "x"}, "choices": []}',
        b'{"usage": 12}',
        b'[{"usage": {"prompt_tokens": 1}}]',
        b'{"usage"',
        b'{"usage":',
        b'{"choices": [',
        b'{"choices": "[x]"}',
        b"\xff\xfe\xfd",
    ],
)
def test_openai_malformed_items_pass_through(item: bytes) -> None:
    meter = StreamUsage("openai", hide_usage_chunk=True)
    assert meter.feed(item) is item
    assert meter.usage is None


def test_openai_malformed_items_do_not_lose_earlier_usage() -> None:
    meter = StreamUsage("openai")
    feed(meter, [*OPENAI_STREAM, b'{"usage": {"prompt_tokens": 1', b"[DONE]"])
    assert meter.usage == Usage(input_tokens=31, output_tokens=7, reasoning_tokens=2)


# --- anthropic: framed SSE events ------------------------------------------------------------------------------


def frame(event: BaseModel | dict[str, Any]) -> bytes:
    payload = event.model_dump(mode="json", exclude_none=True) if isinstance(event, BaseModel) else event
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def message_start(**usage: Any) -> bytes:
    message = at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=at.Usage(**usage),
    )
    return frame(at.RawMessageStartEvent(type="message_start", message=message))


def text_delta(text: str) -> bytes:
    delta = at.TextDelta(type="text_delta", text=text)
    return frame(at.RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=delta))


def message_delta(**usage: Any) -> bytes:
    return frame(
        at.RawMessageDeltaEvent(
            type="message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},  # type: ignore[arg-type]
            usage=at.MessageDeltaUsage(**usage),
        )
    )


BLOCK_START = frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
BLOCK_STOP = frame({"type": "content_block_stop", "index": 0})
PING = frame({"type": "ping"})
STOP = frame({"type": "message_stop"})


def test_anthropic_usage_from_start_and_delta() -> None:
    start = message_start(
        input_tokens=12, cache_read_input_tokens=2000, cache_creation_input_tokens=500, output_tokens=1
    )
    stream = [start, PING, BLOCK_START, text_delta("Hi"), text_delta(' "usage" there'), BLOCK_STOP]
    stream += [message_delta(output_tokens=42), STOP]
    meter = StreamUsage("anthropic", hide_usage_chunk=True)  # no separate usage item to hide in this dialect
    assert feed(meter, stream[:1]) == stream[:1]
    assert meter.usage == Usage(input_tokens=2512, output_tokens=1, cached_input_tokens=2000, cache_write_tokens=500)
    assert feed(meter, stream[1:]) == stream[1:]
    assert meter.usage == Usage(input_tokens=2512, output_tokens=42, cached_input_tokens=2000, cache_write_tokens=500)
    assert meter.events == 2


def test_anthropic_delta_repeating_input_fields_wins() -> None:
    # Newer API versions repeat cumulative input counts in message_delta (e.g. after server tools ran).
    stream = [message_start(input_tokens=10, output_tokens=1), text_delta("x")]
    stream += [message_delta(output_tokens=30, input_tokens=250, cache_read_input_tokens=100)]
    meter = StreamUsage("anthropic")
    feed(meter, stream)
    assert meter.usage == Usage(input_tokens=350, output_tokens=30, cached_input_tokens=100)


def test_anthropic_thinking_tokens() -> None:
    details = at.OutputTokensDetails(thinking_tokens=20)
    stream = [
        message_start(input_tokens=5, output_tokens=1),
        message_delta(output_tokens=50, output_tokens_details=details),
    ]
    meter = StreamUsage("anthropic")
    feed(meter, stream)
    assert meter.usage == Usage(input_tokens=5, output_tokens=50, reasoning_tokens=20)


def test_anthropic_truncated_stream_keeps_start_usage() -> None:
    meter = StreamUsage("anthropic")
    feed(meter, [message_start(input_tokens=900, output_tokens=1), BLOCK_START, text_delta("a"), text_delta("b")])
    assert meter.usage == Usage(input_tokens=900, output_tokens=1)
    assert meter.events == 2


def test_anthropic_crlf_and_multiline_data() -> None:
    payload = orjson.dumps({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9}})
    split = payload.replace(b'"usage":', b'"usage":\r\ndata: ')
    item = b"event: message_delta\r\ndata: " + split + b"\r\n\r\n"
    meter = StreamUsage("anthropic")
    assert meter.feed(item) is item
    assert meter.usage == Usage(output_tokens=9)


@pytest.mark.parametrize(
    "item",
    [
        b"",
        b"event: message_start\n\n",
        b'event: message_start\ndata: {"type": "message_start", "usage"\n\n',
        b'event: message_delta\ndata: {"type": "message_delta", "usage": null}\n\n',
        b'event: message_delta\ndata: {"type": "message_delta", "usage": {"output_tokens": "many"}}\n\n',
        b'event: message_start\ndata: {"type": "message_start", "message": "usage"}\n\n',
        b'data: ["usage"]\n\n',
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "usage"}}\n\n',
        b"\xff\xfe",
    ],
)
def test_anthropic_malformed_items_pass_through(item: bytes) -> None:
    meter = StreamUsage("anthropic")
    assert meter.feed(item) is item
    assert meter.usage is None


# --- openai-responses: framed SSE events -----------------------------------------------------------------------


def responses_usage() -> ResponseUsage:
    return ResponseUsage(
        input_tokens=300,
        input_tokens_details=InputTokensDetails(cached_tokens=128, cache_write_tokens=0),
        output_tokens=80,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=32),
        total_tokens=380,
    )


def response(status: str, usage: ResponseUsage | None) -> Response:
    return Response(
        id="resp_1",
        object="response",
        created_at=1.0,
        model="gpt-4.1",
        status=status,  # type: ignore[arg-type]
        output=[],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        usage=usage,
    )


def sse(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def responses_stream(final: str = "response.completed") -> list[bytes]:
    created = sse(
        "response.created",
        {
            "type": "response.created",
            "response": response("in_progress", None).model_dump(mode="json"),
            "sequence_number": 0,
        },
    )
    deltas = [
        frame(
            ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id="msg_1",
                output_index=0,
                content_index=0,
                delta=text,
                logprobs=[],
                sequence_number=i + 1,
            )
        )
        for i, text in enumerate(["Hel", "lo"])
    ]
    status = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
    done = ResponseCompletedEvent(
        type="response.completed", response=response("completed", responses_usage()), sequence_number=3
    ).model_dump(mode="json")
    done["type"] = final
    done["response"]["status"] = status[final]
    return [created, *deltas, sse(final, done)]


@pytest.mark.parametrize("final", ["response.completed", "response.incomplete", "response.failed"])
def test_responses_usage_from_the_final_event(final: str) -> None:
    stream = responses_stream(final)
    assert b'"usage":null' in stream[0]
    meter = StreamUsage(RESPONSES_DIALECT, hide_usage_chunk=True)
    assert feed(meter, stream[:-1]) == stream[:-1]
    assert meter.usage is None
    assert feed(meter, stream[-1:]) == stream[-1:]  # the final event is never dropped: it ends the stream
    assert meter.usage == Usage(input_tokens=300, output_tokens=80, cached_input_tokens=128, reasoning_tokens=32)
    assert meter.events == 2


def test_responses_events_counted_without_event_lines() -> None:
    item = b'data: {"type":"response.output_text.delta","delta":"x"}\n\n'
    meter = StreamUsage(RESPONSES_DIALECT)
    meter.feed(item)
    assert meter.events == 1


@pytest.mark.parametrize(
    "item",
    [
        b"",
        b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":null}}\n\n',
        b'event: response.completed\ndata: {"type":"response.completed","response":"usage"}\n\n',
        b'event: response.completed\ndata: {"type":"response.completed","usage":{"input_tokens":\n\n',
        b'event: response.in_progress\ndata: {"type":"response.in_progress",'
        b'"response":{"usage":{"input_tokens":1}}}\n\n',
        b"event: response.completed\ndata: [DONE]\n\n",
    ],
)
def test_responses_malformed_items_pass_through(item: bytes) -> None:
    meter = StreamUsage(RESPONSES_DIALECT)
    assert meter.feed(item) is item
    assert meter.usage is None


def test_unknown_dialect_passes_through_unmetered() -> None:
    meter = StreamUsage("gemini", hide_usage_chunk=True)
    usage_only = chunk(usage=USAGE, choices=False)
    assert meter.feed(usage_only) is usage_only
    assert (meter.usage, meter.events) == (None, 0)
