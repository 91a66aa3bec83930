"""The batching OTLP/HTTP exporter against a real (fake) collector: batches, retries, drops, gzip, headers, and
the flush on close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wardgate.config.tracing_config import TracingConfig
from wardgate.observability import tracing_otlp as otlp
from wardgate.observability.tracing_export import SpanExporter
from wardgate.testing.fake_otlp import FakeOtlp

TOKEN = "otlp-api-token-0123456789"


@pytest.fixture
async def collector() -> AsyncIterator[FakeOtlp]:
    async with FakeOtlp() as fake:
        yield fake


def exporter_for(collector: FakeOtlp, **config: Any) -> SpanExporter:
    settings = {"export_interval_seconds": 0.05, "headers": {"x-api-key": TOKEN}, **config}
    tracing = TracingConfig(enabled=True, endpoint=collector.url + "/v1/traces", **settings)
    exporter = SpanExporter(tracing, otlp.resource({"service.name": "svc"}), otlp.scope("wardgate", "1"))
    exporter.start()
    return exporter


def span(i: int) -> bytes:
    tail = otlp.span_tail(f"span {i}", otlp.KIND_SERVER, b"")
    return otlp.span(b"\x01" * 16, i.to_bytes(8, "big"), b"", 1_000, 2_000, [otlp.attributes({"i": i}), tail])


async def until(predicate: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_spans_arrive_in_batches_with_the_configured_headers(collector: FakeOtlp) -> None:
    exporter = exporter_for(collector, max_export_batch_size=2)
    for i in range(1, 6):
        exporter.add(span(i))
    await until(lambda: len(collector.spans) == 5)
    assert sorted(s.attributes["i"] for s in collector.spans) == [1, 2, 3, 4, 5]
    assert collector.exports == 3  # 2 + 2 + 1
    assert collector.spans[0].resource == {"service.name": "svc"} and collector.spans[0].scope == "wardgate"
    sent = collector.requests[0].headers
    assert sent["x-api-key"] == TOKEN and sent["content-type"] == "application/x-protobuf"
    await exporter.close()
    assert (exporter.exported, exporter.dropped, exporter.failed) == (5, 0, 0)


async def test_gzip(collector: FakeOtlp) -> None:
    exporter = exporter_for(collector, compression="gzip")
    exporter.add(span(7))
    await until(lambda: len(collector.spans) == 1)
    assert collector.requests[0].headers["content-encoding"] == "gzip"
    assert collector.spans[0].name == "span 7"
    await exporter.close()


async def test_a_busy_collector_is_retried(collector: FakeOtlp) -> None:
    collector.fail_next(503, times=2, retry_after="0")
    exporter = exporter_for(collector)
    exporter.add(span(1))
    await until(lambda: len(collector.spans) == 1)
    assert collector.request_count == 3 and exporter.exported == 1 and exporter.failed == 0
    await exporter.close()


async def test_a_refused_batch_is_dropped_without_retry_and_the_token_is_never_logged(
    collector: FakeOtlp, caplog: pytest.LogCaptureFixture
) -> None:
    collector.fail_next(400)
    exporter = exporter_for(collector)
    with caplog.at_level(logging.WARNING, logger="wardgate.tracing"):
        exporter.add(span(1))
        await until(lambda: exporter.failed == 1)
        exporter.add(span(2))
        await until(lambda: len(collector.spans) == 1)
    assert collector.request_count == 2 and collector.spans[0].attributes["i"] == 2
    assert "status 400" in caplog.text and TOKEN not in caplog.text
    await exporter.close()


async def test_an_unreachable_collector_costs_the_batch_not_the_process(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeOtlp() as gone:
        url = gone.url
    tracing = TracingConfig(
        enabled=True, endpoint=url + "/v1/traces", export_interval_seconds=0.01, headers={"authorization": TOKEN}
    )
    exporter = SpanExporter(tracing, otlp.resource({}), otlp.scope("wardgate", "1"))
    exporter.start()
    with caplog.at_level(logging.WARNING, logger="wardgate.tracing"):
        exporter.add(span(1))
        await until(lambda: exporter.failed == 1, within=15)
    assert "gave up after 4 tries" in caplog.text and TOKEN not in caplog.text
    await exporter.close()


async def test_a_full_queue_drops_new_spans(collector: FakeOtlp) -> None:
    exporter = exporter_for(collector, max_queue_size=3, export_interval_seconds=60)
    for i in range(1, 6):
        exporter.add(span(i))
    assert exporter.pending == 3 and exporter.dropped == 2
    await exporter.close()  # flushes what is queued
    assert sorted(s.attributes["i"] for s in collector.spans) == [1, 2, 3]
    assert exporter.exported == 3


async def test_a_full_batch_is_sent_before_the_interval(collector: FakeOtlp) -> None:
    exporter = exporter_for(collector, max_export_batch_size=3, export_interval_seconds=60)
    for i in range(1, 4):
        exporter.add(span(i))
    await until(lambda: len(collector.spans) == 3, within=5)
    await exporter.close()
