"""A process recording spend under load (20 records every 2 ms) is stopped from outside:

* SIGTERM: its shutdown (``SpendLedger.close``) ships every record it accepted — none lost;
* SIGTERM while the database is unreachable: nothing ships, everything stays in the spool, and the next ledger on
  that spool directory ships all of it;
* SIGKILL: every record the spool had synced survives (what is lost is at most the documented window), the next
  ledger replays what was not shipped, and nothing is counted twice in rows or rollups.

The gateway's own process is not used yet (the ledger is wired into it separately); the child is the smallest
program that owns a ledger the way the gateway's lifespan does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from gateway_process import free_port
from spend_fixtures import batch, ledger_rows, rollups, summed, totals

from wardgate.spend.ledger import SpendLedger
from wardgate.storage.database import Database

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[2] / "src"
CHILD = """
import asyncio, signal, sys
from pathlib import Path
from spend_fixtures import make
from wardgate.spend.ledger import SpendLedger
from wardgate.storage.database import Database
from wardgate.storage.spool import SpoolOptions

async def main(url: str, spool: str, drain: float) -> None:
    db = Database(url)
    ledger = SpendLedger(db, Path(spool), options=SpoolOptions(sync_interval=0.05), retry_initial=0.05, retry_max=0.2)
    await ledger.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    i = 0
    while not stop.is_set():
        for _ in range(20):
            ledger.record(make(i))
            i += 1
        await asyncio.sleep(0.002)
        if i % 200 == 0:
            print("synced", ledger.snapshot()["spool"]["synced"], flush=True)
    await ledger.close(drain_seconds=drain)
    print("final", i, ledger.stats.recorded, ledger.stats.shipped, flush=True)
    await db.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


def start_child(tmp_path: Path, url: str, drain: float = 20.0) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    args = [sys.executable, str(script), url, str(tmp_path / "spool"), str(drain)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def last_line(child: subprocess.Popen[str], prefix: str) -> list[str]:
    assert child.stdout is not None
    lines = [line.split() for line in child.stdout.read().splitlines() if line.startswith(prefix)]
    assert lines, f"the child printed no {prefix!r} line"
    return lines[-1]


async def test_sigterm_under_load_loses_nothing(database_url: str, database: Database, tmp_path: Path) -> None:
    child = start_child(tmp_path, database_url)
    time.sleep(0.8)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    _, made, recorded, shipped = last_line(child, "final")
    assert int(made) == int(recorded) == int(shipped) > 1000
    assert set(await ledger_rows(database)) == {r.id for r in batch(int(made))}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_sigterm_during_an_outage_leaves_everything_for_the_next_start(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    child = start_child(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/down", drain=0.5)
    time.sleep(0.5)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    _, made, recorded, shipped = last_line(child, "final")
    assert int(made) == int(recorded) > 500 and int(shipped) == 0

    ledger = SpendLedger(database, tmp_path / "spool")
    await ledger.start()
    await ledger.close()
    assert ledger.stats.shipped == int(made)
    assert set(await ledger_rows(database)) == {r.id for r in batch(int(made))}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_sigkill_keeps_what_was_synced_and_replays_it_once(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    child = start_child(tmp_path, database_url)
    time.sleep(0.8)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    synced = int(last_line(child, "synced")[1])
    assert synced > 500

    ledger = SpendLedger(database, tmp_path / "spool")
    await ledger.start()
    await ledger.close()
    ids = set(await ledger_rows(database))
    survived = len(ids)
    assert survived >= synced  # everything synced is there (ids are consecutive: a prefix survived)
    assert ids == {r.id for r in batch(survived)}
    assert summed(await rollups(database, "minute")) == totals(batch(survived))  # replays not double-counted
