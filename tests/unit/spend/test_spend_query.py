"""Spend reports on SQLite and PostgreSQL against a reference computed in Python from the records themselves:
ranges cut into rollup and row pieces (aligned, unaligned, open-ended), filters, group-by on rollup and row-only
dimensions, tags, time series; ledger rows paged; CSV and JSON export; time and group-by parsing."""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from spend_fixtures import T0, make

from wardgate.spend.export import ROW_COLUMNS, report_csv, report_json, rows_json, to_csv
from wardgate.spend.query import (
    DIMENSIONS,
    SUMS,
    TIME_GROUPS,
    SpendQuery,
    list_rows,
    parse_group_by,
    parse_time,
    plan,
    run_query,
)
from wardgate.spend.record import SpendRecord
from wardgate.spend.ship import bucket_start, write_batch
from wardgate.storage.database import Database

RECORDS = [make(i, at=T0 + timedelta(seconds=379 * i, microseconds=i)) for i in range(800)]  # about 3.5 days


def value(r: SpendRecord, dim: str) -> Any:
    return r.status if dim == "status" else getattr(r, DIMENSIONS[dim])


def reference(query: SpendQuery) -> dict[tuple[Any, ...], dict[str, Any]]:
    found: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {n: Decimal(0) if n == "cost_usd" else 0 for n in SUMS}
    )
    for r in RECORDS:
        if (query.since and r.at < query.since) or (query.until and r.at >= query.until):
            continue
        if any(
            not (set(r.tags) & values if dim == "tag" else str(value(r, dim)) in values)
            for dim, values in query.filters.items()
        ):
            continue
        keys: list[tuple[Any, ...]] = [()]
        for dim in query.group_by:
            if dim == "tag":
                keys = [(*k, tag) for k in keys for tag in r.tags]
            elif dim in TIME_GROUPS:
                keys = [(*k, bucket_start(r.at, dim)) for k in keys]
            else:
                keys = [(*k, value(r, dim)) for k in keys]
        for key in keys:
            sums = found[key]
            sums["requests"] += 1
            sums["unpriced_requests"] += 0 if r.cost_known else 1
            for name in SUMS[2:-1]:
                sums[name] += getattr(r, name)
            sums["cost_usd"] += r.cost_usd
    return dict(found)


def as_map(groups: list[dict[str, Any]], group_by: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(g[d] for d in group_by): {n: g[n] for n in SUMS} for g in groups}


@pytest.fixture
async def db(database: Database) -> Database:
    for start in range(0, len(RECORDS), 200):
        await write_batch(database, RECORDS[start : start + 200])
    return database


async def check(db: Database, query: SpendQuery) -> str:
    async with db.engine.connect() as conn:
        report = await run_query(conn, query)
    expected = reference(query)
    assert as_map(report.groups, query.group_by) == expected, query
    if "tag" in query.group_by:  # overlapping groups: the totals count each request once
        expected_totals = reference(replace(query, group_by=())).get((), {"requests": 0, "cost_usd": Decimal(0)})
        assert report.totals["requests"] == expected_totals["requests"]
        assert report.totals["cost_usd"] == expected_totals["cost_usd"]
    else:
        assert report.totals["requests"] == sum(s["requests"] for s in expected.values())
        assert report.totals["cost_usd"] == sum((s["cost_usd"] for s in expected.values()), Decimal(0))
    time_group = next((g for g in query.group_by if g in TIME_GROUPS), None)
    order = [g[time_group] for g in report.groups] if time_group else [-g["cost_usd"] for g in report.groups]
    assert order == sorted(order)  # most expensive first; in time order for a time series
    return report.source


def test_plan_covers_the_range_with_the_coarsest_pieces() -> None:
    since, until = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC), datetime(2026, 3, 5, 12, 34, 56, tzinfo=UTC)
    pieces = plan(SpendQuery(since, until))
    assert [p.level for p in pieces] == [None, "minute", "hour", "day", "hour", "minute", None]
    assert pieces[0].start == since and pieces[-1].end == until
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    aligned = plan(SpendQuery(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)))
    assert [p.level for p in aligned] == ["day"]
    assert [p.level for p in plan(SpendQuery(since, until, group_by=("hour",)))] == [
        None,
        "minute",
        "hour",
        "minute",
        None,
    ]
    assert [p.level for p in plan(SpendQuery(since, until, {"tag": frozenset({"x"})}))] == [None]
    assert [p.level for p in plan(SpendQuery(since, until, group_by=("deployment",)))] == [None]
    assert plan(SpendQuery(until, since)) == []


async def test_rollup_backed_reports_match_the_records(db: Database) -> None:
    rng = random.Random(7)
    groupings: list[tuple[str, ...]] = [
        (),
        ("team",),
        ("team", "model"),
        ("key",),
        ("provider", "user"),
        ("agent", "app", "project"),
    ]
    for group_by in groupings:
        start = T0 + timedelta(seconds=rng.randrange(0, 200_000))
        query = SpendQuery(start, start + timedelta(seconds=rng.randrange(1, 150_000)), group_by=group_by)
        assert "rollups" in await check(db, query)
    assert await check(db, SpendQuery(group_by=("team",))) == "rollups"  # open-ended: whole days only
    day = T0.replace(hour=0)
    assert await check(db, SpendQuery(day, day + timedelta(days=4), group_by=("model",))) == "rollups"
    filtered = {"team": frozenset({"team_a", "team_c"}), "model": frozenset({"gpt-4o", "gemini-pro"})}
    assert "rollups" in await check(db, SpendQuery(T0 + timedelta(hours=5, seconds=7), None, filtered, ("key",)))


async def test_time_series(db: Database) -> None:
    since = T0 + timedelta(minutes=17, seconds=3)
    for unit in TIME_GROUPS:
        await check(db, SpendQuery(since, since + timedelta(hours=30), group_by=("team", unit)))
    await check(db, SpendQuery(since, since + timedelta(hours=30), {"tag": frozenset({"t1"})}, ("hour",)))


async def test_row_only_dimensions_tags_and_status(db: Database) -> None:
    since, until = T0 + timedelta(minutes=30), T0 + timedelta(days=2, minutes=1)
    assert await check(db, SpendQuery(since, until, group_by=("tag",))) == "rows"
    assert await check(db, SpendQuery(since, until, {"tag": frozenset({"t0"})}, ("team",))) == "rows"
    await check(db, SpendQuery(since, until, {"status": frozenset({"429"})}, ("deployment", "endpoint")))
    await check(db, SpendQuery(since, until, {"org": frozenset({"org_acme"})}, ("upstream_model", "status")))
    async with db.engine.connect() as conn:
        with pytest.raises(ValueError, match="status"):
            await run_query(conn, SpendQuery(since, until, {"status": frozenset({"ok"})}))


async def test_rows_are_paged_in_order(db: Database) -> None:
    query = SpendQuery(T0 + timedelta(hours=1), T0 + timedelta(hours=9), {"team": frozenset({"team_b"})})
    expected = [r.id for r in RECORDS if query.since <= r.at < query.until and r.team_id == "team_b"]  # type: ignore[operator]
    seen: list[str] = []
    after = None
    async with db.engine.connect() as conn:
        while page := await list_rows(conn, query, limit=7, after=after):
            seen += [row["id"] for row in page]
            after = (page[-1]["at"], page[-1]["id"])
        first = (await list_rows(conn, query, limit=1))[0]
    assert seen == expected and len(seen) > 7
    assert first["at"].tzinfo is not None and isinstance(first["cost_usd"], Decimal)


async def test_exports(db: Database) -> None:
    query = SpendQuery(T0, T0 + timedelta(days=1), group_by=("team", "day"))
    async with db.engine.connect() as conn:
        report = await run_query(conn, query)
        rows = await list_rows(conn, SpendQuery(T0, T0 + timedelta(hours=1)), limit=5)
    document = report_json(report)
    assert document["object"] == "spend_report" and document["group_by"] == ["team", "day"]
    first = document["data"][0]
    assert isinstance(first["cost_usd"], str) and "E" not in first["cost_usd"] and first["day"].endswith("+00:00")
    assert Decimal(document["totals"]["cost_usd"]) == report.totals["cost_usd"]
    parsed = list(csv.DictReader(io.StringIO(report_csv(document))))
    assert list(parsed[0]) == ["team", "day", *SUMS] and len(parsed) == len(document["data"])
    assert sum(Decimal(line["cost_usd"]) for line in parsed) == report.totals["cost_usd"]

    exported = rows_json(rows)
    assert list(exported[0]) == list(ROW_COLUMNS) and isinstance(exported[0]["at"], str)
    lines = list(csv.reader(io.StringIO(to_csv(ROW_COLUMNS, exported))))
    assert lines[0] == list(ROW_COLUMNS) and len(lines) == 6


def test_csv_cells_never_run_as_formulas() -> None:
    text = to_csv(["a", "b", "c", "d"], [{"a": "=HYPERLINK(1)", "b": "-5", "c": ["x", "y"], "d": True}])
    assert text.splitlines()[1] == "'=HYPERLINK(1),-5,x;y,true"


def test_parsing_times_and_groupings() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_time("7d", now) == now - timedelta(days=7)
    assert parse_time("24h", now) == parse_time("1d", now)
    assert parse_time("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("2026-03-01T05:00:00+02:00", now) == datetime(2026, 3, 1, 3, tzinfo=UTC)
    assert parse_time("2026-03-01T05:00:00Z", now).tzinfo == UTC
    assert parse_time("now", now) == now
    for bad in ("yesterday", "7x", ""):
        with pytest.raises(ValueError):
            parse_time(bad, now)
    assert parse_group_by("team, model") == ("team", "model")
    assert parse_group_by(["team", "day,team"]) == ("team", "day")
    assert parse_group_by(None) == ()
    with pytest.raises(ValueError, match="cannot group by colour"):
        parse_group_by("team,colour")
    with pytest.raises(ValueError, match="at most one"):
        parse_group_by("day,hour")


async def test_an_empty_range_has_no_groups(db: Database) -> None:
    far = datetime(2001, 1, 1, 0, 0, 7, tzinfo=UTC)
    async with db.engine.connect() as conn:
        for group_by in ((), ("team",), ("tag",)):
            report = await run_query(conn, SpendQuery(far, far + timedelta(days=3), group_by=group_by))
            assert report.groups == [] and report.totals["requests"] == 0 and report.totals["cost_usd"] == 0


def test_query_times_are_utc() -> None:
    paris = timezone(timedelta(hours=1))
    query = SpendQuery(datetime(2026, 3, 2, 1, 30, tzinfo=paris), datetime(2026, 3, 3, 0, 0))
    assert query.since == datetime(2026, 3, 2, 0, 30, tzinfo=UTC) and query.since.tzinfo is UTC
    assert query.until == datetime(2026, 3, 3, tzinfo=UTC)
