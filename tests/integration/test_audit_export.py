"""``wardgate audit export`` on the trail a real gateway wrote (SQLite data directory and PostgreSQL): two teams and
their keys made through the admin API (admin records), requests through the openai SDK with each key (request
records), then the export as a person runs it: JSON lines byte-identical to the stored records (each line's SHA-256
is the row's ``record_hash``), oldest first; CSV with one row per record; filters by team (id or name), kind and
time; ``--no-content``; ``--output`` written whole; bad input and an unreachable database as one clear line."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner
from gateway_process import GatewayProcess
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from wardgate.cli import main
from wardgate.cli.audit_export import CSV_COLUMNS
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log

MASTER = "wg-audit-export-master"
PG_HOST = os.environ.get("WARDGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
CONFIG = {
    "audit": {"content": "full"},
    "providers": [{"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 100000}],
    "models": [{"name": "chat", "deployments": [{"provider": "sim", "model": "simulated-chat"}]}],
}


@dataclass
class Trail:
    workdir: Path
    env: dict[str, str]
    teams: dict[str, str]
    """team name → id"""
    rows: list[dict[str, Any]]
    """``audit_log`` as the gateway left it, in ``seq`` order."""


def _admin(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/admin/v1{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {MASTER}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        found: dict[str, Any] = json.loads(answer.read())
        return found


async def _pg(statement: str) -> None:
    engine = create_async_engine(PG_HOST.replace("postgresql://", "postgresql+asyncpg://") + "/postgres")
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _rows(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            found = await conn.execute(select(audit_log).order_by(audit_log.c.seq))
            return [dict(row) for row in found.mappings()]
    finally:
        await db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def trail(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trail]:
    workdir = tmp_path_factory.mktemp("audit-export")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
    env["WARDGATE_DATA_DIR"] = str(workdir / "data")
    pg_name = None
    if request.param == "postgresql":
        pg_name = f"wg_audit_export_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(f"CREATE DATABASE {pg_name}"))
        env["WARDGATE_DATABASE_URL"] = f"{PG_HOST}/{pg_name}"
    url = env.get("WARDGATE_DATABASE_URL") or f"sqlite:///{workdir / 'data' / 'wardgate.db'}"
    gateway = GatewayProcess(workdir, CONFIG, master_key=MASTER, env={k: v for k, v in env.items() if "DATABASE" in k})
    try:
        gateway.start()
        teams = {name: _admin(gateway.url, "/teams", {"name": name})["id"] for name in ("red", "blue")}
        keys = {name: _admin(gateway.url, "/keys", {"team": name, "name": f"{name}-bot"})["key"] for name in teams}
        for name, calls in (("red", 3), ("blue", 2)):
            client = openai.OpenAI(base_url=gateway.base_url, api_key=keys[name], max_retries=0, timeout=20)
            for i in range(calls):
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"{name} {i}"}])
        master = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=20)
        master.chat.completions.create(model="chat", messages=[{"role": "user", "content": "=cmd|' /C calc'!A0"}])
    finally:
        gateway.stop()  # SIGTERM: a clean shutdown ships what the trail still holds
    try:
        yield Trail(workdir, env, teams, asyncio.run(_rows(url)))
    finally:
        if pg_name is not None:
            asyncio.run(_pg(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def export(trail: Trail, *args: str) -> Done:
    """The command in this process (the first test also runs it as its own process, as a person would)."""
    env: dict[str, str | None] = {"WARDGATE_CONFIG": None, "WARDGATE_DATABASE_URL": None}
    env.update({k: v for k, v in trail.env.items() if k.startswith("WARDGATE_")})
    result = CliRunner().invoke(main, ["audit", "export", *args], env=env)
    return Done(result.exit_code, result.stdout, result.stderr)


def jsonl(trail: Trail, *args: str) -> list[dict[str, Any]]:
    done = export(trail, *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_jsonl_is_the_trail_as_stored_oldest_first(trail: Trail) -> None:
    kinds = [row["kind"] for row in trail.rows]
    assert kinds.count("request") == 6 and kinds.count("admin") >= 4  # two teams, two keys
    done = subprocess.run(
        [sys.executable, "-m", "wardgate", "audit", "export"], capture_output=True, text=True, timeout=60, env=trail.env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.encode().splitlines()
    assert [hashlib.sha256(line).hexdigest() for line in lines] == [row["record_hash"] for row in trail.rows]
    assert f"{len(trail.rows)} audit records exported" in done.stderr


def test_filters_by_team_kind_and_time(trail: Trail) -> None:
    red, blue = trail.teams["red"], trail.teams["blue"]
    by_name = jsonl(trail, "--team", "red")
    assert [r["id"] for r in by_name] == [row["id"] for row in trail.rows if row["team_id"] == red]
    assert {r["kind"] for r in by_name} == {"request", "admin"}
    requests = jsonl(trail, "--team", blue, "--kind", "request")
    assert len(requests) == 2 and all(r["principal"]["team_id"] == blue for r in requests)
    both = jsonl(trail, "--team", "red", "--team", "blue", "--kind", "request")
    assert len(both) == 5
    admin = jsonl(trail, "--kind", "admin", "--since", "1h")
    assert admin and all(r["kind"] == "admin" and "actor" in r for r in admin)
    assert jsonl(trail, "--since", "2000-01-01", "--until", "2000-01-02") == []
    assert len(jsonl(trail, "--since", "1d", "--until", "now")) == len(trail.rows)


def test_csv_one_row_per_record(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    done = export(trail, "--format", "csv", "--output", str(out))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert sorted(os.listdir(tmp_path)) == ["audit.csv"]  # the .part file was renamed
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["id"] for r in rows] == [row["id"] for row in trail.rows]
    request = next(r for r in rows if r["kind"] == "request" and r["team_id"] == trail.teams["red"])
    assert request["status"] == "200" and int(request["input_tokens"]) > 0 and request["provider"] == "sim"
    assert json.loads(request["content"])["prompt"]["messages"][0]["content"].startswith("red ")
    assert json.loads(request["attempts"])[0]["deployment"] == "sim/simulated-chat"
    change = next(r for r in rows if r["kind"] == "admin")
    assert change["action"] and change["object_kind"] in ("team", "key") and change["actor_id"]

    bare = list(csv.DictReader(io.StringIO(export(trail, "--format", "csv", "--no-content").stdout)))
    assert len(bare) == len(rows) and all(r["content"] == "" for r in bare)
    empty = export(trail, "--format", "csv", "--since", "2000-01-01", "--until", "2000-01-02")
    assert empty.stdout.strip() == ",".join(CSV_COLUMNS)


def test_content_can_be_left_out(trail: Trail) -> None:
    with_content = [r for r in jsonl(trail, "--kind", "request") if "content" in r]
    assert len(with_content) == 6
    assert all("content" not in r for r in jsonl(trail, "--kind", "request", "--no-content"))


def test_bad_input_is_one_clear_line(trail: Trail) -> None:
    done = export(trail, "--since", "last tuesday")
    assert done.returncode == 2 and "not a time" in done.stderr and "Traceback" not in done.stderr
    done = export(trail, "--since", "1d", "--until", "2d")
    assert done.returncode == 2 and "must be before --until" in done.stderr
    done = export(trail, "--format", "xml")
    assert done.returncode == 2
    unreachable = {**trail.env, "WARDGATE_DATABASE_URL": "postgresql://wg:hunter2@127.0.0.1:1/none"}
    failed = export(Trail(trail.workdir, unreachable, {}, []), "-o", str(trail.workdir / "x.jsonl"))
    assert failed.returncode == 1 and failed.stderr.startswith("error: cannot reach the database")
    assert "hunter2" not in failed.stderr and "Traceback" not in failed.stderr
    assert not (trail.workdir / "x.jsonl").exists() and not (trail.workdir / "x.jsonl.part").exists()
