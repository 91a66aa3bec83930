"""``wardgate spend report|export`` against a real gateway process (embedded SQLite; the API itself is tested on
both backends in ``tests/unit/api/admin/test_admin_spend.py``): a table with totals, CSV, JSON, a time series,
filters, the row export page by page, and API errors as one line on stderr."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_process import GatewayProcess

from wardgate.cli import main
from wardgate.spend.record import SpendRecord
from wardgate.spend.ship import write_batch
from wardgate.storage.database import Database

NOW = datetime.now(UTC).replace(microsecond=0)
RECORDS = [
    SpendRecord(
        id=f"spend_cli_{i}",
        at=NOW - timedelta(minutes=7 * i),
        team_id=("team_red", "team_blue")[i % 2],
        model=("gpt-4o", "claude")[i % 3 % 2],
        tags=("nightly",) if i % 4 == 0 else (),
        input_tokens=1000 + i,
        output_tokens=100,
        cost_usd=Decimal("0.012345678") * (i + 1),
    )
    for i in range(30)
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("spend-cli")
    process = GatewayProcess(workdir, None).start()
    db = Database(f"sqlite:///{workdir / 'data' / 'wardgate.db'}")

    async def seed() -> None:
        try:
            await write_batch(db, RECORDS)
        finally:
            await db.close()

    asyncio.run(seed())
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def env(gateway: GatewayProcess) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
    found.update(WARDGATE_URL=gateway.url, WARDGATE_ADMIN_KEY=str(gateway.master_key), COLUMNS="200")
    return found


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_report_by_team_as_a_person_runs_it(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wardgate", "spend", "report", "--by", "team", "--since", "7d"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    total = sum((r.cost_usd for r in RECORDS), Decimal(0))
    assert "team_red" in done.stdout and "team_blue" in done.stdout and "total" in done.stdout
    assert f"{total:,.4f}" in done.stdout


def test_report_formats_and_filters(env: dict[str, str]) -> None:
    code, out, err = run(env, "spend", "report", "--by", "team,model", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["group_by"] == ["team", "model"] and len(document["data"]) == 4
    assert Decimal(document["totals"]["cost_usd"]) == sum((r.cost_usd for r in RECORDS), Decimal(0))

    code, out, err = run(env, "spend", "report", "--by", "team", "--team", "team_red", "--format", "csv")
    assert code == 0, err
    lines = list(csv.DictReader(io.StringIO(out)))
    assert [line["team"] for line in lines] == ["team_red"]
    assert Decimal(lines[0]["cost_usd"]) == sum((r.cost_usd for r in RECORDS if r.team_id == "team_red"), Decimal(0))

    code, out, err = run(
        env, "spend", "report", "--by", "hour", "--since", "1d", "--tag", "nightly", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["totals"]["requests"] == sum(1 for r in RECORDS if r.tags)

    code, out, err = run(env, "spend", "report", "--since", "2000-01-01", "--until", "2000-01-02")
    assert code == 0 and "No spend in this range." in err


def test_export_pages_through_every_row(env: dict[str, str]) -> None:
    code, out, err = run(env, "spend", "export", "--since", "1d", "--page-size", "7")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == [r.id for r in reversed(RECORDS)]  # oldest first, one header
    code, out, err = run(env, "spend", "export", "--format", "jsonl", "--team", "team_blue", "--page-size", "4")
    assert code == 0, err
    exported = [json.loads(line) for line in out.splitlines()]
    assert {row["team_id"] for row in exported} == {"team_blue"} and len(exported) == 15


def test_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = run(env, "spend", "report", "--by", "colour")
    assert code == 1 and out == "" and err.startswith("error: 400:") and "colour" in err
    code, _, err = run({**env, "WARDGATE_ADMIN_KEY": "wg-wrong"}, "spend", "report")
    assert code == 1 and err.startswith("error: 401:")
