"""The conformance battery: identical openai-SDK client code against every provider behind the gateway."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import openai
import pytest
from matrix import Cell
from setups import PNG_BYTES, Setup

from wardgate.testing import Behavior, ToolCall

HI = [{"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def received(fake: Any) -> str:
    assert fake.last_request is not None, "the fake received nothing"
    return fake.last_request.body.decode()


@pytest.mark.feature("text")
def test_text(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(model=setup.name, messages=HI)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.feature("system + developer messages, multi-turn")
def test_system_and_history(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    messages = [
        {"role": "system", "content": "You are terse. SYSMARK"},
        {"role": "developer", "content": "Answer in English. DEVMARK"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    reply = client.chat.completions.create(model=setup.name, messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    sent = received(fake)
    for marker in ("SYSMARK", "DEVMARK", "first answer", "second question"):
        assert marker in sent


@pytest.mark.feature("usage (non-streaming)")
def test_usage(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    usage = client.chat.completions.create(model=setup.name, messages=HI).usage  # type: ignore[arg-type]
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.feature("streaming with usage")
def test_stream_with_usage(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    stream = client.chat.completions.create(
        model=setup.name,
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text and finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.feature("tool_choice auto")
def test_tool_choice_auto(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="auto",
    )
    message = reply.choices[0].message
    assert message.content or message.tool_calls
    for call in message.tool_calls or []:
        assert isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]


@pytest.mark.feature("tool_choice none")
def test_tool_choice_none(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="none",
    )
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


@pytest.mark.feature("tool_choice required")
def test_tool_choice_required(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]


@pytest.mark.feature("tool_choice named function")
def test_tool_choice_named(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "What time is it?"}],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = reply.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_time"  # type: ignore[union-attr]
    assert isinstance(json.loads(calls[0].function.arguments)["zone"], str)  # type: ignore[union-attr]


@pytest.mark.feature("streamed tool calls")
def test_streamed_tool_call(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    with client.chat.completions.stream(
        model=setup.name,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
    ) as events:
        final = events.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "tool_calls" and calls
    assert isinstance(json.loads(calls[0].function.arguments)["city"], str)


@pytest.mark.feature("parallel tool calls")
def test_parallel_tool_calls(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    fake.script(
        Behavior(
            tool_calls=[
                ToolCall(name="get_weather", arguments={"city": "Paris"}),
                ToolCall(name="get_time", arguments={"zone": "CET"}),
            ]
        )
    )
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Weather and time in Paris?"}],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert len({c.id for c in calls}) == 2
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


@pytest.mark.feature("tool results round trip")
def test_tool_result_round_trip(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    messages = [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call_t1", "type": "function", "function": {"name": "get_time", "arguments": '{"zone":"CET"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"temp_c": 21, "sky": "SUNNYMARK"}'},
        {"role": "tool", "tool_call_id": "call_t1", "content": "TIMEMARK 14:05"},
    ]
    reply = client.chat.completions.create(model=setup.name, messages=messages, tools=[WEATHER, TIME])  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    sent = received(fake)
    assert "SUNNYMARK" in sent and "TIMEMARK" in sent


def _person(content: str | None) -> dict[str, Any]:
    assert content
    data = json.loads(content)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    return data


@pytest.mark.feature("response_format json_object")
def test_json_object(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Give me a JSON object about Paris"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


@pytest.mark.feature("response_format json_schema")
def test_json_schema(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    reply = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=fmt,  # type: ignore[arg-type]
    )
    _person(reply.choices[0].message.content)
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.feature("json_schema streamed")
def test_json_schema_streamed(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    stream = client.chat.completions.create(
        model=setup.name,
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=fmt,  # type: ignore[arg-type]
        stream=True,
    )
    _person("".join(c.choices[0].delta.content or "" for c in stream if c.choices))


@pytest.mark.feature("image (base64)")
def test_image_base64(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]
    reply = client.chat.completions.create(model=setup.name, messages=[{"role": "user", "content": content}])  # type: ignore[misc, list-item]
    assert reply.choices[0].message.content
    assert PNG_1PX[:40] in received(fake)


@pytest.mark.feature("image (URL; fetched safely where the provider needs bytes)")
def test_image_url(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell, image_url: str) -> None:
    content = [
        {"type": "text", "text": "Describe this image"},
        {"type": "image_url", "image_url": {"url": image_url}},
    ]
    reply = client.chat.completions.create(model=setup.name, messages=[{"role": "user", "content": content}])  # type: ignore[misc, list-item]
    assert reply.choices[0].message.content
    sent = received(fake)
    assert image_url in sent or base64.b64encode(PNG_BYTES).decode() in sent


@pytest.mark.feature("stop, temperature, top_p, max_tokens")
def test_sampling_parameters(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    reply = client.chat.completions.create(
        model=setup.name,
        messages=HI,
        stop=["STOPMARK"],
        temperature=0.3,
        top_p=0.9,
        max_tokens=77,  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content
    sent = received(fake)
    assert "STOPMARK" in sent and "0.3" in sent and "0.9" in sent and "77" in sent


def _refusable(client: openai.OpenAI, setup: Setup, cell: Cell, param: str, **kwargs: Any) -> None:
    if param in setup.unsupported:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=setup.name, messages=HI, **kwargs)  # type: ignore[arg-type]
        assert info.value.param == param and info.value.code == "unsupported_parameter"
        cell.refused(param)
        raw = client.chat.completions.with_raw_response.create(model=setup.name + "-warn", messages=HI, **kwargs)  # type: ignore[arg-type]
        assert param in raw.headers["x-wardgate-dropped-params"].split(",")
        assert raw.parse().choices[0].message.content
    else:
        assert client.chat.completions.create(model=setup.name, messages=HI, **kwargs).choices  # type: ignore[arg-type]


@pytest.mark.feature("seed")
def test_seed(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    _refusable(client, setup, cell, "seed", seed=42)


@pytest.mark.feature("user")
def test_user(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    if "user" in setup.gateway_only:
        assert client.chat.completions.create(model=setup.name, messages=HI, user="user-1234").choices
        assert "user-1234" not in received(fake)
        cell.gateway_only()
        return
    _refusable(client, setup, cell, "user", user="user-1234")


@pytest.mark.feature("logit_bias")
def test_logit_bias(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    _refusable(client, setup, cell, "logit_bias", logit_bias={"1234": -100})


@pytest.mark.feature("reasoning_effort")
def test_reasoning_effort(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    _refusable(client, setup, cell, "reasoning_effort", reasoning_effort="low")


ERROR_CASES = [
    ("400 invalid request", 400, openai.BadRequestError, 400),
    ("429 rate limit", 429, openai.RateLimitError, 429),
    ("500 provider error", 500, openai.InternalServerError, 502),
    ("401 gateway credential rejected", 401, openai.InternalServerError, 502),
]


@pytest.mark.parametrize(("label", "status", "exception", "expected"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors(
    client: openai.OpenAI,
    setup: Setup,
    fake: Any,
    cell: Cell,
    label: str,
    status: int,
    exception: type[openai.APIStatusError],
    expected: int,
) -> None:
    cell.feature = f"error: {label}"
    fake.script(Behavior(status=status))
    with pytest.raises(exception) as info:
        client.chat.completions.create(model=setup.name, messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == expected
    assert set(info.value.body) >= {"message", "type", "param", "code"}  # type: ignore[arg-type]
    for secret in setup.env.values():
        assert secret[:24] not in info.value.response.text
    if status == 401:
        assert info.value.code == "upstream_auth_failed"


@pytest.mark.feature("truncated stream → error event, no [DONE]")
def test_truncated_stream(client: openai.OpenAI, setup: Setup, fake: Any, cell: Cell) -> None:
    fake.script(Behavior(chunks=8, disconnect_after=4))
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model=setup.name, messages=HI, stream=True):  # type: ignore[arg-type]
            pass
    assert "stream" in str(info.value).lower() or "connection" in str(info.value).lower()


@pytest.mark.feature("embeddings")
def test_embeddings(client: openai.OpenAI, setup: Setup, cell: Cell) -> None:
    if setup.embedding_model is None:
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=setup.name, input="hello")
        cell.value = "400 (no embeddings API)"
        return
    floats = client.embeddings.create(model=setup.name + "-embed", input=["hello", "world"], encoding_format="float")
    assert len(floats.data) == 2 and len(floats.data[0].embedding) > 0
    encoded = client.embeddings.create(model=setup.name + "-embed", input=["hello"])  # the SDK asks for base64
    assert len(encoded.data[0].embedding) == len(floats.data[0].embedding)
    raw = base64.b64encode(struct.pack(f"<{len(floats.data[0].embedding)}f", *floats.data[0].embedding))
    assert raw
