"""Prometheus metrics of a real ``wardgate serve --workers 2`` in front of the fake OpenAI server, driven by the
openai SDK: whole answers, streams, upstream failures, a stream cut mid-way, an unknown model, rate-limit and
budget refusals (counted in Redis, shared by both workers). Every scrape, whichever worker answers it, reports what
was sent over both; the Grafana dashboard asks only for metric names the gateway exposes; stopping the server
removes its metrics directory."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import redis
from gateway_process import GatewayProcess
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from wardgate.testing import Behavior, FakeOpenAI, FakeServerThread

pytestmark = pytest.mark.integration
MASTER = "wg-metrics-master-key"
UPSTREAM_KEY = "sk-metrics-upstream-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"
HI = [{"role": "user", "content": "Count me in."}]
DEPLOYMENT = "openai-main/gpt-4o-mini"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "wardgate.json"
Samples = list[tuple[str, dict[str, str], float]]


@dataclass
class Sent:
    """What the test sent and what the clients were told."""

    requests: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    """(model, provider, status, outcome) → requests."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    whole: int = 0
    streams: int = 0


@dataclass
class Server:
    gateway: GatewayProcess
    sent: Sent
    metrics_dir: Path


def api(gateway: GatewayProcess, key: str = MASTER) -> openai.OpenAI:
    """A client of its own, so each request opens a connection of its own (and any worker may accept it)."""
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def team_key(gateway: GatewayProcess, team: str) -> str:
    for path, body in (("/teams", {"name": team}), ("/keys", {"team": team})):
        response = httpx2.post(
            f"{gateway.url}/admin/v1{path}", json=body, headers={"Authorization": f"Bearer {MASTER}"}, timeout=10
        )
        assert response.status_code in (200, 201), response.text
    key: str = response.json()["key"]
    return key


def scrape(gateway: GatewayProcess) -> dict[str, Samples]:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def total(families: dict[str, Samples], sample: str, **labels: str) -> float:
    family = re.sub(r"(_total|_bucket|_count|_sum)$", "", sample)
    return sum(
        value
        for name, have, value in families.get(family, [])
        if name == sample and all(have.get(k) == v for k, v in labels.items())
    )


def per_worker_requests(directory: Path) -> list[float]:
    """Each worker's own ``wardgate_requests_total``, read from its file."""
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        if path.name.endswith("-state.db"):
            continue
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        counts.append(sum(value for key, value, _, _ in values if json.loads(key)[1] == "wardgate_requests_total"))
    return counts


def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI(api_key=UPSTREAM_KEY)
    runner: FakeServerThread = upstream.run_in_thread()
    try:
        yield upstream
    finally:
        runner.close()


@pytest.fixture(scope="module")
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


def config(fake_url: str, prefix: str) -> dict[str, Any]:
    provider = {"type": "openai", "base_url": fake_url + "/v1", "api_key": "${TEST_UPSTREAM_KEY}"}
    upstream = [{"provider": "openai-main", "model": "gpt-4o-mini"}]
    return {
        "redis_url": REDIS_URL,
        "server": {"access_log": False, "limits": {"redis_prefix": prefix}},
        "providers": [{"name": "openai-main", **provider}],
        "models": [
            {"name": "chat", "deployments": upstream},
            {"name": "chat-cut", "deployments": upstream},
            {"name": "limited", "deployments": upstream},
        ],
        "limits": [{"name": "limited-rpm", "scope": "global", "models": ["limited"], "requests_per_minute": 2}],
        "budgets": [{"name": "tiny", "scope": "team", "match": "broke", "amount_usd": 0.000001}],
    }


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("metrics-workers")
    (workdir / "tmp").mkdir()
    env = {"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "TMPDIR": str(workdir / "tmp")}  # where serve makes its directory
    gateway = GatewayProcess(
        workdir, config(fake.url, prefix), master_key=MASTER, env=env, extra_args=("--workers", "2")
    )
    gateway.start(timeout=90)
    try:
        eventually(lambda: gateway.log().count("Application startup complete") == 2, within=60)
        (metrics_dir,) = (workdir / "tmp").glob("wardgate-metrics-*")
        sent = Sent()
        drive(gateway, fake, sent, metrics_dir)
        yield Server(gateway, sent, metrics_dir)
    finally:
        gateway.stop()


def drive(gateway: GatewayProcess, fake: FakeOpenAI, sent: Sent, metrics_dir: Path) -> None:
    ok = ("chat", "openai-main", "200", "ok")
    fake.script(Behavior(usage={"prompt_tokens_details": {"cached_tokens": 4}}))
    fake.script(Behavior(usage={"completion_tokens_details": {"reasoning_tokens": 3}}))
    while sent.whole < 6 or min(per_worker_requests(metrics_dir) or [0]) == 0:  # until both workers served some
        assert sent.whole < 60, "one worker took every connection"
        usage = api(gateway).chat.completions.create(model="chat", messages=HI).usage  # type: ignore[arg-type]
        assert usage is not None
        sent.input_tokens += usage.prompt_tokens
        sent.output_tokens += usage.completion_tokens
        details = usage.prompt_tokens_details
        sent.cached_tokens += details.cached_tokens or 0 if details else 0
        reasoning = usage.completion_tokens_details
        sent.reasoning_tokens += reasoning.reasoning_tokens or 0 if reasoning else 0
        sent.requests[ok] += 1
        sent.whole += 1
    assert len(per_worker_requests(metrics_dir)) == 2
    for _ in range(4):
        chunks = api(gateway).chat.completions.create(
            model="chat",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        usages = [chunk.usage for chunk in chunks if chunk.usage is not None]
        sent.input_tokens += usages[-1].prompt_tokens
        sent.output_tokens += usages[-1].completion_tokens
        sent.requests[ok] += 1
        sent.streams += 1
    refusals(gateway, fake, sent)


def refusals(gateway: GatewayProcess, fake: FakeOpenAI, sent: Sent) -> None:
    fake.script(Behavior(status=400, times=3))
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            api(gateway).chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        sent.requests["chat", "openai-main", "400", "rejected"] += 1
    fake.script(Behavior(chunks=10, disconnect_after=3))
    with pytest.raises(openai.APIError):
        for _ in api(gateway).chat.completions.create(model="chat-cut", messages=HI, stream=True):  # type: ignore[arg-type]
            pass
    sent.requests["chat-cut", "openai-main", "200", "failed"] += 1
    for name in ("made-up-model", "another-made-up-one"):
        with pytest.raises(openai.NotFoundError):
            api(gateway).chat.completions.create(model=name, messages=HI)  # type: ignore[arg-type]
        sent.requests["other", "none", "404", "rejected"] += 1
    for n in range(4):
        if n < 2:
            api(gateway).chat.completions.create(model="limited", messages=HI)  # type: ignore[arg-type]
            sent.requests["limited", "openai-main", "200", "ok"] += 1
        else:
            with pytest.raises(openai.RateLimitError):
                api(gateway).chat.completions.create(model="limited", messages=HI)  # type: ignore[arg-type]
            sent.requests["limited", "none", "429", "rejected"] += 1
    broke = team_key(gateway, "broke")  # its team's budget cannot pay for any request
    refused = 0
    for _ in range(100):
        try:
            api(gateway, broke).chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
        except openai.AuthenticationError:  # the other worker has not heard of the new key yet: counted too
            sent.requests["none", "none", "401", "rejected"] += 1
            time.sleep(0.05)
        except openai.RateLimitError as error:
            assert error.code == "insufficient_quota"
            sent.requests["chat", "none", "429", "rejected"] += 1
            refused += 1
            if refused == 2:
                break
    assert refused == 2


def check(families: dict[str, Samples], sent: Sent) -> None:
    requests: Counter[tuple[str, str, str, str]] = Counter()
    for _, labels, value in families["wardgate_requests"]:
        key = (labels["model"], labels["provider"], labels["status"], labels["outcome"])
        requests[key] += int(value)
    assert requests == sent.requests
    assert total(families, "wardgate_workers") == 2
    count = "wardgate_request_duration_seconds_count"
    assert total(families, count) == sum(sent.requests.values())
    assert total(families, count, model="chat", provider="openai-main", stream="true") == sent.streams
    ttft = "wardgate_time_to_first_token_seconds_count"
    assert total(families, ttft, model="chat", stream="true") == sent.streams
    assert total(families, ttft, model="chat", stream="false") == sent.whole  # the 400s had no first byte
    assert total(families, "wardgate_gateway_overhead_seconds_count") == sent.whole + sent.streams + 3 + 1 + 2
    usage = {"model": "chat", "provider": "openai-main"}
    assert total(families, "wardgate_input_tokens_total", **usage) == sent.input_tokens
    assert total(families, "wardgate_output_tokens_total", **usage) == sent.output_tokens
    assert total(families, "wardgate_cached_input_tokens_total", **usage) == sent.cached_tokens == 4
    assert total(families, "wardgate_reasoning_tokens_total", **usage) == sent.reasoning_tokens == 3
    assert total(families, "wardgate_cost_usd_total", **usage) > 0
    assert total(families, "wardgate_cache_requests_total", result="miss") == sent.whole + sent.streams + 2
    assert total(families, "wardgate_request_errors_total", status="400") == 3
    assert total(families, "wardgate_request_errors_total", model="other", status="404") == 2
    decisions = "wardgate_policy_decisions_total"
    assert total(families, decisions, policy="rate_limit", name="limited-rpm", outcome="refused") == 2
    assert total(families, decisions, policy="budget", name="tiny", outcome="refused") == 2
    attempts = sent.whole + sent.streams + 3 + 1 + 2
    assert total(families, "wardgate_upstream_requests_total", deployment=DEPLOYMENT) == attempts
    # published state (every 2 s, and by the worker answering before it answers)
    assert total(families, "wardgate_upstream_attempts_total", deployment=DEPLOYMENT) == attempts
    assert total(families, "wardgate_upstream_attempts_total", outcome="success") == sent.whole + sent.streams + 2
    assert total(families, "wardgate_rate_limit_decisions_total", limit="limited-rpm", outcome="refused") == 2
    assert total(families, "wardgate_rate_limit_decisions_total", limit="tiny", outcome="refused") == 2
    assert total(families, "wardgate_upstream_in_flight") == 0
    assert total(families, "wardgate_breaker_state", deployment=DEPLOYMENT, state="open") == 0


def test_every_scrape_reports_the_sum_over_both_workers(server: Server) -> None:
    assert all(count > 0 for count in per_worker_requests(server.metrics_dir))  # both workers counted requests

    def settled() -> bool:
        try:
            check(scrape(server.gateway), server.sent)
        except AssertionError:
            return False
        return True

    eventually(settled)  # the other worker's state is at most one publication (2 s) behind
    for _ in range(8):  # fresh connections: both workers answer some of these
        check(scrape(server.gateway), server.sent)


def test_the_dashboard_asks_only_for_metric_names_the_gateway_exposes(server: Server) -> None:
    exposed = {name for samples in scrape(server.gateway).values() for name, _, _ in samples}
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    queries += [
        variable["query"]["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"
    ]
    assert len(queries) >= 20
    for query in queries:
        names = set(re.findall(r"\bwardgate_[a-z0-9_]+", query))
        assert names, query
        assert names <= exposed, (query, names - exposed)


def test_stopping_the_server_removes_its_metrics_directory(server: Server) -> None:
    assert server.metrics_dir.is_dir()
    server.gateway.stop()
    assert not server.metrics_dir.exists()
