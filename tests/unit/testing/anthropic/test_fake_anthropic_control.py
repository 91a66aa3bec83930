"""FakeAnthropic's scripting plumbing: the HTTP control API, recording, reset, latency, cancelled streams and the
pure wire builders (frames that the ``anthropic`` SDK's event types accept)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from wardgate.testing import Behavior, RemoteFake, ToolCall
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_anthropic.reply import PromptCache, build_reply
from wardgate.testing.fake_anthropic.wire import message_body, stream_frames

HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY = {"model": "claude-test", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


async def post(fake: FakeAnthropic, body: dict[str, Any]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/messages", data=orjson.dumps(body), headers=HEADERS) as resp,
    ):
        return resp.status, await resp.read()


async def test_control_api_scripts_and_reports(fake: FakeAnthropic) -> None:
    remote = RemoteFake(fake.url)
    await asyncio.to_thread(remote.script, Behavior(content="scripted over HTTP"))
    status, raw = await post(fake, BODY)
    assert status == 200 and orjson.loads(raw)["content"][0]["text"] == "scripted over HTTP"
    recorded = await asyncio.to_thread(remote.requests)
    assert [r["path"] for r in recorded] == ["/v1/messages"] and recorded[0]["json"]["model"] == "claude-test"
    stats = await asyncio.to_thread(remote.stats)
    assert stats["requests"] == 1 and stats["pending_scripts"] == 0


async def test_default_behavior_reset_and_latency(fake: FakeAnthropic) -> None:
    fake.set_default(Behavior(content="default now", latency=0.05))
    started = time.monotonic()
    status, raw = await post(fake, BODY)
    assert status == 200 and time.monotonic() - started >= 0.05
    assert orjson.loads(raw)["content"][0]["text"] == "default now"
    fake.reset()
    assert fake.requests == [] and fake.request_count == 0
    assert orjson.loads((await post(fake, BODY))[1])["content"][0]["text"].startswith("Hello!")


async def test_a_client_leaving_mid_stream_is_counted(fake: FakeAnthropic) -> None:
    fake.script(Behavior(chunks=50, chunk_interval=0.02))
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/messages", data=orjson.dumps({**BODY, "stream": True}), headers=HEADERS) as resp,
    ):
        await resp.content.readuntil(b"\n\n")
    await fake.wait_for_cancelled(1, within=5)
    assert fake.cancelled_streams == 1 and fake.completed_streams == 0


async def test_completed_streams_are_counted(fake: FakeAnthropic) -> None:
    status, raw = await post(fake, {**BODY, "stream": True})
    assert status == 200 and raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert fake.completed_streams == 1


def test_wire_builders_match_the_sdk_types() -> None:
    body = {
        **BODY,
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}],
        "tool_choice": {"type": "any"},
    }
    reply = build_reply(body, "claude-test", Behavior(content="Let me check."), PromptCache())
    Message.model_validate(message_body(reply))
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    kinds = []
    for frame in stream_frames(reply, 4):
        name, data = frame.decode().removesuffix("\n\n").split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        kinds.append(payload["type"])
        if payload["type"] != "ping":
            adapter.validate_python(payload)
    assert kinds.count("content_block_start") == 2 and kinds[-1] == "message_stop"


def test_scripted_tool_arguments_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="JSON objects"):
        build_reply(BODY, "m", Behavior(tool_calls=[ToolCall("f", "[1, 2]")]), PromptCache())
