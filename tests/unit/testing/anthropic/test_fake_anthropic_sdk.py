"""FakeAnthropic checked through the official ``anthropic`` SDK (async in-loop, sync via its thread runner), with
raw responses validated against the SDK's own types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from anthropic.types import Message, MessageParam, RawMessageStreamEvent, ToolChoiceParam, ToolParam
from pydantic import TypeAdapter

from wardgate.testing import Behavior, FakeServerThread, ToolCall
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_anthropic.reply import DEFAULT_SENTENCE

KEY = "sk-ant-test-0123456789"
MODEL = "claude-sonnet-4-6"
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit", "days"],
    },
}
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=KEY, served_model={MODEL: "claude-sonnet-4-6-20260101"}) as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def threaded() -> Iterator[FakeServerThread]:
    with FakeAnthropic(api_key=KEY).run_in_thread() as runner:
        yield runner


@pytest.fixture
def sync_client(threaded: FakeServerThread) -> anthropic.Anthropic:
    threaded.fake.reset()
    return anthropic.Anthropic(base_url=threaded.base_url, api_key=KEY, max_retries=0)


async def post(fake: FakeAnthropic, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/messages", json=body, headers=headers or HEADERS) as resp,
    ):
        return resp.status, await resp.read()


def user(text: str = "What is the weather in Paris?") -> list[MessageParam]:
    return [{"role": "user", "content": text}]


# ----------------------------------------------------------------------------------------------- async


async def test_text_message_matches_the_sdk_types(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=user())
    assert message.model == "claude-sonnet-4-6-20260101"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text.startswith(DEFAULT_SENTENCE)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 20
    status, raw = await post(fake, {"model": MODEL, "max_tokens": 100, "messages": user()})
    assert status == 200
    Message.model_validate_json(raw, strict=False)
    recorded = fake.last_request
    assert recorded is not None and recorded.headers["x-api-key"] == KEY


async def test_streaming_text_with_ping_and_sdk_accumulation(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(Behavior(content="One two three four five six", chunks=3))
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert pieces == ["One two", " three four", " five six"]
    assert final.content[0].type == "text" and final.content[0].text == "One two three four five six"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 6
    status, raw = await post(fake, {"model": MODEL, "max_tokens": 100, "messages": user(), "stream": True})
    assert status == 200
    frames = [f for f in raw.decode().split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    for text in frames:
        data = json.loads(text.split("\n", 1)[1].removeprefix("data: "))
        if data["type"] != "ping":
            STREAM_EVENT.validate_python(data)


async def test_forced_tools_get_schema_valid_input(client: anthropic.AsyncAnthropic) -> None:
    choices: list[ToolChoiceParam] = [{"type": "any"}, {"type": "tool", "name": "get_weather"}]
    for choice in choices:
        message = await client.messages.create(
            model=MODEL, max_tokens=100, messages=user(), tools=[WEATHER], tool_choice=choice
        )
        assert message.stop_reason == "tool_use"
        block = message.content[0]
        assert block.type == "tool_use" and block.name == "get_weather" and block.id.startswith("toolu_")
        assert isinstance(block.input["city"], str) and block.input["unit"] in ("c", "f")
        assert isinstance(block.input["days"], int) and 1 <= block.input["days"] <= 7
    auto = await client.messages.create(model=MODEL, max_tokens=100, messages=user(), tools=[WEATHER])
    assert auto.stop_reason == "end_turn"


async def test_scripted_parallel_tool_calls_stream(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    fake.script(
        Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", '{"city": "Rome"}')])
    )
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=user(), tools=[WEATHER]) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        ("tool_use", {"city": "Paris"}),
        ("tool_use", {"city": "Rome"}),
    ]


async def test_tool_result_round_trip(client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.create(
        model=MODEL, max_tokens=100, messages=user(), tools=[WEATHER], tool_choice={"type": "any"}
    )
    call = first.content[0]
    assert call.type == "tool_use"
    history: list[MessageParam] = [
        *user(),
        first.to_param(),
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}]},
    ]
    second = await client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=history)
    assert second.stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[*user(), {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}],
        )
    body: Any = info.value.body
    assert body["error"]["type"] == "invalid_request_error"


async def test_images_thinking_and_prompt_caching(client: anthropic.AsyncAnthropic) -> None:
    content: list[Any] = [
        {"type": "text", "text": "Describe this image in detail please." * 20, "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
    ]
    first = await client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}])
    again = await client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}])
    assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
    assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    async with client.messages.stream(
        model=MODEL, max_tokens=2048, messages=user(), thinking={"type": "enabled", "budget_tokens": 1024}
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature
    assert final.content[1].type == "text"


@pytest.mark.parametrize(
    ("status", "exc", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (402, anthropic.PaymentRequiredError, "billing_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
async def test_each_error_class(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic, status: int, exc: type[Exception], kind: str
) -> None:
    fake.script(Behavior(status=status, headers={"retry-after": "2"}))
    with pytest.raises(exc) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=user())
    error: Any = info.value
    assert error.body["type"] == "error" and error.body["error"]["type"] == kind
    assert error.response.headers["retry-after"] == "2"


async def test_errors_inside_and_cuts_of_a_stream(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    fake.script(Behavior(status=529, disconnect_after=3))
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(model=MODEL, max_tokens=10, messages=user()) as stream:
            await stream.get_final_message()
    assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.script(Behavior(disconnect_after=4))
    # the SDK surfaces a body cut mid-stream as its HTTP library's protocol error
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        async with client.messages.stream(model=MODEL, max_tokens=10, messages=user()) as stream:
            await stream.get_final_message()


async def test_auth_and_version_are_checked(fake: FakeAnthropic) -> None:
    wrong = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="sk-ant-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await wrong.messages.create(model=MODEL, max_tokens=10, messages=user())
    body = {"model": MODEL, "max_tokens": 10, "messages": user()}
    status, raw = await post(fake, body, {"x-api-key": KEY})
    assert status == 400 and b"anthropic-version" in raw
    status, raw = await post(fake, body, {"anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(raw)["error"]["message"] == "x-api-key header is required"


async def test_count_tokens_models_and_overrides(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model=MODEL, messages=user("x" * 400))
    assert counted.input_tokens == 100
    models = await client.models.list()
    assert [m.id for m in models.data][:1] == ["claude-sonnet-4-6"]
    fake.script(Behavior(usage={"output_tokens": 99}, finish_reason="length", served_model="claude-other"))
    message = await client.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert (message.usage.output_tokens, message.stop_reason, message.model) == (99, "max_tokens", "claude-other")


async def test_max_tokens_and_stop_sequences_cut_the_text(client: anthropic.AsyncAnthropic) -> None:
    short = await client.messages.create(model=MODEL, max_tokens=3, messages=user())
    assert short.stop_reason == "max_tokens" and short.content[0].type == "text"
    assert short.content[0].text == "Hello! This is"
    stopped = await client.messages.create(model=MODEL, max_tokens=100, messages=user(), stop_sequences=["reply"])
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "reply")


# ------------------------------------------------------------------------------------------------ sync


def test_sync_client_text_stream_and_tools(sync_client: anthropic.Anthropic) -> None:
    message = sync_client.messages.create(model=MODEL, max_tokens=50, messages=user())
    assert message.content[0].type == "text"
    with sync_client.messages.stream(
        model=MODEL, max_tokens=50, messages=user(), tools=[WEATHER], tool_choice={"type": "any"}
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input["unit"] in ("c", "f")


def test_sync_client_sees_scripts_from_another_thread(
    threaded: FakeServerThread, sync_client: anthropic.Anthropic
) -> None:
    threaded.fake.script(
        Behavior(status=429, error_body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    )
    with pytest.raises(anthropic.RateLimitError):
        sync_client.messages.create(model=MODEL, max_tokens=50, messages=user())
    assert threaded.fake.request_count == 1
