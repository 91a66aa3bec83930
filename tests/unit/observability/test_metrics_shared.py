"""Several workers' metrics through shared files: two stores in one directory (two workers) merge into sums at
once, with every histogram bucket present; a file that outgrows its first mapping stays readable; published state
merges counters by sum and gauges by their mode; the reaper drops an exited worker's gauges and keeps its counters;
``Metrics.render`` serves the same families in one process and in several."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from wardgate.observability.metrics import GatewayCollector, Metrics, Sources, StatePublisher
from wardgate.observability.metrics_shared import Reaper, server_metrics_dir
from wardgate.observability.metrics_store import Store

Families = dict[str, list[tuple[str, dict[str, str], float]]]


def parse(text: bytes) -> Families:
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(text.decode())
    }


def merged(directory: Path) -> Families:
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    return parse(generate_latest(registry))


def sample(families: Families, family: str, name: str, **labels: str) -> float:
    found = [value for have, got, value in families[family] if have == name and got == labels]
    assert len(found) == 1, (name, labels, families[family])
    return found[0]


def test_two_workers_counters_and_histograms_merge_into_sums_at_once(tmp_path: Path) -> None:
    one, two = Store(tmp_path), Store(tmp_path)
    families = []
    for store in (one, two):
        requests = store.counter("wardgate_requests", "Requests.", ("model", "team"))
        latency = store.histogram("wardgate_latency_seconds", "Latency.", ("model",), (0.1, 1.0, 10.0))
        families.append((requests, latency))
    families[0][0].inc(("chat", ""))
    families[1][0].inc(("chat", ""), 2)
    families[1][0].inc(("chat", "team_a"))
    families[0][1].observe(("chat",), 0.05)
    families[1][1].observe(("chat",), 5.0)
    got = merged(tmp_path)
    assert sample(got, "wardgate_requests", "wardgate_requests_total", model="chat") == 3  # no empty team label
    assert sample(got, "wardgate_requests", "wardgate_requests_total", model="chat", team="team_a") == 1
    buckets = {s["le"]: v for name, s, v in got["wardgate_latency_seconds"] if name.endswith("_bucket")}
    assert buckets == {"0.1": 1, "1.0": 1, "10.0": 2, "+Inf": 2}  # cumulative, every bucket present
    assert sample(got, "wardgate_latency_seconds", "wardgate_latency_seconds_sum", model="chat") == 5.05
    assert sample(got, "wardgate_latency_seconds", "wardgate_latency_seconds_count", model="chat") == 2
    families[0][0].inc(("chat", ""))  # no flush: the next read sees it
    assert sample(merged(tmp_path), "wardgate_requests", "wardgate_requests_total", model="chat") == 4


def test_the_merge_equals_what_one_process_reports(tmp_path: Path) -> None:
    alone, shared = Store(), Store(tmp_path)
    for store in (alone, shared):
        counter = store.counter("wardgate_things", "Things.", ("kind",))
        histogram = store.histogram("wardgate_seconds", "Seconds.", ("kind",), (0.5, 2.0))
        for n in range(7):
            counter.inc((f"k{n % 3}",), n)
            histogram.observe((f"k{n % 2}",), n / 3)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(alone)
    single = parse(generate_latest(registry))
    several = merged(tmp_path)
    assert {k: sorted(map(repr, v)) for k, v in single.items()} == {k: sorted(map(repr, v)) for k, v in several.items()}


def test_a_file_that_outgrows_its_mapping_stays_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    counter = store.counter("wardgate_many", "Many series.", ("n",))
    for n in range(12_000):  # ~200 bytes each: past the first 1 MiB mapping
        counter.inc((f"series-{n:05d}",), n)
    got = merged(tmp_path)["wardgate_many"]
    assert len(got) == 12_000
    assert sample({"m": got}, "m", "wardgate_many_total", n="series-11999") == 11_999


def sources(in_flight: int, state: str, available: bool, successes: int) -> Sources:
    health = {"openai/gpt": {"successes": successes, "in_flight": in_flight, "ewma_ttft_ms": 100.0 * successes}}
    return Sources(
        health=lambda: health,
        breakers=lambda: {"openai/gpt": {"state": state, "consecutive_failures": 0}},
        limit_events=lambda: {("team-rpm", "team", "refused"): successes},
        limit_engine=lambda: {"available": available},
        routing=lambda: {"admission": {"in_flight": in_flight, "queued": 0, "rejected": 1}},
    )


async def test_published_state_merges_counters_by_sum_and_gauges_by_their_mode(tmp_path: Path) -> None:
    first = StatePublisher(GatewayCollector(sources(2, "closed", True, 5)), tmp_path, "1-a", pid=1)
    second = StatePublisher(GatewayCollector(sources(3, "open", False, 7)), tmp_path, "2-b", pid=2)
    await first.publish()
    await second.publish()
    got = merged(tmp_path)
    attempts = ("wardgate_upstream_attempts", "wardgate_upstream_attempts_total")
    assert sample(got, *attempts, deployment="openai/gpt", outcome="success") == 12
    decisions = ("wardgate_rate_limit_decisions", "wardgate_rate_limit_decisions_total")
    assert sample(got, *decisions, limit="team-rpm", scope="team", outcome="refused") == 12
    assert sample(got, "wardgate_upstream_in_flight", "wardgate_upstream_in_flight", deployment="openai/gpt") == 5
    assert sample(got, "wardgate_requests_in_flight", "wardgate_requests_in_flight") == 5
    assert sample(got, "wardgate_workers", "wardgate_workers") == 2
    state = "wardgate_breaker_state"
    assert sample(got, state, state, deployment="openai/gpt", state="open") == 1  # open on one worker
    assert sample(got, state, state, deployment="openai/gpt", state="closed") == 1
    assert sample(got, "wardgate_rate_limit_store_up", "wardgate_rate_limit_store_up") == 0  # down for one
    ttft = "wardgate_upstream_ttft_seconds"
    assert sample(got, ttft, ttft, deployment="openai/gpt") == 0.7  # the slower worker's average
    assert not list(tmp_path.glob("*.tmp"))


async def test_republishing_replaces_a_workers_state(tmp_path: Path) -> None:
    health: dict[str, Any] = {"a": {"successes": 1}, "b": {"successes": 1}}
    collector = GatewayCollector(
        Sources(lambda: health, lambda: {}, lambda: {}, lambda: {"available": True}, lambda: {})
    )
    publisher = StatePublisher(collector, tmp_path, "1-a", pid=1)
    await publisher.publish()
    health.pop("b")
    health["a"] = {"successes": 4}
    await publisher.publish()
    got = merged(tmp_path)
    rows = {labels["deployment"] for _, labels, _ in got["wardgate_upstream_in_flight"]}
    assert rows == {"a"}
    attempts = ("wardgate_upstream_attempts", "wardgate_upstream_attempts_total")
    assert sample(got, *attempts, deployment="a", outcome="success") == 4


async def test_the_reaper_drops_an_exited_workers_gauges_and_keeps_its_counters(tmp_path: Path) -> None:
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_pid = int(exited.stdout)
    alive = sources(1, "closed", True, 2)
    await StatePublisher(GatewayCollector(alive), tmp_path, f"{os.getpid()}-a", pid=os.getpid()).publish()
    await StatePublisher(GatewayCollector(alive), tmp_path, f"{dead_pid}-b", pid=dead_pid).publish()
    assert sample(merged(tmp_path), "wardgate_workers", "wardgate_workers") == 2
    assert Reaper(tmp_path).reap() == {dead_pid}
    got = merged(tmp_path)
    assert sample(got, "wardgate_workers", "wardgate_workers") == 1
    attempts = ("wardgate_upstream_attempts", "wardgate_upstream_attempts_total")
    assert sample(got, *attempts, deployment="openai/gpt", outcome="success") == 4  # the exited one's stay


def test_the_server_directory_is_private_named_in_the_environment_and_removed() -> None:
    with server_metrics_dir() as directory:
        assert os.environ["WARDGATE_METRICS_DIR"] == str(directory)
        assert directory.stat().st_mode & 0o777 == 0o700
        Store(directory).counter("wardgate_x", "X.", ()).inc(())
    assert not directory.exists() and "WARDGATE_METRICS_DIR" not in os.environ


async def test_render_serves_requests_and_state_in_one_process_and_in_several(tmp_path: Path) -> None:
    for store in (Store(), Store(tmp_path)):
        store.counter("wardgate_requests", "Requests.", ("model",)).inc(("chat",))
        metrics = Metrics(sources(1, "closed", True, 3), store)
        got = parse(await metrics.render())
        assert sample(got, "wardgate_requests", "wardgate_requests_total", model="chat") == 1
        assert sample(got, "wardgate_workers", "wardgate_workers") == 1
        assert sample(got, "wardgate_breaker_state", "wardgate_breaker_state", deployment="openai/gpt", state="closed")
        await metrics.close()
