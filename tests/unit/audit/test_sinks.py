"""The audit sinks alone: what a record looks like on its way out (verbatim, without content, a purged stub), the
file sink's rotation and fsync'd appends, stdout lines, the webhook and Splunk HEC sinks against fake receivers
(HEC checks the token and the body's shape as Splunk does), and failures as reasons that name no secret."""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import TypeAdapter, ValidationError
from sink_fixtures import HEC_TOKEN, T0, Receiver, parse_hec_body, request_record

from wardgate.audit.sinks import (
    AuditRow,
    DeliveryError,
    FileLines,
    Item,
    SplunkHec,
    StdoutLines,
    Webhook,
    hec_events,
    prepare,
    record_text,
)
from wardgate.config.audit_sinks_config import (
    AuditSink,
    FileSink,
    SplunkHecSink,
    StdoutSink,
    WebhookSink,
    sink_problems,
)

SECRET = "hook-secret-4f1c9a"


def row(seq: int, record: dict[str, Any] | None = None, *, purged: bool = False) -> AuditRow:
    record = record or request_record(seq)
    text = orjson.dumps(record).decode()
    return AuditRow(
        seq=seq,
        id=record["id"],
        at=T0 + timedelta(seconds=seq),
        kind=record["kind"],
        request_id=record["request_id"],
        team_id="team_a",
        record=None if purged else text,
        record_hash="ab" * 32,
        purged_at=T0 + timedelta(days=400) if purged else None,
    )


def items(first: int, count: int, pad: int = 0) -> list[Item]:
    out = []
    for seq in range(first, first + count):
        record = request_record(seq, note="x" * pad)
        out.append(Item(seq, (T0 + timedelta(seconds=seq)).timestamp(), orjson.dumps(record).decode()))
    return out


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# --- records on their way out ------------------------------------------------------------------------------------


def test_records_travel_verbatim_or_stripped_or_as_stubs() -> None:
    stored = row(7)
    assert record_text(stored) == stored.record  # byte for byte: its hash is the row's record_hash
    stripped = json.loads(record_text(stored, include_content=False))
    assert "content" not in stripped and stripped["id"] == stored.id
    assert list(stripped) == [k for k in json.loads(stored.record or "") if k != "content"]  # key order kept

    stub = json.loads(record_text(row(8, purged=True)))
    assert stub == {
        "v": 1,
        "id": "aud_test_000008",
        "kind": "request",
        "at": "2026-11-30T07:00:08.000000Z",
        "request_id": "req_8",
        "team_id": "team_a",
        "purged": True,
        "purged_at": "2028-01-04T07:00:00.000000Z",
        "record_hash": "ab" * 32,
    }
    no_content = row(9, request_record(9, content=False))
    assert record_text(no_content, include_content=False) == no_content.record
    prepared = prepare([stored, row(8, purged=True)], include_content=False)
    assert [i.seq for i in prepared] == [7, 8] and prepared[0].time == (T0 + timedelta(seconds=7)).timestamp()


def test_hec_body_is_concatenated_event_objects() -> None:
    meta = {"host": "gw-1", "source": "wardgate", "sourcetype": "wardgate:audit", "index": "wardgate"}
    batch = items(1, 3)
    body = hec_events(batch, meta)
    events, problem = parse_hec_body(body.decode(), frozenset({"wardgate"}))
    assert problem is None and len(events) == 3
    assert b"}{" in body and b"\n" not in body  # one object after another, as HEC's batch format
    for event, item in zip(events, batch, strict=True):
        assert list(event) == ["time", "host", "source", "sourcetype", "index", "event"]
        assert event["time"] == item.time and isinstance(event["time"], float)
        assert {k: event[k] for k in meta} == meta
        assert event["event"] == json.loads(item.text)


def test_sink_config_checks() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(AuditSink)
    hec = adapter.validate_python(
        {"name": "siem", "type": "splunk_hec", "url": "https://s:8088/", "token": "hec-token-value"}
    )
    assert isinstance(hec, SplunkHecSink) and hec.endpoint == "https://s:8088/services/collector/event"
    full = adapter.validate_python(
        {"name": "s", "type": "splunk_hec", "url": "https://s:8088/services/collector", "token": "t"}
    )
    assert full.endpoint == "https://s:8088/services/collector/event"
    assert "hec-token-value" not in repr(hec) and hec.token.get_secret_value() == "hec-token-value"
    for bad in (
        {"name": "w", "type": "webhook", "url": "ftp://x/"},
        {"name": "w", "type": "webhook", "url": "not a url"},
        {"name": "bad name!", "type": "stdout"},
        {"name": "f", "type": "file", "path": "/tmp/x", "max_bytes": 10},
        {"name": "s", "type": "stdout", "colour": "red"},
    ):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    twice = [StdoutSink(name="a", type="stdout"), StdoutSink(name="a", type="stdout")]
    assert sink_problems(twice) == ["audit.sinks: the name 'a' is used 2 times"]
    same_file = [FileSink(name="a", type="file", path="/x"), FileSink(name="b", type="file", path="/x")]
    assert sink_problems(same_file) == ["audit.sinks: two file sinks write '/x'"]


# --- file and stdout -----------------------------------------------------------------------------------------------


async def test_file_sink_appends_lines_and_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    sink = FileLines(FileSink(name="f", type="file", path=str(path), max_bytes=4096, backups=2))
    batches = [items(n * 10, 10, pad=100) for n in range(8)]  # ~ 800 bytes a record, 8 KB a batch
    for batch in batches:
        await sink.deliver(batch)
    await sink.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]  # path.3 would be a third backup
    kept: list[int] = []
    for name in ("audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"):  # oldest first
        data = (path.parent / name).read_bytes()
        assert 0 < len(data) <= 4096 and data.endswith(b"\n")
        kept += [int(json.loads(line)["id"].rsplit("_", 1)[1]) for line in data.splitlines()]
    everything = [item.seq for batch in batches for item in batch]
    assert kept == everything[-len(kept) :]  # the newest lines, in order, nothing torn


async def test_file_sink_without_backups_truncates_and_follows_outside_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = FileLines(FileSink(name="f", type="file", path=str(path), max_bytes=3000, backups=0))
    await sink.deliver(items(1, 2, pad=600))
    await sink.deliver(items(3, 2, pad=600))
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["aud_test_000003", "aud_test_000004"]
    assert sorted(os.listdir(tmp_path)) == ["audit.jsonl"]

    os.replace(path, tmp_path / "moved.jsonl")  # logrotate, or another process holding the sink
    await sink.deliver(items(5, 1))
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["aud_test_000005"]
    await sink.close()


async def test_file_sink_failure_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    sink = FileLines(FileSink(name="f", type="file", path=str(blocker / "audit.jsonl")))
    with pytest.raises(DeliveryError, match="cannot write"):
        await sink.deliver(items(1, 1))


async def test_stdout_sink_writes_one_line_per_record() -> None:
    stream = io.BytesIO()
    await StdoutLines(StdoutSink(name="o", type="stdout"), stream).deliver(items(1, 3))
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["aud_test_000001", "aud_test_000002", "aud_test_000003"]


# --- HTTP ----------------------------------------------------------------------------------------------------------


async def test_webhook_posts_a_json_array_with_its_headers(session: aiohttp.ClientSession) -> None:
    receiver = await Receiver().start()
    try:
        config = WebhookSink(name="w", type="webhook", url=receiver.url, headers={"Authorization": f"Bearer {SECRET}"})
        sink = Webhook(config, session)
        await sink.deliver(items(1, 4))
        assert receiver.ids() == [f"aud_test_{n:06d}" for n in range(1, 5)]
        assert receiver.headers[0]["Authorization"] == f"Bearer {SECRET}"
        assert receiver.headers[0]["Content-Type"] == "application/json"

        receiver.script += [(503, {"Retry-After": "7"}), 401, 413]
        with pytest.raises(DeliveryError) as busy:
            await sink.deliver(items(5, 1))
        assert busy.value.reason == "HTTP 503" and busy.value.retry_after == 7.0 and not busy.value.permanent
        with pytest.raises(DeliveryError) as refused:
            await sink.deliver(items(5, 1))
        assert refused.value.permanent and refused.value.reason == "HTTP 401"
        with pytest.raises(DeliveryError) as large:
            await sink.deliver(items(5, 1))
        assert large.value.too_large
    finally:
        await receiver.close()


async def test_webhook_unreachable_names_no_url(session: aiohttp.ClientSession) -> None:
    receiver = await Receiver().start()
    url = receiver.url.replace("/hook", f"/hook?token={SECRET}")
    await receiver.close()  # nothing listens there any more
    sink = Webhook(WebhookSink(name="w", type="webhook", url=url, timeout_seconds=5), session)
    with pytest.raises(DeliveryError) as failed:
        await sink.deliver(items(1, 1))
    assert failed.value.reason.startswith("cannot connect") and SECRET not in str(failed.value)


async def test_splunk_hec_delivers_events_the_collector_accepts(session: aiohttp.ClientSession) -> None:
    receiver = await Receiver(kind="hec").start()
    try:
        config = SplunkHecSink(
            name="siem", type="splunk_hec", url=receiver.url, token=HEC_TOKEN, index="wardgate", host="gw-1"
        )
        sink = SplunkHec(config, session)
        batch = items(1, 5)
        await sink.deliver(batch)
        assert receiver.ids() == [f"aud_test_{n:06d}" for n in range(1, 6)]
        first = receiver.events[0]
        assert (first["host"], first["source"], first["sourcetype"], first["index"]) == (
            "gw-1",
            "wardgate",
            "wardgate:audit",
            "wardgate",
        )
        assert first["time"] == batch[0].time
        assert receiver.headers[0]["Authorization"] == f"Splunk {HEC_TOKEN}"
        assert receiver.headers[0]["X-Splunk-Request-Channel"]

        receiver.script.append(503)
        with pytest.raises(DeliveryError) as busy:
            await sink.deliver(items(6, 1))
        assert busy.value.reason == "HTTP 503: Server is busy (code 9)" and not busy.value.permanent
    finally:
        await receiver.close()


async def test_splunk_hec_errors_are_the_collectors_words(session: aiohttp.ClientSession) -> None:
    receiver = await Receiver(kind="hec").start()
    try:
        wrong = SplunkHec(SplunkHecSink(name="s", type="splunk_hec", url=receiver.url, token="wrong-token"), session)
        with pytest.raises(DeliveryError) as denied:
            await wrong.deliver(items(1, 1))
        assert denied.value.reason == "HTTP 403: Invalid token (code 4)" and denied.value.permanent
        assert "wrong-token" not in str(denied.value)

        bad_index = SplunkHecSink(name="s", type="splunk_hec", url=receiver.url, token=HEC_TOKEN, index="nope")
        with pytest.raises(DeliveryError) as index:
            await SplunkHec(bad_index, session).deliver(items(1, 2))
        assert index.value.reason == "HTTP 400: Incorrect index (code 7, event 0)"
        assert receiver.received == []
    finally:
        await receiver.close()


async def test_splunk_hec_needs_the_collectors_success_answer(session: aiohttp.ClientSession) -> None:
    from aiohttp import web

    async def not_hec(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/services/collector/event", not_hec)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        sink = SplunkHec(SplunkHecSink(name="s", type="splunk_hec", url=url, token=HEC_TOKEN), session)
        with pytest.raises(DeliveryError, match="not an HTTP Event Collector answer"):
            await sink.deliver(items(1, 1))
    finally:
        await runner.cleanup()


def test_time_is_epoch_seconds_of_the_record() -> None:
    at = datetime(2026, 11, 30, 7, 0, 0, 123456, tzinfo=UTC)
    stored = AuditRow(1, "aud_x", at, "request", None, None, "{}", "0" * 64, None)
    assert prepare([stored], True)[0].time == 1796022000.123456
