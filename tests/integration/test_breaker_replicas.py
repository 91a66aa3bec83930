"""Two gateway processes sharing Redis in front of one FakeOpenAI, one model on two deployments: ``dead`` (tried
first, scripted to answer 500) and ``live``. Replica A trips dead's breaker after its failures; replica B then skips
dead without trying it (the fake sees no request for it from B); once the fake is healed and the cool-down is over,
A's half-open probe succeeds and closes the breaker on both replicas, and B sends to dead again. An admin reset on
B closes a breaker on A too."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from gateway_process import GatewayProcess

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER_KEY = "wg-breaker-master-key"
UPSTREAM_KEY = "sk-breaker-upstream-0123456789"
REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
DEAD, LIVE = "dead/gpt-4o", "live/gpt-4o-mini"
COOLDOWN = 4.0  # long enough that a loaded machine cannot reach half-open between the two replicas


def config(fake_url: str, prefix: str) -> dict[str, Any]:
    timeouts = {"connect": 2, "first_byte": 5, "idle": 5}
    provider = {"type": "openai", "base_url": fake_url + "/v1", "api_key": "${TEST_UPSTREAM_KEY}", "timeouts": timeouts}
    return {
        "server": {
            "access_log": False,
            "breaker": {"base_cooldown_seconds": COOLDOWN, "redis_prefix": prefix, "sync_interval_seconds": 0.2},
        },
        "providers": [{"name": "dead", **provider}, {"name": "live", **provider}],
        "models": [
            {
                "name": "chat",
                "deployments": [{"provider": "dead", "model": "gpt-4o"}, {"provider": "live", "model": "gpt-4o-mini"}],
            }
        ],
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis must run on " + REDIS_URL + " (.ci/run starts it)")
    name = f"wardgate-test:{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(client.scan_iter(match=name + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def replicas(tmp_path: Path, fake: FakeOpenAI, prefix: str) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    database = f"sqlite:///{tmp_path / 'wardgate.db'}"
    env = {"WARDGATE_REDIS_URL": REDIS_URL, "WARDGATE_DATABASE_URL": database, "TEST_UPSTREAM_KEY": UPSTREAM_KEY}
    processes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        processes.append(GatewayProcess(tmp_path / name, config(fake.url, prefix), master_key=MASTER_KEY, env=env))
    processes[0].start(timeout=60)  # first: it migrates the shared database
    try:
        processes[1].start(timeout=60)
        yield processes[0], processes[1]
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda process: process.stop(), processes))


def chat(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content


def admin(gateway: GatewayProcess, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        gateway.url + "/admin/v1" + path, method=method, headers={"authorization": f"Bearer {MASTER_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def breaker(gateway: GatewayProcess, deployment: str) -> dict[str, Any]:
    rows = admin(gateway, "/routing/deployments")["data"]
    found: dict[str, Any] = next(row for row in rows if row["id"] == deployment)["breaker"]
    return found


def scrape(gateway: GatewayProcess) -> str:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as response:
        assert response.headers["content-type"].startswith("text/plain")
        text: str = response.read().decode()
        return text


def sent_to(fake: FakeOpenAI, model: str) -> int:
    return sum(1 for request in fake.requests if isinstance(request.json, dict) and request.json.get("model") == model)


def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)


def test_a_breaker_opened_on_one_replica_is_skipped_on_the_other_and_recovers_on_both(
    fake: FakeOpenAI, replicas: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = replicas
    fake.reset()
    fake.script(Behavior(status=500, match_model="gpt-4o", times=1000))
    for _ in range(5):  # each one fails on dead, then succeeds on live
        chat(a)
    assert sent_to(fake, "gpt-4o") == 5 and sent_to(fake, "gpt-4o-mini") == 5
    assert breaker(a, DEAD)["state"] == "open"
    eventually(lambda: breaker(b, DEAD)["state"] == "open")
    assert breaker(b, DEAD)["last_change"] == "remote"
    metrics = scrape(b)  # the other replica's Prometheus metrics show the breaker it learned of
    assert f'wardgate_breaker_state{{deployment="{DEAD}",state="open"}} 1.0' in metrics
    assert f'wardgate_breaker_state{{deployment="{DEAD}",state="closed"}} 0.0' in metrics
    on_a = scrape(a)
    assert f'wardgate_upstream_attempts_total{{deployment="{DEAD}",outcome="failure"}} 5.0' in on_a
    assert f'wardgate_upstream_attempts_total{{deployment="{LIVE}",outcome="success"}} 5.0' in on_a

    for _ in range(5):
        chat(b)
    assert sent_to(fake, "gpt-4o") == 5, "B tried the dead deployment"
    assert sent_to(fake, "gpt-4o-mini") == 10

    fake.reset()  # healed
    time.sleep(COOLDOWN + 0.1)
    assert breaker(a, DEAD)["state"] == "half_open"
    chat(a)  # the probe
    assert sent_to(fake, "gpt-4o") == 1 and sent_to(fake, "gpt-4o-mini") == 0
    assert breaker(a, DEAD)["state"] == "closed"
    eventually(lambda: breaker(b, DEAD)["state"] == "closed")  # B sent nothing: A's close reached it
    assert breaker(b, DEAD)["last_change"] == "remote"
    chat(b)
    assert sent_to(fake, "gpt-4o") == 2 and sent_to(fake, "gpt-4o-mini") == 0


def test_an_admin_reset_on_one_replica_closes_the_breaker_on_both(
    fake: FakeOpenAI, replicas: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = replicas
    fake.reset()
    fake.script(Behavior(status=500, match_model="gpt-4o", times=5))
    for _ in range(5):
        chat(a)
    eventually(lambda: breaker(b, DEAD)["state"] == "open")
    answer = admin(b, "/routing/deployments/" + DEAD + "/reset", method="POST")
    assert answer["id"] == DEAD and answer["breaker"]["state"] == "closed"
    eventually(lambda: breaker(a, DEAD)["state"] == "closed")
    changes = admin(b, "/changes?object_kind=deployment")["data"]
    assert changes[0]["action"] == "reset" and changes[0]["object_id"] == DEAD
    assert changes[0]["before"]["state"] == "open"
    chat(a)
    assert sent_to(fake, "gpt-4o") == 6
