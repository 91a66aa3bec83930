"""FakeBedrock scripting, recording, control API and SigV4 details (session tokens, clock skew, missing auth)."""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from yarl import URL

from wardgate.providers.bedrock import SigV4Signer
from wardgate.providers.bedrock.eventstream import EventStreamDecoder
from wardgate.testing import Behavior, RemoteFake
from wardgate.testing.fake_bedrock import FakeBedrock
from wardgate.testing.fake_bedrock.sigv4 import Received, SigV4Verifier

KEY_ID, SECRET, TOKEN = "AKIDSESSION", "session-secret", "session-token-xyz"
BODY = orjson.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock(
        access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN, models=["amazon.nova-lite-v1:0"]
    ) as server:
        yield server


async def _post(
    fake: FakeBedrock,
    operation: str,
    body: bytes = BODY,
    token: str | None = TOKEN,
    model: str = "amazon.nova-lite-v1%3A0",
) -> tuple[int, bytes, dict[str, str]]:
    url = f"{fake.url}/model/{model}/{operation}"
    signer = SigV4Signer("us-east-1", KEY_ID, SECRET, session_token=token)
    headers = signer.headers("POST", url, {"Content-Type": "application/json"}, body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(URL(url, encoded=True), data=body, headers=headers) as resp,
    ):
        data = b""
        try:
            async for piece in resp.content.iter_any():
                data += piece
        except aiohttp.ClientPayloadError:
            pass
        return resp.status, data, dict(resp.headers)


async def test_session_token_and_model_list(fake: FakeBedrock) -> None:
    status, body, _ = await _post(fake, "converse")
    assert status == 200 and orjson.loads(body)["stopReason"] == "end_turn"
    status, body, headers = await _post(fake, "converse", token=None)
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException")
    status, body, _ = await _post(fake, "converse", model="amazon.nova-pro-v1%3A0")
    assert status == 400 and orjson.loads(body) == {"message": "The provided model identifier is invalid."}


async def test_unknown_routes_and_bad_json(fake: FakeBedrock) -> None:
    status, _, headers = await _post(fake, "generate")
    assert status == 404 and headers["x-amzn-ErrorType"].startswith("UnknownOperationException")
    status, _, headers = await _post(fake, "converse", body=b"{oops")
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("SerializationException")


async def test_missing_auth_and_clock_skew(fake: FakeBedrock) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{fake.url}/model/m/converse", data=BODY) as resp:
        assert resp.status == 403 and resp.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationToken")
    verifier = SigV4Verifier(KEY_ID, SECRET, "us-east-1", None, "bedrock")
    url = "http://127.0.0.1:1/model/m/converse"
    headers = SigV4Signer("us-east-1", KEY_ID, SECRET).headers("POST", url, {}, BODY)
    received = {k.lower(): v for k, v in headers.items()} | {"host": "127.0.0.1:1"}
    assert verifier.check(Received("POST", "/model/m/converse", received, BODY)) is None
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=6)
    failure = verifier.check(Received("POST", "/model/m/converse", received, BODY), now=later)
    assert failure is not None and failure.message.startswith("Signature expired")
    bad = received | {"authorization": "AWS4-HMAC-SHA256 nonsense"}
    failure = verifier.check(Received("POST", "/model/m/converse", bad, BODY))
    assert failure is not None and failure.error_type == "IncompleteSignatureException"


async def test_stream_disconnect_malformed_and_counters(fake: FakeBedrock) -> None:
    fake.script(Behavior(disconnect_after=2))
    status, data, headers = await _post(fake, "converse-stream")
    decoder = EventStreamDecoder()
    assert status == 200 and headers["Content-Type"] == "application/vnd.amazon.eventstream"
    assert len(decoder.feed(data)) == 2 and decoder.pending == 0
    fake.script(Behavior(malformed=True))
    _, data, _ = await _post(fake, "converse-stream")
    payloads = [m.payload for m in EventStreamDecoder().feed(data)]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(payloads[1])
    fake.script(Behavior(malformed=True))
    _, body, _ = await _post(fake, "converse")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    _, data, _ = await _post(fake, "converse-stream")
    assert fake.completed_streams == 2 and fake.request_count == 4


async def test_latency_interval_usage_and_finish_override(fake: FakeBedrock) -> None:
    fake.script(
        Behavior(
            latency=0.05,
            chunk_interval=0.01,
            chunks=3,
            usage={"prompt_tokens": 11, "cacheReadInputTokens": 5},
            finish_reason="content_filter",
        )
    )
    started = time.monotonic()
    _, data, _ = await _post(fake, "converse-stream")
    assert time.monotonic() - started >= 0.07
    events = {m.headers[":event-type"]: orjson.loads(m.payload) for m in EventStreamDecoder().feed(data)}
    assert events["messageStop"]["stopReason"] == "content_filtered"
    usage = events["metadata"]["usage"]
    assert usage["inputTokens"] == 11 and usage["cacheReadInputTokens"] == 5
    assert usage["totalTokens"] == 11 + 5 + usage["outputTokens"]


async def test_disconnect_without_stream_drops_the_connection(fake: FakeBedrock) -> None:
    fake.script(Behavior(disconnect_after=0))
    with pytest.raises(aiohttp.ClientError):
        await _post(fake, "converse")


def test_control_api_through_remote_fake() -> None:
    runner = FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET).run_in_thread()
    try:
        remote = RemoteFake(runner.url)
        remote.wait_ready()
        remote.script(Behavior(status=503))
        fake = runner.fake
        assert isinstance(fake, FakeBedrock) and len(fake.pending_scripts) == 1
        remote.reset()
        assert fake.pending_scripts == [] and remote.stats()["requests"] == 0
    finally:
        runner.close()
