"""Streams done right: relayed as they arrive, [DONE] only on a real finish, explicit error events, cancellation."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import time

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeOpenAI

HI = [{"role": "user", "content": "hi"}]


def raw_stream(gateway: GatewayProcess, model: str) -> tuple[int, list[str]]:
    """POST a streaming request and return the status and the SSE data lines, read to the end."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    body = json.dumps({"model": model, "messages": HI, "stream": True})
    conn.request(
        "POST",
        "/v1/chat/completions",
        body,
        {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def test_clean_stream_ends_with_done(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.script(Behavior(chunks=5))
    status, events = raw_stream(gateway, "gpt-4o-mini")
    assert status == 200 and events[-1] == "[DONE]"
    assert all("error" not in json.loads(e) for e in events[:-1])


def test_upstream_disconnect_mid_stream_gives_error_event_and_no_done(
    gateway: GatewayProcess, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Behavior(chunks=10, disconnect_after=4))
    status, events = raw_stream(gateway, "gpt-4o-mini")
    assert status == 200
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_interrupted"
    assert len(events) == 5  # four relayed chunks, then the error event

    fake.script(Behavior(chunks=10, disconnect_after=4))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
            pass


def test_malformed_chunk_ends_stream_with_error(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.script(Behavior(chunks=6, malformed=True))
    status, events = raw_stream(gateway, "gpt-4o-mini")
    assert status == 200 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "stream_interrupted"


def test_idle_upstream_mid_stream_times_out(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.script(Behavior(chunks=3, chunk_interval=3.0))
    status, events = raw_stream(gateway, "gpt-4o-mini")
    assert status == 200 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_timeout"


def test_failure_before_first_byte_gets_real_status(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(status=429, headers={"Retry-After": "3"}))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    fake.script(Behavior(chunks=5, disconnect_after=0, times=3))  # retried on the only deployment, then 502
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert info.value.status_code == 502


def test_chunks_are_relayed_as_they_arrive(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(chunks=4, chunk_interval=0.3))
    arrivals = []
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 4 and min(gaps) > 0.2  # not buffered into one burst


def test_client_disconnect_cancels_upstream(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    before = fake.cancelled_streams
    fake.script(Behavior(chunks=50, chunk_interval=0.1))
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    body = json.dumps({"model": "gpt-4o-mini", "messages": HI, "stream": True}).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {MASTER_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert b"200" in sock.recv(4096)
    sock.close()
    deadline = time.monotonic() + 5
    while fake.cancelled_streams == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled_streams == before + 1
    assert '"error":"client_disconnected"' in gateway.log() or "client_disconnected" in gateway.log()


def test_client_disconnect_cancels_non_stream_upstream(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    before = fake.cancelled_requests
    fake.script(Behavior(latency=1.5))
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    body = json.dumps({"model": "gpt-4o-mini", "messages": HI}).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {MASTER_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    deadline = time.monotonic() + 5
    while fake.last_request is None and time.monotonic() < deadline:
        time.sleep(0.02)
    sock.close()
    while fake.cancelled_requests == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled_requests == before + 1
    assert wait_for_log(gateway, '"status":499')


def wait_for_log(gateway: GatewayProcess, text: str, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in gateway.log():
            return True
        time.sleep(0.05)
    return False
