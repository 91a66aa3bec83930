"""Scripting queue semantics, recording, the /_fake control API, the thread runner and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator

import aiohttp
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread, RemoteFake, ToolCall, run_in_thread

MSG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(max_recorded=5) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="anything", max_retries=0)


async def ask(client: openai.AsyncOpenAI, model: str = "gpt-4o") -> str:
    resp = await client.chat.completions.create(model=model, messages=MSG)
    return resp.choices[0].message.content or ""


async def test_fifo_matching_times_default_and_reset(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Behavior(content="first"))
    fake.script_many([Behavior(content="for-mini", match_model="gpt-4o-mini"), Behavior(content="twice", times=2)])
    fake.script(Behavior(status=500, match_endpoint="embeddings"))
    assert await ask(client, "gpt-4o-mini") == "first"  # FIFO: first matching wins
    assert await ask(client) == "twice"  # model filter skips "for-mini"
    assert await ask(client, "gpt-4o-mini") == "for-mini"
    assert await ask(client) == "twice"
    fake.set_default(Behavior(content="default now"))
    assert await ask(client) == "default now"  # embeddings-only script left untouched
    assert len(fake.pending_scripts) == 1
    with pytest.raises(openai.InternalServerError):
        await client.embeddings.create(model="e", input="x")
    fake.reset()
    assert fake.pending_scripts == [] and fake.requests == [] and fake.cancelled_streams == 0
    assert (await ask(client)).startswith("Hello! This is a reply")


async def test_recording_is_bounded_and_complete(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    await client.chat.completions.create(
        model="gpt-4o", messages=MSG, extra_headers={"X-Trace-Id": "abc"}, extra_query={"q": "1"}
    )
    rec = fake.last_request
    assert rec is not None and rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.headers["x-trace-id"] == "abc" and rec.headers["authorization"] == "Bearer anything"
    assert rec.query == {"q": "1"}
    assert rec.json == orjson.loads(rec.body) and rec.json["messages"] == MSG
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.base_url + "/chat/completions", data=b"{nope") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["message"].startswith("We could not parse the JSON body")
        async with session.get(fake.url + "/v2/unknown") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"] == "Invalid URL (GET /v2/unknown)"
        async with session.get(fake.url + "/_fake/stats") as resp:  # control calls are not recorded
            assert (await resp.json())["requests"] == 3
    assert fake.requests[-2].body == b"{nope" and fake.requests[-2].json is None
    for _ in range(6):
        await ask(client)
    assert len(fake.requests) == 5 and fake.request_count == 9


def test_control_api_with_remote_client() -> None:
    fake = FakeOpenAI()
    with run_in_thread(fake) as runner:
        remote = RemoteFake(runner.url)
        remote.wait_ready()
        remote.script_many(
            [
                Behavior(status=429, headers={"Retry-After": "1"}, error_body=b'{"error": {"message": "raw"}}'),
                Behavior(tool_calls=[ToolCall("f", {"a": 1})]),
            ]
        )
        assert remote.stats()["pending_scripts"] == 2
        client = openai.OpenAI(base_url=runner.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.RateLimitError, match="raw"):
            client.chat.completions.create(model="m", messages=MSG)
        resp = client.chat.completions.create(model="m", messages=MSG)
        (call,) = resp.choices[0].message.tool_calls or []
        assert call.type == "function" and call.function.arguments == '{"a":1}'
        remote.set_default(Behavior(content="from default"))
        assert client.chat.completions.create(model="m", messages=MSG).choices[0].message.content == "from default"
        recorded = remote.requests(limit=2)
        assert len(recorded) == 2 and recorded[-1]["json"]["model"] == "m"
        assert recorded[-1]["headers"]["authorization"] == "Bearer k"
        remote.reset()
        assert remote.requests() == [] and remote.stats()["requests"] == 0
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(runner.url + "/_fake/script", b'{"no_such_field": 1}')
        assert info.value.code == 400
        with pytest.raises(urllib.error.HTTPError):
            _post(runner.url + "/_fake/script", b'{"status": 42}')


def _post(url: str, data: bytes) -> bytes:
    req = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        body: bytes = resp.read()
        return body


def test_control_api_can_be_disabled_and_thread_close_is_idempotent() -> None:
    runner = FakeServerThread(FakeOpenAI(control_api=False)).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(runner.url + "/_fake/reset", b"{}")
        assert info.value.code == 404
    finally:
        runner.close()
        runner.close()


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def test_cli_serves_until_sigterm(free_port: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "wardgate.testing", "fake-openai", "--port", str(free_port), "--api-key", "k"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"wardgate fake-openai listening on http://127.0.0.1:{free_port}"
        remote = RemoteFake(f"http://127.0.0.1:{free_port}")
        remote.script(Behavior(content="scripted over http", chunks=3))
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{free_port}/v1", api_key="k", max_retries=0)
        stream = client.chat.completions.create(model="m", messages=MSG, stream=True)
        deltas = [c.choices[0].delta.content for c in stream if c.choices]
        assert deltas == ["", "scripted", " over", " http", None]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
