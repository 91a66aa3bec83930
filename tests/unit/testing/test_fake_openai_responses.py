"""FakeOpenAI's Responses API (``/v1/responses`` and both Azure routes): the wire checked against the openai SDK's
types (``Response``, ``ResponseStreamEvent``) and driven by the real SDK client, sync and async, with the scripted
behaviours applied."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai.types.responses import FunctionToolParam, Response, ResponseStreamEvent
from pydantic import TypeAdapter

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread, ToolCall

KEY = "sk-test-key-0123456789"
EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
    "strict": True,
}
DEFAULT_TEXT = "Hello! This is a reply from the fake OpenAI server. Hello! This is a reply from the fake OpenAI server."


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    served = {"gpt-4o": "gpt-4o-2024-08-06"}
    async with FakeOpenAI(api_key=KEY, served_model=served, azure_deployments={"prod-4o": "gpt-4o"}) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)


async def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    hdrs = headers if headers is not None else {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=hdrs) as resp:
        return resp.status, await resp.read()


def events(raw: bytes) -> list[dict[str, Any]]:
    """Every SSE frame as its payload, checking each ``event:`` line names the payload's type."""
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    out: list[dict[str, Any]] = []
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        payload = orjson.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        out.append(payload)
    return out


# ----------------------------------------------------------------------------------------------- bodies


async def test_text_response_matches_the_sdk_type(fake: FakeOpenAI) -> None:
    body = {"model": "gpt-4o", "input": "Hello there", "instructions": "Be brief", "metadata": {"k": "v"}}
    status, raw = await post(fake.base_url + "/responses", body)
    assert status == 200
    result = orjson.loads(raw)
    response = Response.model_validate(result)
    assert response.id.startswith("resp_") and response.status == "completed" and response.model == "gpt-4o-2024-08-06"
    assert response.output_text == DEFAULT_TEXT and response.instructions == "Be brief"
    assert result["output"][0]["type"] == "message" and result["output"][0]["id"].startswith("msg_")
    assert response.metadata == {"k": "v"}
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (5, 20, 25)
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/v1/responses" and recorded.json == body


async def test_scripted_tool_calls_become_function_call_items(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Paris", "days": 2}, id="call_abc")]))
    response = await client.responses.create(model="gpt-4o", input="Weather?", tools=[WEATHER])
    assert response.output_text == ""
    [call] = response.output
    assert call.type == "function_call" and call.call_id == "call_abc" and call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris", "days": 2}
    assert call.id is not None and call.id.startswith("fc_") and call.status == "completed"
    assert response.tools[0].type == "function" and response.tools[0].name == "get_weather"


async def test_tool_choice_and_max_output_tokens(client: openai.AsyncOpenAI) -> None:
    forced = await client.responses.create(
        model="gpt-4o", input="Weather?", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}
    )
    [call] = forced.output
    assert call.type == "function_call" and orjson.loads(call.arguments) == {"city": "example", "days": 1}
    cut = await client.responses.create(model="gpt-4o", input="hi", max_output_tokens=3)
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output_text == "Hello! This is" and cut.max_output_tokens == 3


async def test_json_schema_text_format(client: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    fmt: Any = {"type": "json_schema", "name": "count", "schema": schema, "strict": True}
    response = await client.responses.create(model="gpt-4o", input="count", text={"format": fmt})
    assert orjson.loads(response.output_text) == {"n": 1}
    assert response.text is not None and response.text.format is not None and response.text.format.type == "json_schema"


async def test_content_and_usage_overrides(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(
        Behavior(content="Bonjour", usage={"input_tokens": 40, "output_tokens_details": {"reasoning_tokens": 9}})
    )
    response = await client.responses.create(model="gpt-4o", input="hi")
    assert response.output_text == "Bonjour" and response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (40, 1, 41)
    assert response.usage.output_tokens_details.reasoning_tokens == 9
    fake.script(Behavior(usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 99}))
    response = await client.responses.create(model="gpt-4o", input="hi")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (7, 3, 99)


# ---------------------------------------------------------------------------------------------- streams


async def test_stream_event_sequence_matches_the_sdk_types(fake: FakeOpenAI) -> None:
    fake.script(Behavior(content="one two three", chunks=3))
    status, raw = await post(fake.base_url + "/responses", {"model": "gpt-4o", "input": "hi", "stream": True})
    assert status == 200 and b"[DONE]" not in raw
    payloads = events(raw)
    for payload in payloads:
        EVENTS.validate_python(payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert payloads[0]["response"]["status"] == "in_progress" and payloads[0]["response"]["output"] == []
    assert "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta") == "one two three"
    assert all("obfuscation" in p for p in payloads if p["type"] == "response.output_text.delta")
    final = Response.model_validate(payloads[-1]["response"])
    assert final.output_text == "one two three" and final.usage is not None and final.usage.output_tokens == 3
    assert payloads[2]["item"]["id"] == payloads[4]["item_id"] == final.output[0].id


async def test_stream_tool_calls_and_sdk_accumulation(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(tool_calls=[ToolCall("get_weather", {"city": "Oslo", "days": 3})], chunks=4))
    stream = await client.responses.create(model="gpt-4o", input="Weather?", tools=[WEATHER], stream=True)
    seen = [event async for event in stream]
    kinds = [event.type for event in seen]
    assert kinds.count("response.function_call_arguments.delta") == 4
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    deltas = "".join(e.delta for e in seen if e.type == "response.function_call_arguments.delta")
    assert orjson.loads(deltas) == {"city": "Oslo", "days": 3}
    async with client.responses.stream(model="gpt-4o", input="Weather?", tools=[WEATHER], tool_choice="required") as s:
        final = await s.get_final_response()
    [call] = final.output
    assert call.type == "function_call" and orjson.loads(call.arguments) == {"city": "example", "days": 1}


async def test_stream_without_obfuscation_and_incomplete_finish(fake: FakeOpenAI) -> None:
    body = {"model": "gpt-4o", "input": "hi", "stream": True, "max_output_tokens": 2}
    _, raw = await post(fake.base_url + "/responses", {**body, "stream_options": {"include_obfuscation": False}})
    payloads = events(raw)
    assert not any("obfuscation" in p for p in payloads)
    assert payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


# ------------------------------------------------------------------------------------------- behaviours


async def test_error_status_and_auth(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(status=429, headers={"Retry-After": "3"}))
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o", input="hi")
    assert info.value.response.headers["retry-after"] == "3"
    fake.script(Behavior(status=400, error_body={"error": {"message": "bad input", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError, match="bad input"):
        await client.responses.create(model="gpt-4o", input="hi")
    wrong = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-wrong-key-000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await wrong.responses.create(model="gpt-4o", input="hi")
    status, raw = await post(fake.base_url + "/responses", {"input": "hi"})
    assert status == 400 and b"'model'" in raw


async def test_disconnects_malformed_and_latency(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(disconnect_after=0))
    with pytest.raises(openai.APIConnectionError):
        await client.responses.create(model="gpt-4o", input="hi")
    fake.script(Behavior(disconnect_after=3, chunk_interval=0.01))
    stream = await client.responses.create(model="gpt-4o", input="hi", stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for event in stream:
            got.append(event.type)
    assert got == ["response.created", "response.in_progress", "response.output_item.added"]
    fake.script(Behavior(malformed=True))
    with pytest.raises(ValueError, match="Expecting"):
        await client.responses.create(model="gpt-4o", input="hi")
    fake.script(Behavior(malformed=True))
    _, raw = await post(fake.base_url + "/responses", {"model": "gpt-4o", "input": "hi", "stream": True})
    with pytest.raises(orjson.JSONDecodeError):
        events(raw)
    fake.script(Behavior(latency=0.15))
    started = time.monotonic()
    await client.responses.create(model="gpt-4o", input="hi")
    assert time.monotonic() - started >= 0.15


async def test_error_event_inside_a_stream(fake: FakeOpenAI) -> None:
    fake.script(Behavior(status=429, disconnect_after=2))
    _, raw = await post(fake.base_url + "/responses", {"model": "gpt-4o", "input": "hi", "stream": True})
    payloads = events(raw)
    assert [p["type"] for p in payloads] == ["response.created", "response.in_progress", "error"]
    error = EVENTS.validate_python(payloads[-1])
    assert error.type == "error" and error.code == "rate_limit_exceeded" and error.sequence_number == 2
    assert fake.completed_streams == 1
    fake.script(Behavior(status=500, disconnect_after=0))
    body = {"model": "prod-4o", "input": "hi", "stream": True}
    _, raw = await post(fake.url + "/openai/v1/responses", body, {"api-key": KEY})
    [only] = events(raw)
    assert (only["code"], only["sequence_number"]) == ("server_error", 0)  # not Azure's "InternalServerError"


# ------------------------------------------------------------------------------------------------ azure


async def test_azure_dated_and_v1_routes(fake: FakeOpenAI) -> None:
    dated = openai.AsyncAzureOpenAI(
        azure_endpoint=fake.url, api_key=KEY, api_version="2025-04-01-preview", max_retries=0
    )
    response = await dated.responses.create(model="prod-4o", input="hi")
    assert response.model == "gpt-4o" and response.output_text == DEFAULT_TEXT
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/openai/responses"
    assert recorded.query == {"api-version": "2025-04-01-preview"} and recorded.headers["api-key"] == KEY
    v1 = openai.AsyncOpenAI(base_url=fake.url + "/openai/v1/", api_key=KEY, max_retries=0)
    stream = await v1.responses.create(model="prod-4o", input="hi", stream=True)
    assert [e.type async for e in stream][-1] == "response.completed"
    assert fake.last_request is not None and fake.last_request.path == "/openai/v1/responses"
    status, raw = await post(fake.url + "/openai/v1/responses", {"model": "prod-4o", "input": "x"}, {"api-key": KEY})
    assert status == 200 and Response.model_validate_json(raw).model == "gpt-4o"


async def test_azure_rejections(fake: FakeOpenAI) -> None:
    key = {"api-key": KEY}
    status, raw = await post(fake.url + "/openai/responses", {"model": "prod-4o", "input": "x"}, key)
    assert status == 400 and b"api-version" in raw
    status, raw = await post(fake.url + "/openai/v1/responses", {"model": "other", "input": "x"}, key)
    assert status == 404 and b"DeploymentNotFound" in raw
    status, _ = await post(fake.url + "/openai/v1/responses", {"model": "prod-4o", "input": "x"}, {"api-key": "no"})
    assert status == 401
    fake.script(Behavior(status=503, match_provider="azure"))
    status, raw = await post(fake.url + "/openai/v1/responses", {"model": "prod-4o", "input": "x"}, key)
    assert status == 503 and orjson.loads(raw)["error"]["code"] == "InternalServerError"


# ------------------------------------------------------------------------------------------------- sync


@pytest.fixture(scope="module")
def threaded() -> Iterator[FakeServerThread]:
    with FakeServerThread(FakeOpenAI(api_key=KEY)) as runner:
        yield runner


def test_sync_sdk_client(threaded: FakeServerThread) -> None:
    threaded.fake.reset()
    with openai.OpenAI(base_url=threaded.base_url, api_key=KEY, max_retries=0) as client:
        response = client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "hi"}])
        assert response.output_text == DEFAULT_TEXT
        with client.responses.stream(
            model="gpt-4o-mini", input="Weather?", tools=[WEATHER], tool_choice="required"
        ) as s:
            texts = [e.type for e in s]
            final = s.get_final_response()
        assert texts[-1] == "response.completed" and final.output[0].type == "function_call"
        threaded.fake.script(Behavior(status=500))
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model="gpt-4o-mini", input="hi")
    assert threaded.fake.request_count == 3
