"""``GET /admin/v1/spend`` and ``/spend/records`` in the real app on SQLite and PostgreSQL: reports with filters
and group-by (team names beside ids), CSV, paging, bad parameters as 400s, and who sees which team's spend (org
admins and auditors all of it; members, viewers and team keys only their team's; another team answers 404)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from test_admin_keys_harness import PLATFORM, SEARCH, Gate, gate_fixture  # noqa: F401

from wardgate.spend.record import SpendRecord
from wardgate.spend.ship import write_batch

NOW = datetime.now(UTC).replace(microsecond=0)


def spend(i: int, team: str | None, model: str, cost: str, **fields: Any) -> SpendRecord:
    return SpendRecord(
        id=f"spend_admin_{i}",
        at=NOW - timedelta(hours=i),
        team_id=team,
        key_id=f"key_{i % 2}",
        model=model,
        provider="sim",
        input_tokens=10 * i,
        output_tokens=i,
        cost_usd=Decimal(cost),
        **fields,
    )


RECORDS = [
    spend(1, PLATFORM, "chat", "0.100000000", tags=("nightly",)),
    spend(2, PLATFORM, "reasoning", "0.250000000"),
    spend(3, SEARCH, "chat", "1.000000000", tags=("nightly",)),
    spend(4, None, "chat", "0.000000000", cost_known=False),  # a master-key call: no team
    spend(200, PLATFORM, "chat", "5.000000000"),  # 200 hours ago: outside 7d
]


async def seeded(gate: Gate) -> Gate:
    assert gate.state.db is not None
    await write_batch(gate.state.db, RECORDS)
    return gate


def report(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_reports_group_filter_and_total(gate: Gate) -> None:
    await seeded(gate)
    by_team = report(await gate.call("GET", "/spend", params={"since": "7d", "group_by": "team"}))
    assert by_team["object"] == "spend_report" and by_team["group_by"] == ["team"]
    rows = {row["team"]: row for row in by_team["data"]}
    assert rows[SEARCH]["cost_usd"] == "1.000000000" and rows[SEARCH]["team_name"] == "search"
    assert rows[PLATFORM]["cost_usd"] == "0.350000000" and rows[PLATFORM]["requests"] == 2
    assert rows[None]["unpriced_requests"] == 1 and rows[None]["team_name"] is None
    assert by_team["totals"]["cost_usd"] == "1.350000000" and by_team["totals"]["requests"] == 4

    everything = report(await gate.call("GET", "/spend"))
    assert everything["totals"]["cost_usd"] == "6.350000000" and everything["since"] is None

    by_name = report(await gate.call("GET", "/spend", params={"team": "platform", "group_by": "model,team"}))
    assert {(r["model"], r["team"]) for r in by_name["data"]} == {("chat", PLATFORM), ("reasoning", PLATFORM)}
    tagged = report(await gate.call("GET", "/spend", params={"tag": "nightly", "since": "7d", "group_by": "tag"}))
    assert tagged["source"] == "rows" and tagged["data"][0]["tag"] == "nightly"
    assert tagged["data"][0]["cost_usd"] == tagged["totals"]["cost_usd"] == "1.100000000"
    all_tags = report(await gate.call("GET", "/spend", params={"since": "7d", "group_by": "tag"}))
    assert [row["tag"] for row in all_tags["data"]] == ["nightly"]
    assert all_tags["totals"]["cost_usd"] == "1.350000000"  # the range's total: untagged requests included
    daily = report(await gate.call("GET", "/spend", params={"since": "2d", "group_by": "day", "model": "chat"}))
    assert all(row["day"].endswith("+00:00") for row in daily["data"])


async def test_csv_and_records(gate: Gate) -> None:
    await seeded(gate)
    answer = await gate.call("GET", "/spend", params={"since": "7d", "group_by": "team", "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(lines[0])[:3] == ["team", "team_name", "requests"]
    assert sum(Decimal(line["cost_usd"]) for line in lines) == Decimal("1.35")

    first = report(await gate.call("GET", "/spend/records", params={"limit": 2}))
    assert [r["id"] for r in first["data"]] == ["spend_admin_200", "spend_admin_4"] and first["has_more"]
    rest = report(await gate.call("GET", "/spend/records", params={"limit": 2, "after": first["next_after"]}))
    assert [r["id"] for r in rest["data"]] == ["spend_admin_3", "spend_admin_2"]
    last = report(await gate.call("GET", "/spend/records", params={"limit": 2, "after": rest["next_after"]}))
    assert [r["id"] for r in last["data"]] == ["spend_admin_1"] and not last["has_more"]
    assert last["data"][0]["cost_usd"] == "0.100000000" and last["data"][0]["tags"] == ["nightly"]
    exported = await gate.call("GET", "/spend/records", params={"format": "csv", "team": "search"})
    assert exported.text.splitlines()[0].startswith("id,request_id,at,") and len(exported.text.splitlines()) == 2


async def test_bad_parameters_are_400s(gate: Gate) -> None:
    for params, param in (
        ({"since": "last tuesday"}, "since"),
        ({"until": "7x"}, "until"),
        ({"since": "1d", "until": "2d"}, "since"),
        ({"group_by": "team,colour"}, "group_by"),
        ({"group_by": "day,hour"}, "group_by"),
    ):
        answer = await gate.call("GET", "/spend", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"]["param"] == param
    assert (await gate.call("GET", "/spend", params={"format": "xml"})).status_code == 400
    assert (await gate.call("GET", "/spend/records", params={"after": "nonsense"})).status_code == 400


async def test_who_sees_which_spend(gate: Gate) -> None:
    await seeded(gate)
    params = {"since": "7d", "group_by": "team"}

    def teams(answer: dict[str, Any]) -> set[str | None]:
        return {row["team"] for row in answer["data"]}

    assert teams(report(await gate.call("GET", "/spend", who="audrey", params=params))) == {PLATFORM, SEARCH, None}
    assert teams(report(await gate.call("GET", "/spend", who="olga", params=params))) == {PLATFORM, SEARCH, None}
    for person in ("alice", "carol", "vera"):  # member, team admin, viewer of platform
        seen = report(await gate.call("GET", "/spend", who=person, params=params))
        assert teams(seen) == {PLATFORM} and seen["totals"]["cost_usd"] == "0.350000000", person
    assert teams(report(await gate.call("GET", "/spend", who="dave", params=params))) == {SEARCH}
    assert report(await gate.call("GET", "/spend", who="nobody", params=params))["data"] == []

    hidden = await gate.call("GET", "/spend", who="alice", params={"team": "search"})
    assert hidden.status_code == 404 and hidden.json()["error"]["param"] == "team"
    hidden_rows = await gate.call("GET", "/spend/records", who="dave", params={"team": PLATFORM})
    assert hidden_rows.status_code == 404
    rows = report(await gate.call("GET", "/spend/records", who="dave"))
    assert {r["team_id"] for r in rows["data"]} == {SEARCH}

    key = (await gate.create(role="member"))["key"]  # a platform key sees platform's spend only
    assert teams(report(await gate.call("GET", "/spend", who=key, params=params))) == {PLATFORM}
    assert (await gate.call("GET", "/spend", who="wg-not-a-key", params=params)).status_code == 401
