"""Responses API passthrough through the real ``OpenAIStyleClient`` and transport against ``FakeOpenAI``: the body
forwarded as the client sent it (only ``model`` changed), answered in the Responses dialect, streams relayed frame by
frame and only finished by a finish event; OpenAI-compatible servers and translating providers get the chat form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from wardgate.config.schema import Timeouts
from wardgate.core import errors
from wardgate.core.types import RESPONSES_DIALECT, Endpoint, NativeBody, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.auth import api_key_header, bearer
from wardgate.providers.azure.adapter import AzureAdapter
from wardgate.providers.base import Adapter, DeploymentTarget
from wardgate.providers.openai.adapter import OpenAIAdapter
from wardgate.providers.openai.client import OpenAIStyleClient
from wardgate.providers.openai.errors import map_openai_error
from wardgate.providers.openai.responses import ResponsesEventRelay
from wardgate.providers.signing import StaticSigner
from wardgate.providers.translating_client import TranslatingClient
from wardgate.providers.transport import Transport
from wardgate.testing import Behavior, FakeOpenAI, ToolCall
from wardgate.testing.fake_anthropic import FakeAnthropic

KEY = "sk-upstream-key-0123456789"
EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
CANONICAL = {"model": "alias", "messages": [{"role": "user", "content": "Hello there"}]}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=KEY, azure_deployments=["prod-4o"]) as server:
        yield server


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport()
    yield t
    await t.close()


def openai_client(fake: FakeOpenAI, transport: Transport, type: str = "openai") -> OpenAIStyleClient:
    return client(fake.base_url, OpenAIAdapter(), type, bearer(KEY), transport)


def azure_client(fake: FakeOpenAI, transport: Transport, api_version: str) -> OpenAIStyleClient:
    return client(fake.url, AzureAdapter(api_version), "azure_openai", api_key_header(KEY), transport)


def client(base_url: str, adapter: Adapter, type: str, credential: Any, transport: Transport) -> OpenAIStyleClient:
    return OpenAIStyleClient(
        name="up",
        type=type,
        adapter=adapter,
        base_url=base_url,
        credential=credential,
        transport=transport,
        timeouts=Timeouts(first_byte=5, idle=5),
    )


def responses_request(body: dict[str, Any], raw: bytes | None = None) -> ProxyRequest:
    raw = raw if raw is not None else orjson.dumps(body)
    native = NativeBody(RESPONSES_DIALECT, body, raw)
    stream = body.get("stream") is True
    return ProxyRequest(Endpoint.CHAT, raw, body=dict(CANONICAL), model=body["model"], stream=stream, native=native)


def ctx() -> RequestContext:
    return RequestContext(request_id="r", snapshot=None, headers={}, client=None, started=0.0)


async def frames_of(response: ProxyResponse) -> list[bytes]:
    assert response.stream is not None and response.dialect == RESPONSES_DIALECT
    return [frame async for frame in response.stream]


def payload(frame: bytes) -> dict[str, Any]:
    """One relayed item: a complete ``event:``/``data:`` frame whose event names the payload's type."""
    assert frame.endswith(b"\n\n")
    event_line, data_line = frame[:-2].split(b"\n")
    parsed: dict[str, Any] = orjson.loads(data_line.removeprefix(b"data: "))
    assert event_line == b"event: " + parsed["type"].encode()
    return parsed


# ---------------------------------------------------------------------------------------------- openai


async def test_unchanged_model_forwards_the_exact_bytes(fake: FakeOpenAI, transport: Transport) -> None:
    raw = b'{"model":"gpt-4o",   "input": "hi", "store": false, "some_future_field": {"x": 1}}'
    request = responses_request(orjson.loads(raw), raw)
    response = await openai_client(fake, transport).invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert response.dialect == RESPONSES_DIALECT and response.body is not None and response.stream is None
    result = Response.model_validate_json(response.body)
    assert result.output_text.startswith("Hello! This is a reply")
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/v1/responses" and recorded.body == raw
    assert recorded.headers["authorization"] == f"Bearer {KEY}"


async def test_only_the_model_is_replaced(fake: FakeOpenAI, transport: Transport) -> None:
    body = {"model": "alias", "input": [{"role": "user", "content": "hi"}], "reasoning": {"effort": "low"}, "x": [1]}
    response = await openai_client(fake, transport).invoke(ctx(), responses_request(body), DeploymentTarget("gpt-4o"))
    assert response.body is not None and orjson.loads(response.body)["model"] == "gpt-4o"
    recorded = fake.last_request
    assert recorded is not None and recorded.json == {**body, "model": "gpt-4o"}


async def test_stream_is_relayed_as_complete_frames(fake: FakeOpenAI, transport: Transport) -> None:
    fake.script(Behavior(tool_calls=[ToolCall("lookup", {"q": "x"})], content="Let me check", chunks=3))
    request = responses_request({"model": "gpt-4o", "input": "hi", "stream": True})
    frames = await frames_of(await openai_client(fake, transport).invoke(ctx(), request, DeploymentTarget("gpt-4o")))
    events = [payload(frame) for frame in frames]
    for event in events:
        EVENTS.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Let me check"
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert orjson.loads(args) == {"q": "x"}


async def test_a_cut_stream_raises(fake: FakeOpenAI, transport: Transport) -> None:
    fake.script(Behavior(disconnect_after=4))
    request = responses_request({"model": "gpt-4o", "input": "hi", "stream": True})
    response = await openai_client(fake, transport).invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert response.stream is not None
    got: list[bytes] = []
    with pytest.raises(errors.StreamInterruptedError):
        async for frame in response.stream:
            got.append(frame)
    assert [payload(f)["type"] for f in got][:2] == ["response.created", "response.in_progress"]
    assert len(got) <= 4


async def test_an_error_event_raises_the_mapped_error(fake: FakeOpenAI, transport: Transport) -> None:
    fake.script(Behavior(status=429, disconnect_after=3))
    request = responses_request({"model": "gpt-4o", "input": "hi", "stream": True})
    response = await openai_client(fake, transport).invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert response.stream is not None
    got: list[bytes] = []
    with pytest.raises(errors.RateLimitError) as info:
        async for frame in response.stream:
            got.append(frame)
    assert len(got) == 3 and "Rate limit reached" in info.value.message
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_statuses_map_like_chat(fake: FakeOpenAI, transport: Transport, stream: bool) -> None:
    up = openai_client(fake, transport)
    request = responses_request({"model": "gpt-4o", "input": "hi", "stream": stream})
    fake.script(Behavior(status=429, headers={"Retry-After": "7"}))
    with pytest.raises(errors.RateLimitError) as limited:
        await up.invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert limited.value.headers == {"retry-after": "7"}
    body = {"error": {"message": "Unknown parameter: 'foo'.", "type": "invalid_request_error", "param": "foo"}}
    fake.script(Behavior(status=400, error_body=body))
    with pytest.raises(errors.UpstreamRejectedError) as rejected:
        await up.invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert (rejected.value.http_status, rejected.value.param) == (400, "foo")
    assert rejected.value.message == "Unknown parameter: 'foo'."
    fake.script(Behavior(status=401))
    with pytest.raises(errors.UpstreamStatusError) as denied:
        await up.invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert denied.value.code == "upstream_auth_failed" and KEY not in denied.value.message


async def test_a_body_that_is_not_json_is_refused(fake: FakeOpenAI, transport: Transport) -> None:
    fake.script(Behavior(malformed=True))
    with pytest.raises(errors.UpstreamStatusError, match="not valid JSON"):
        await openai_client(fake, transport).invoke(
            ctx(), responses_request({"model": "gpt-4o", "input": "hi"}), DeploymentTarget("gpt-4o")
        )


async def test_plain_chat_requests_are_unchanged(fake: FakeOpenAI, transport: Transport) -> None:
    raw = orjson.dumps(CANONICAL)
    request = ProxyRequest(Endpoint.CHAT, raw, body=dict(CANONICAL), model="alias")
    response = await openai_client(fake, transport).invoke(ctx(), request, DeploymentTarget("gpt-4o"))
    assert response.dialect == "openai" and response.body is not None
    ChatCompletion.model_validate_json(response.body)
    assert fake.last_request is not None and fake.last_request.path == "/v1/chat/completions"


# ----------------------------------------------------------------------------------------------- azure


async def test_azure_v1_path_for_versions_without_the_responses_api(fake: FakeOpenAI, transport: Transport) -> None:
    request = responses_request({"model": "alias", "input": "hi", "stream": True})
    up = azure_client(fake, transport, "2024-10-21")
    frames = await frames_of(await up.invoke(ctx(), request, DeploymentTarget("prod-4o")))
    assert payload(frames[-1])["type"] == "response.completed"
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/openai/v1/responses" and recorded.query == {}
    assert recorded.headers["api-key"] == KEY and recorded.json["model"] == "prod-4o"


async def test_azure_dated_path_for_preview_versions(fake: FakeOpenAI, transport: Transport) -> None:
    request = responses_request({"model": "alias", "input": "hi"})
    up = azure_client(fake, transport, "2025-04-01-preview")
    response = await up.invoke(ctx(), request, DeploymentTarget("prod-4o"))
    assert response.body is not None and Response.model_validate_json(response.body).model == "prod-4o"
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/openai/responses"
    assert recorded.query == {"api-version": "2025-04-01-preview"} and recorded.json["model"] == "prod-4o"
    with pytest.raises(errors.UpstreamRejectedError) as missing:
        await up.invoke(ctx(), request, DeploymentTarget("no-such-deployment"))
    assert missing.value.http_status == 404


@pytest.mark.parametrize(
    ("version", "path"),
    [
        ("2024-10-21", "/openai/v1/responses"),
        ("2025-02-01-preview", "/openai/v1/responses"),
        ("2025-03-01-preview", "/openai/responses"),
        ("2025-04-01-preview", "/openai/responses"),
    ],
)
def test_azure_responses_path_follows_the_api_version(version: str, path: str) -> None:
    call = AzureAdapter(version).responses_call(b"{}", False)
    assert call.path == path
    assert call.query == ({"api-version": version} if path == "/openai/responses" else {})


# --------------------------------------------------------------------------------------- translated forms


async def test_openai_compatible_servers_get_the_chat_translation(fake: FakeOpenAI, transport: Transport) -> None:
    request = responses_request({"model": "alias", "input": "Hello there"})
    up = openai_client(fake, transport, type="openai_compatible")
    response = await up.invoke(ctx(), request, DeploymentTarget("llama"))
    assert response.dialect == "openai" and response.body is not None
    ChatCompletion.model_validate_json(response.body)
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/v1/chat/completions"
    assert recorded.json == {**CANONICAL, "model": "llama"}


async def test_translating_providers_get_the_chat_translation(transport: Transport) -> None:
    async with FakeAnthropic(api_key=KEY) as anthropic:
        up = TranslatingClient(
            name="claude",
            type="anthropic",
            adapter=AnthropicAdapter(),
            base_url=anthropic.url,
            signer=StaticSigner(api_key_header(KEY, "x-api-key")),
            transport=transport,
            timeouts=Timeouts(first_byte=5, idle=5),
        )
        request = responses_request({"model": "alias", "input": "Hello there", "store": False})
        response = await up.invoke(ctx(), request, DeploymentTarget("claude-sonnet-4-6"))
        assert response.dialect == "openai" and response.body is not None
        ChatCompletion.model_validate_json(response.body)
        recorded = anthropic.last_request
        assert recorded is not None and recorded.path == "/v1/messages"
        assert recorded.json["model"] == "claude-sonnet-4-6"
        assert recorded.json["messages"] == [{"role": "user", "content": "Hello there"}]
        assert "input" not in recorded.json


# --------------------------------------------------------------------------------------------- the relay


def frame(kind: str, **fields: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def test_relay_frames_split_reads_and_knows_the_finish() -> None:
    relay = ResponsesEventRelay("up", map_openai_error)
    data = frame("response.created", sequence_number=0) + frame("response.completed", sequence_number=1)
    out = relay.feed(data[:7]) + relay.feed(data[7:50]) + relay.feed(data[50:])
    assert out == [frame("response.created", sequence_number=0), frame("response.completed", sequence_number=1)]
    assert relay.feed(frame("response.output_text.delta", delta="late")) == []
    assert relay.finish() == []


@pytest.mark.parametrize("finish", ["response.incomplete", "response.failed"])
def test_relay_other_finish_events(finish: str) -> None:
    relay = ResponsesEventRelay("up", map_openai_error)
    assert len(relay.feed(frame(finish, sequence_number=0))) == 1
    assert relay.finish() == []


def test_relay_takes_the_type_from_the_payload_and_reframes_multiline_data() -> None:
    relay = ResponsesEventRelay("up", map_openai_error)
    out = relay.feed(b'data: {"type": "response.created",\ndata:  "sequence_number": 0}\n\n')
    assert out == [b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n']
    with pytest.raises(errors.StreamInterruptedError, match="before it finished"):
        relay.finish()


def test_relay_failures() -> None:
    relay = ResponsesEventRelay("up", map_openai_error)
    with pytest.raises(errors.StreamInterruptedError, match="invalid stream event"):
        relay.feed(b"event: response.created\ndata: {not json\n\n")
    relay = ResponsesEventRelay("up", map_openai_error)
    with pytest.raises(errors.StreamInterruptedError, match="without a type"):
        relay.feed(b"data: {}\n\n")
    relay = ResponsesEventRelay("up", map_openai_error)
    nested = {"error": {"type": "invalid_request_error", "code": "context_length_exceeded", "message": "too long"}}
    good = frame("response.created", sequence_number=0)
    assert relay.feed(good + frame("error", sequence_number=1, **nested)) == [good]
    with pytest.raises(errors.UpstreamRejectedError, match="too long") as info:
        relay.feed(b"")
    assert info.value.code == "context_length_exceeded"
    relay = ResponsesEventRelay("up", map_openai_error)
    with pytest.raises(errors.UpstreamUnavailableError, match="busy"):
        relay.feed(frame("error", sequence_number=0, code="server_is_overloaded", message="busy", param=None))
    relay = ResponsesEventRelay("up", map_openai_error)
    with pytest.raises(errors.UpstreamStatusError, match="boom"):
        relay.feed(frame("error", sequence_number=0, code=None, message="boom", param=None))
