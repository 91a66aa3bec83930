"""``AuditForwarder`` on SQLite and PostgreSQL against real receivers: a new sink's cursor starts at the head (or
at the beginning), advances only after delivery; one replica at a time delivers a sink (two forwarders on one
database), a dead owner's lease expires; a failing receiver is retried until it accepts, without holding up another
sink; delivery is at least once across a restart; a batch too large for a receiver goes in halves; purged rows
travel as stubs and ``include_content: false`` strips content. Rows are written straight into ``audit_log``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sink_fixtures import (
    HEC_TOKEN,
    Receiver,
    add_records,
    add_requests,
    admin_record,
    cursor_of,
    eventually,
    request_record,
)
from sqlalchemy import insert, update
from sqlalchemy.engine import make_url
from tcp_proxy import ThreadedTcpProxy

from wardgate.audit.forward import AuditForwarder
from wardgate.audit.sinks import SinkConfig
from wardgate.config.audit_sinks_config import FileSink, SplunkHecSink, WebhookSink
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_cursors

SECRET = "Bearer hook-secret-93ab"


def forwarder(db: Database, *sinks: SinkConfig, owner: str = "gw-a", lease: float = 3.0) -> AuditForwarder:
    return AuditForwarder(
        db, list(sinks), owner, lease_seconds=lease, poll_interval=0.02, retry_initial=0.01, retry_max=0.05
    )


def hook(receiver: Receiver, name: str = "hook", **fields: Any) -> WebhookSink:
    return WebhookSink(name=name, type="webhook", url=receiver.url, headers={"Authorization": SECRET}, **fields)


def ids(first: int, last: int) -> list[str]:
    return [f"aud_test_{n:06d}" for n in range(first, last + 1)]


async def test_a_new_sink_starts_at_the_head_and_advances_after_delivery(database: Database) -> None:
    await add_requests(database, 1, 5)
    receiver = await Receiver().start()
    gateway = forwarder(database, hook(receiver))
    try:
        await gateway.start()
        await eventually(lambda: gateway.stats()["hook"]["holding"])
        cursor = await cursor_of(database, "hook")
        assert cursor is not None and cursor["seq"] == 5 and cursor["lease_owner"] == "gw-a"
        await add_requests(database, 6, 3)
        await eventually(lambda: len(receiver.received) == 3)

        async def advanced() -> bool:
            found = await cursor_of(database, "hook")
            return found is not None and found["seq"] == 8

        await eventually(advanced)
        assert receiver.ids() == ids(6, 8)  # what was there before the sink existed is not sent
        stats = gateway.stats()["hook"]
        assert stats["delivered"] == 3 and stats["cursor"] == 8 and stats["failures"] == 0
    finally:
        await gateway.close()
        await receiver.close()
    released = await cursor_of(database, "hook")
    assert released is not None and released["lease_owner"] is None and released["seq"] == 8


async def test_from_the_beginning_in_order_with_stubs_and_without_content(database: Database, tmp_path: Path) -> None:
    records = [request_record(n) for n in range(1, 6)] + [admin_record(6)] + [request_record(7)]
    await add_records(database, records, purged=frozenset({"aud_test_000002"}))
    path = tmp_path / "audit.jsonl"
    sink = FileSink(
        name="archive", type="file", path=str(path), start="beginning", include_content=False, batch_records=3
    )
    gateway = forwarder(database, sink)
    try:
        await gateway.start()
        await eventually(lambda: gateway.stats()["archive"]["cursor"] == 7)
    finally:
        await gateway.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["id"] for line in lines] == ids(1, 7)
    assert lines[1]["purged"] is True and "principal" not in lines[1] and lines[1]["record_hash"]
    assert all("content" not in line for line in lines) and lines[5]["action"] == "create"
    stats = gateway.stats()["archive"]
    assert stats["stubs"] == 1 and stats["batches"] == 3 and stats["delivered"] == 7


async def test_one_replica_at_a_time_delivers_a_sink(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)  # two processes' engines
    receiver = await Receiver().start()
    sink = hook(receiver, start="beginning", batch_records=7)
    a, b = forwarder(first, sink, owner="gw-a", lease=5.0), forwarder(second, sink, owner="gw-b", lease=5.0)
    try:
        await a.start()
        await eventually(lambda: a.stats()["hook"]["holding"])
        await b.start()
        for n in range(1, 61, 10):
            await add_requests(first, n, 10)
            await asyncio.sleep(0.05)
        await eventually(lambda: a.stats()["hook"]["cursor"] == 60)
        assert receiver.ids() == ids(1, 60)  # each once, in order: no second deliverer
        assert b.stats()["hook"]["delivered"] == 0 and not b.stats()["hook"]["holding"]

        await a.close()  # gives the lease back: b takes over at its next try
        await eventually(lambda: b.stats()["hook"]["holding"])
        await add_requests(second, 61, 5)
        await eventually(lambda: b.stats()["hook"]["cursor"] == 65)
        assert receiver.ids() == ids(1, 65) and b.stats()["hook"]["delivered"] == 5
        owner = await cursor_of(second, "hook")
        assert owner is not None and owner["lease_owner"] == "gw-b" and owner["seq"] == 65
    finally:
        await a.close()
        await b.close()
        await receiver.close()
        await first.close()
        await second.close()


async def test_a_dead_owners_lease_expires(database: Database) -> None:
    await add_requests(database, 1, 4)
    now = datetime.now(UTC)
    async with database.engine.begin() as conn:  # a process that died holding the lease
        await conn.execute(
            insert(audit_cursors).values(
                name="hook", seq=1, lease_owner="gw-dead", lease_until=now + timedelta(hours=1), updated_at=now
            )
        )
    receiver = await Receiver().start()
    gateway = forwarder(database, hook(receiver), lease=0.3)
    try:
        await gateway.start()
        await asyncio.sleep(0.5)  # several tries (every 0.1 s), all refused while the lease runs
        assert receiver.received == [] and not gateway.stats()["hook"]["holding"]
        held = await cursor_of(database, "hook")
        assert held is not None and held["lease_owner"] == "gw-dead"

        async with database.engine.begin() as conn:  # an hour later
            await conn.execute(update(audit_cursors).values(lease_until=now - timedelta(seconds=1)))
        await eventually(lambda: len(receiver.received) == 3)
        assert receiver.ids() == ids(2, 4)  # from the dead owner's cursor on
        taken = await cursor_of(database, "hook")
        assert taken is not None and taken["lease_owner"] == "gw-a"
    finally:
        await gateway.close()
        await receiver.close()


async def test_a_failing_receiver_is_retried_and_holds_up_no_other_sink(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate.audit")
    await add_requests(database, 1, 4)
    flaky = await Receiver(script=[500, 500, (429, {"Retry-After": "0"})]).start()
    siem = await Receiver(kind="hec").start()
    broken = SplunkHecSink(
        name="siem", type="splunk_hec", url=siem.url, token="not-the-token", start="beginning", batch_records=2
    )
    gateway = forwarder(database, hook(flaky, start="beginning"), broken)
    try:
        await gateway.start()
        await eventually(lambda: len(flaky.received) == 4)
        assert flaky.ids() == ids(1, 4) and flaky.requests == 4  # 3 refusals, then one delivery
        stats = gateway.stats()
        assert stats["hook"]["failures"] == 3 and stats["hook"]["last_error"] == "HTTP 429"
        assert stats["hook"]["failing_since"] is None and stats["hook"]["delivered"] == 4
        await eventually(lambda: gateway.stats()["siem"]["failures"] >= 3)
        assert gateway.stats()["siem"]["last_error"] == "HTTP 403: Invalid token (code 4)"
        assert gateway.stats()["siem"]["delivered"] == 0 and siem.received == []
        cursor = await cursor_of(database, "siem")
        assert cursor is not None and cursor["seq"] == 0
    finally:
        await gateway.close()
        await flaky.close()
        await siem.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "audit sink siem (splunk_hec)" in logged and "Invalid token" in logged
    assert "audit sink hook works again (3 failed attempts" in logged
    assert SECRET not in logged and "not-the-token" not in logged
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "audit sink siem" in r.getMessage()]
    assert len(errors) == 1  # rate-limited: at most one line per sink every 30 s


async def test_delivery_is_at_least_once_across_a_restart(database: Database) -> None:
    await add_requests(database, 1, 3)
    receiver = await Receiver().start()
    sink = hook(receiver, start="beginning")
    first = forwarder(database, sink, owner="gw-a")
    try:
        await first.start()
        await eventually(lambda: first.stats()["hook"]["cursor"] == 3)
        await first.close()

        await add_requests(database, 4, 3)
        receiver.hold = asyncio.Event()  # the receiver stores the batch, then the process stops before its answer
        second = forwarder(database, sink, owner="gw-b")
        await second.start()
        await receiver.arrived.wait()
        await eventually(lambda: len(receiver.received) == 6)
        await second.close()
        cursor = await cursor_of(database, "hook")
        assert cursor is not None and cursor["seq"] == 3  # not advanced: the delivery was never confirmed
        receiver.hold.set()
        receiver.hold = None

        third = forwarder(database, sink, owner="gw-c")
        await third.start()
        await eventually(lambda: third.stats()["hook"]["cursor"] == 6)
        await third.close()
    finally:
        await receiver.close()
    counts = Counter(receiver.ids())
    assert set(counts) == set(ids(1, 6))
    assert [counts[i] for i in ids(1, 6)] == [1, 1, 1, 2, 2, 2]  # only the unconfirmed batch twice
    cursor = await cursor_of(database, "hook")
    assert cursor is not None and cursor["seq"] == 6


async def test_a_batch_too_large_for_the_receiver_goes_in_halves(database: Database) -> None:
    await add_requests(database, 1, 9)
    picky = await Receiver(max_records=2).start()
    small = await Receiver().start()
    gateway = forwarder(
        database,
        hook(picky, start="beginning", batch_records=8),
        hook(small, name="small", start="beginning", max_batch_bytes=1024),  # a record is ~750 bytes
    )
    try:
        await gateway.start()
        await eventually(lambda: all(s["cursor"] == 9 for s in gateway.stats().values()))
    finally:
        await gateway.close()
        await picky.close()
        await small.close()
    assert picky.ids() == ids(1, 9) and small.ids() == ids(1, 9)
    assert small.requests == 9 and gateway.stats()["small"]["batches"] == 9


async def test_splunk_hec_gets_events_without_content(database: Database) -> None:
    await add_requests(database, 1, 3)
    siem = await Receiver(kind="hec").start()
    sink = SplunkHecSink(
        name="siem", type="splunk_hec", url=siem.url, token=HEC_TOKEN, index="wardgate", start="beginning"
    )
    gateway = forwarder(database, sink.model_copy(update={"include_content": False}))
    try:
        await gateway.start()
        await eventually(lambda: len(siem.received) == 3)
    finally:
        await gateway.close()
        await siem.close()
    assert siem.ids() == ids(1, 3) and all("content" not in e for e in siem.received)
    assert {e["index"] for e in siem.events} == {"wardgate"}


def test_duplicate_sink_names_are_refused(database: Database) -> None:
    sink = FileSink(name="twice", type="file", path="/tmp/a")
    with pytest.raises(ValueError, match="used 2 times"):
        AuditForwarder(database, [sink, sink.model_copy(update={"path": "/tmp/b"})], "gw-a")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_database_outage_is_waited_out(database_url: str, database: Database) -> None:
    url = make_url(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    proxy = ThreadedTcpProxy(url.port or 5432)  # a stop cuts every connection and refuses new ones
    proxy.start()
    proxied = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    receiver = await Receiver().start()
    gateway = forwarder(proxied, hook(receiver, start="beginning"), lease=1.5)
    try:
        await add_requests(database, 1, 3)
        await gateway.start()
        await eventually(lambda: gateway.stats()["hook"]["cursor"] == 3)

        proxy.stop()  # the outage begins; the trail keeps growing (written here without the proxy)
        await add_requests(database, 4, 3)
        await eventually(lambda: gateway.stats()["hook"]["failures"] >= 2)
        assert gateway.stats()["hook"]["last_error"].startswith("database: ")
        assert receiver.ids() == ids(1, 3)

        proxy.start()  # the database is back
        await eventually(lambda: gateway.stats()["hook"]["cursor"] == 6)
        assert sorted(set(receiver.ids())) == ids(1, 6)  # nothing lost (a batch may come twice)
        assert gateway.stats()["hook"]["failing_since"] is None
    finally:
        await gateway.close()
        await receiver.close()
        await proxied.close()
        proxy.close()
