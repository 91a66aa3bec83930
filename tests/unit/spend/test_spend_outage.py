"""A PostgreSQL outage: the ledger talks to PostgreSQL through a TCP proxy the test stops (every connection cut,
new ones refused) and starts again. During the outage ``record()`` stays as cheap as ever, records pile up in the
spool, failures are counted and retried with backoff; afterwards the backlog is replayed in order and nothing is
lost or counted twice. The outage here lasts a few seconds; a 30 s one differs only in how many retries (backoff
capped at ``retry_max``) and how many spooled bytes it takes. A ledger started while the database is unreachable
and closed before it comes back leaves everything in the spool for the next start."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from spend_fixtures import batch, count_rows, make, rollups, summed, totals
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError
from tcp_proxy import ThreadedTcpProxy

from wardgate.spend.ledger import SpendLedger, content_error
from wardgate.storage.database import Database
from wardgate.storage.spool import SpoolOptions


async def wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_database_outage_loses_nothing(database_url: str, database: Database, tmp_path: Path) -> None:
    url = make_url(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    proxy = ThreadedTcpProxy(url.port or 5432)  # on its own thread: a stop cuts connections mid-query
    proxy.start()
    proxied = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    ledger = SpendLedger(
        proxied, tmp_path / "spool", options=SpoolOptions(sync_interval=0.01), retry_initial=0.05, retry_max=0.4
    )
    await ledger.start()
    try:
        for record in batch(100):
            ledger.record(record)
        await wait_for(lambda: ledger.stats.shipped == 100, 10)
        assert ledger.stats.shipped == 100

        proxy.stop()  # the outage begins
        outage = time.monotonic()
        for i in range(100, 400):
            start = time.perf_counter()
            ledger.record(make(i))
            assert time.perf_counter() - start < 0.005  # the request path never waits on the database
            if i % 50 == 0:
                await asyncio.sleep(0.4)
        await wait_for(lambda: ledger.stats.failures >= 3, 10)
        assert ledger.stats.failures >= 3 and ledger.stats.refused == 0
        assert await count_rows(database) == 100  # (read directly, not through the proxy)
        assert ledger.pending_bytes > 0
        down_for = time.monotonic() - outage

        proxy.start()  # the database is back
        await wait_for(lambda: ledger.stats.shipped == 400 and ledger.pending_bytes == 0, 15)  # shipped, then acked
        assert ledger.stats.shipped == 400 and ledger.stats.replayed == 0 and ledger.pending_bytes == 0
        assert await count_rows(database) == 400
        assert summed(await rollups(database, "hour")) == totals(batch(400))
        assert down_for > 2
    finally:
        await ledger.close(drain_seconds=2)
        await proxied.close()
        proxy.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_closed_during_an_outage_the_next_start_ships_the_rest(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    refuser = socket.socket()  # bound and never listening: connections are refused for as long as it is held (a
    refuser.bind(("127.0.0.1", 0))  # port merely found free could be taken meanwhile by a server that never answers)
    unreachable = Database(f"postgresql://postgres@127.0.0.1:{refuser.getsockname()[1]}/nothing")
    down = SpendLedger(unreachable, tmp_path / "spool", retry_initial=0.05, retry_max=0.1)
    await down.start()
    for record in batch(250):
        down.record(record)
    started = time.monotonic()
    await down.close(drain_seconds=0.5)  # SIGTERM while the database is down
    assert time.monotonic() - started < 3
    assert down.stats.failures >= 1 and down.stats.shipped == 0 and down.pending_bytes > 50_000
    await unreachable.close()
    refuser.close()

    up = SpendLedger(database, tmp_path / "spool", retry_initial=0.05)
    await up.start()
    await up.close()
    assert up.stats.shipped == 250
    assert await count_rows(database) == 250


def test_outages_are_retried_and_bad_content_is_not() -> None:
    assert not content_error(ConnectionRefusedError(111, "refused"))
    assert not content_error(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert content_error(DataError("INSERT", {}, Exception("numeric field overflow")))
    assert content_error(OverflowError("Python int too large to convert to SQLite INTEGER"))
