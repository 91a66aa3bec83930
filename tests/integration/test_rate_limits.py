"""Rate limits end to end: real gateway processes, the official openai SDK, a FakeOpenAI upstream.

- A team's tokens-per-minute limit holds across three replicas sharing one Redis, and in embedded mode, within one
  request's worth of tokens (plus what the bucket refilled while the test ran).
- Streams are reconciled with the usage the provider reported (the gateway asks for it and hides it from a client
  that did not); a client that leaves mid-stream releases its reservation and its concurrency slot.
- Audit mode logs would-be refusals and refuses nothing.
- Redis down: a fail-closed limit answers 503, a fail-open one counts locally; both recover when Redis returns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import redis
from gateway_process import GatewayProcess, free_port

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-limits-master-key"
UPSTREAM_KEY = "sk-limits-upstream-0123456789"
REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
HI = [{"role": "user", "content": "Say something about rate limits."}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


def config(fake_url: str, rules: list[dict[str, Any]], prefix: str = "wardgate") -> dict[str, Any]:
    provider = {
        "type": "openai",
        "base_url": fake_url + "/v1",
        "api_key": "${TEST_UPSTREAM_KEY}",
        "timeouts": {"connect": 2, "first_byte": 5, "idle": 5},
    }
    return {
        "server": {"access_log": False, "breaker": {"enabled": False}, "limits": {"redis_prefix": prefix}},
        "providers": [{"name": "openai-main", **provider}],
        "models": [
            {"name": "chat", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]},
            {"name": "chat-open", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]},
        ],
        "limits": rules,
    }


def start(workdir: Path, cfg: dict[str, Any], env: dict[str, str]) -> GatewayProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    return GatewayProcess(workdir, cfg, master_key=MASTER, env={"TEST_UPSTREAM_KEY": UPSTREAM_KEY, **env}).start()


def admin(gateway: GatewayProcess, method: str, path: str, body: Any = None) -> dict[str, Any]:
    response = httpx2.request(
        method, f"{gateway.url}/admin/v1{path}", json=body, headers={"Authorization": f"Bearer {MASTER}"}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def team_key(gateway: GatewayProcess, team: str, **fields: Any) -> str:
    admin(gateway, "POST", "/teams", {"name": team})
    key: str = admin(gateway, "POST", "/keys", {"team": team, **fields})["key"]
    return key


def client(gateway: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def until(predicate: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.05)


def known(gateway: GatewayProcess, key: str) -> bool:
    try:
        client(gateway, key).models.list()
    except openai.AuthenticationError:
        return False
    return True


@pytest.fixture
def prefix() -> Iterator[str]:
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.fail("Redis must run on " + REDIS_URL + " (.ci/run starts it)")
    name = f"wgtest-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(connection.scan_iter(match="{" + name + "}:*"))
    if keys:
        connection.delete(*keys)
    connection.close()


# --- a team TPM limit under concurrent load ------------------------------------------------------------------------

LIMIT = 1500
MAX_TOKENS = 40


def hammer(gateways: list[GatewayProcess], key: str, requests: int) -> tuple[list[int], list[str], float]:
    """``requests`` concurrent chat calls spread over ``gateways``: (tokens of each success, 429 messages, seconds)."""

    def one(index: int) -> tuple[int | None, str | None]:
        gateway = gateways[index % len(gateways)]
        try:
            reply = client(gateway, key).chat.completions.create(
                model="chat",
                messages=HI,
                max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
            )
        except openai.RateLimitError as exc:
            assert exc.response.headers.get("retry-after"), "a 429 says when to retry"
            return None, exc.message
        assert reply.usage is not None
        return reply.usage.total_tokens, None

    started = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(one, range(requests)))
    elapsed = time.monotonic() - started
    return [t for t, _ in results if t is not None], [m for _, m in results if m is not None], elapsed


def assert_held(tokens: list[int], refusals: list[str], elapsed: float) -> None:
    refilled = LIMIT * elapsed / 60  # the bucket refills continuously: 25 tokens a second here
    one_request = max(tokens)
    assert refusals, "the limit must have been reached"
    assert all("team limit `team-tpm`" in message for message in refusals), refusals[:3]
    assert sum(tokens) <= LIMIT + refilled + one_request, (sum(tokens), LIMIT, refilled, one_request)
    assert sum(tokens) >= LIMIT * 0.5, "the limit admitted far less than it allows"


def test_a_team_tpm_limit_holds_across_three_replicas_sharing_redis(
    fake: FakeOpenAI, tmp_path: Path, prefix: str
) -> None:
    rules = [{"name": "team-tpm", "scope": "team", "tokens_per_minute": LIMIT}]
    env = {"WARDGATE_REDIS_URL": REDIS_URL, "WARDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'wardgate.db'}"}
    cfg = config(fake.url, rules, prefix)
    gateways = [start(tmp_path / name, cfg, env) for name in ("a", "b", "c")]
    try:
        key = team_key(gateways[0], "ml-research")
        for gateway in gateways:
            until(lambda g=gateway: known(g, key), 5)  # type: ignore[misc]
        tokens, refusals, elapsed = hammer(gateways, key, 150)
        assert_held(tokens, refusals, elapsed)
        for gateway in gateways:
            engine = admin(gateway, "GET", "/limits")["engine"]
            assert engine["available"] and engine["local_fallbacks"] == 0, engine
        per_replica = LIMIT + LIMIT * elapsed / 60
        assert sum(tokens) < 2 * per_replica, "three replicas must share one bucket, not hold one each"
    finally:
        for gateway in gateways:
            gateway.stop()


def test_a_team_tpm_limit_holds_in_embedded_mode(fake: FakeOpenAI, tmp_path: Path) -> None:
    rules = [{"name": "team-tpm", "scope": "team", "tokens_per_minute": LIMIT}]
    gateway = start(tmp_path, config(fake.url, rules), {})
    try:
        key = team_key(gateway, "ml-research")
        tokens, refusals, elapsed = hammer([gateway], key, 100)
        assert_held(tokens, refusals, elapsed)
    finally:
        gateway.stop()


# --- streams, disconnects, headers -----------------------------------------------------------------------------------

DAY_LIMIT = 100_000


def remaining_tokens(gateway: GatewayProcess, key: str, max_tokens: int) -> tuple[int, int]:
    """(x-ratelimit-remaining-tokens after a small non-stream call, that call's completion tokens)."""
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="chat",
        messages=HI,
        max_tokens=max_tokens,  # type: ignore[arg-type]
    )
    reply = raw.parse()
    assert reply.usage is not None
    assert raw.headers["x-ratelimit-limit-tokens"] == str(DAY_LIMIT)
    return int(raw.headers["x-ratelimit-remaining-tokens"]), reply.usage.completion_tokens


@pytest.fixture
def output_limited(fake: FakeOpenAI, tmp_path: Path) -> Iterator[tuple[GatewayProcess, str]]:
    """A key whose output tokens per day are limited (reservation = max_tokens exactly; a day's refill is ~1/s),
    with one request in flight at a time."""
    rules = [
        {"name": "key-output", "scope": "key", "tokens_per_day": DAY_LIMIT, "count": "output"},
        {"name": "one-at-a-time", "scope": "key", "concurrent": 1},
    ]
    gateway = start(tmp_path, config(fake.url, rules), {})
    try:
        yield gateway, team_key(gateway, "streamers")
    finally:
        gateway.stop()


def test_a_stream_is_settled_with_the_usage_the_provider_reported(output_limited: tuple[GatewayProcess, str]) -> None:
    gateway, key = output_limited
    before, first_used = remaining_tokens(gateway, key, 500)
    assert DAY_LIMIT - 500 - 2 <= before <= DAY_LIMIT - 500
    stream = client(gateway, key).chat.completions.create(
        model="chat",
        messages=HI,
        max_tokens=500,
        stream=True,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks), "the client did not ask for usage: it never sees it"
    assert chunks and all(chunk.choices for chunk in chunks), "no usage-only chunk reaches the client"
    streamed = sum(len((c.choices[0].delta.content or "").split()) for c in chunks)
    after, _ = remaining_tokens(gateway, key, 500)
    # after = limit - first_used - stream's real output - this call's 500 (the fake counts words), ± refill
    expected = DAY_LIMIT - first_used - streamed - 500
    assert expected - 2 <= after <= expected + 3, (after, expected)


def test_a_client_leaving_mid_stream_releases_its_reservation(
    fake: FakeOpenAI, output_limited: tuple[GatewayProcess, str]
) -> None:
    gateway, key = output_limited
    fake.script(Behavior(chunks=200, chunk_interval=0.02, match_model="gpt-4o-mini"))
    before, used = remaining_tokens(gateway, key, 10)  # the scripted slow stream is consumed by the next call
    fake.script(Behavior(chunks=200, chunk_interval=0.02, match_model="gpt-4o-mini"))
    stream = client(gateway, key).chat.completions.create(
        model="chat",
        messages=HI,
        max_tokens=5000,
        stream=True,  # type: ignore[arg-type]
    )
    for seen, _ in enumerate(stream):
        if seen == 3:
            break
    stream.close()
    # The concurrency slot comes back (one at a time: this call would be refused while the stream held it) and so
    # do the 5,000 reserved tokens, less what was streamed.
    until(lambda: _call_ok(gateway, key), 3)
    after, _ = remaining_tokens(gateway, key, 10)
    charged = before - after - 10 - 10  # two 10-token calls since `before`, at most 20 words each
    assert 3 <= charged <= 60, (before, after, used)


def _call_ok(gateway: GatewayProcess, key: str) -> bool:
    try:
        client(gateway, key).chat.completions.create(model="chat", messages=HI, max_tokens=10)  # type: ignore[arg-type]
    except openai.RateLimitError:
        return False
    return True


def test_headers_describe_the_tightest_limit_and_a_429_names_it(fake: FakeOpenAI, tmp_path: Path) -> None:
    rules = [
        {"name": "key-rpm", "scope": "key", "requests_per_minute": 3},
        {"name": "team-rpm", "scope": "team", "requests_per_minute": 1000},
    ]
    gateway = start(tmp_path, config(fake.url, rules), {})
    try:
        key = team_key(gateway, "small")
        seen = []
        for _ in range(3):
            raw = client(gateway, key).chat.completions.with_raw_response.create(model="chat", messages=HI)  # type: ignore[arg-type]
            seen.append((raw.headers["x-ratelimit-limit-requests"], raw.headers["x-ratelimit-remaining-requests"]))
            assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        assert seen == [("3", "2"), ("3", "1"), ("3", "0")]
        with pytest.raises(openai.RateLimitError) as refused:
            client(gateway, key).chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        message = refused.value.message
        assert "key limit `key-rpm` (3 requests per minute)" in message
        assert int(refused.value.response.headers["retry-after"]) >= 1
        assert refused.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
        assert key not in message and "team-rpm" not in message
    finally:
        gateway.stop()


def test_audit_mode_logs_would_be_refusals_and_refuses_nothing(fake: FakeOpenAI, tmp_path: Path) -> None:
    rules = [{"name": "trial-rpm", "scope": "team", "requests_per_minute": 2, "mode": "audit"}]
    gateway = start(tmp_path, config(fake.url, rules), {})
    try:
        key = team_key(gateway, "trial")
        for _ in range(5):
            client(gateway, key).chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        time.sleep(0.2)
        lines = [json.loads(line) for line in gateway.log().splitlines() if "would have refused" in line]
        assert len(lines) == 3, gateway.log()[-2000:]
        metrics = httpx2.get(gateway.url + "/metrics", timeout=5).text
        assert (
            'wardgate_rate_limit_decisions_total{limit="trial-rpm",outcome="would_refuse",scope="team"} 3.0' in metrics
        )
        assert all(line["limit"] == "trial-rpm" and line["scope"] == "team" for line in lines)
        assert key not in gateway.log()
    finally:
        gateway.stop()


# --- Redis outage ----------------------------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server on a free port, so a test can stop and restart it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (.ci/run uses it)"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self._up, 5)

    def _up(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def test_redis_down_fails_closed_or_open_as_configured_and_recovers(fake: FakeOpenAI, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    rules = [
        {
            "name": "strict",
            "scope": "team",
            "models": ["chat"],
            "requests_per_minute": 1000,
            "on_unavailable": "closed",
        },
        {"name": "lenient", "scope": "team", "models": ["chat-open"], "requests_per_minute": 3},
    ]
    env = {"WARDGATE_REDIS_URL": server.url}
    gateway = start(tmp_path / "gw", config(fake.url, rules), env)
    try:
        key = team_key(gateway, "outage")
        api = client(gateway, key)
        api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        api.chat.completions.create(model="chat-open", messages=HI)  # type: ignore[arg-type]
        healthy = admin(gateway, "GET", "/limits")["engine"]
        assert healthy["available"] is True and healthy["local_fallbacks"] == 0, healthy
        server.stop()
        with pytest.raises(openai.InternalServerError) as closed:
            api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        assert closed.value.status_code == 503 and "strict" in closed.value.message
        assert closed.value.response.headers["retry-after"] == "1"
        # fail open: this replica's own counters, same limit (3 a minute, one already spent in Redis, not here)
        for _ in range(3):
            api.chat.completions.create(model="chat-open", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            api.chat.completions.create(model="chat-open", messages=HI)  # type: ignore[arg-type]
        status = admin(gateway, "GET", "/limits")
        assert status["engine"]["available"] is False and status["engine"]["local_fallbacks"] >= 4
        server.start()
        until(lambda: admin(gateway, "GET", "/limits")["engine"]["available"] is True, 5)
        api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        recovered = admin(gateway, "GET", "/limits")["engine"]
        assert recovered["outages"] == 1 and recovered["local_fallbacks"] == 4, recovered
        metrics = httpx2.get(gateway.url + "/metrics", timeout=5).text
        assert "wardgate_rate_limit_store_up 1.0" in metrics
        assert "wardgate_rate_limit_fail_closed_refusals_total 1.0" in metrics
        assert "rate-limit store unreachable" in gateway.log()
    finally:
        gateway.stop()
        server.stop()


def test_limits_set_on_a_team_through_the_admin_api_apply_at_once(fake: FakeOpenAI, tmp_path: Path) -> None:
    gateway = start(tmp_path, config(fake.url, []), {})
    try:
        key = team_key(gateway, "managed")
        team = admin(gateway, "GET", "/teams?name=managed")["data"][0]
        admin(gateway, "PATCH", f"/teams/{team['id']}", {"limits": {"requests_per_minute": 2}})
        api = client(gateway, key)
        for _ in range(2):
            api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as refused:
            api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        assert "team limit `team limits` (2 requests per minute)" in refused.value.message
        admin(gateway, "PATCH", f"/teams/{team['id']}", {"limits": {}})
        api.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
    finally:
        gateway.stop()
