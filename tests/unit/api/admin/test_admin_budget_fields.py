"""Budgets on keys, teams and projects through the admin API (SQLite and PostgreSQL): one strict ``BudgetSet``
(``param`` names a bad field), stored compactly, cleared with ``{}``, never null, recorded before/after; the RBAC of
limits (a team admin may not set its own team's budget, but sets its projects' and keys'); and a change reaching
``Principal.budgets`` of a key through the identity cache, an invalid stored value being ignored."""

from __future__ import annotations

from typing import Any

import pytest
from admin_org_harness import AdminApi, admin_api_fixture  # noqa: F401
from sqlalchemy import update

from wardgate.config.budgets_config import BudgetSet
from wardgate.core.keys import hash_key
from wardgate.core.types import Role
from wardgate.storage.schema import teams

V1 = "/admin/v1"


async def team(api: AdminApi, name: str = "platform", **extra: Any) -> dict[str, Any]:
    made: dict[str, Any] = await api.ok("POST", f"{V1}/teams", {"name": name, **extra})
    return made


async def test_budgets_are_stored_compactly_cleared_and_recorded(admin_api: AdminApi) -> None:
    made = await team(admin_api, budgets={"amount_usd": 500, "period": "monthly", "alerts": [0.8, 1.0]})
    assert made["budgets"] == {"amount_usd": 500.0}
    path = f"{V1}/teams/{made['id']}"
    changed = await admin_api.ok("PATCH", path, {"budgets": {"amount_usd": 20, "period": "daily", "mode": "audit"}})
    assert changed["budgets"] == {"amount_usd": 20.0, "period": "daily", "mode": "audit"}
    assert (await admin_api.ok("PATCH", path, {"budgets": {}}))["budgets"] == {}
    records = await admin_api.changes(made["id"])
    assert [r["action"] for r in records] == ["create", "update", "update"]
    assert (records[1]["before"]["budgets"], records[2]["after"]["budgets"]) == ({"amount_usd": 500.0}, {})


@pytest.mark.parametrize(
    ("budgets", "param"),
    [
        ({"period": "daily"}, "budgets.amount_usd"),
        ({"amount_usd": 0}, "budgets.amount_usd"),
        ({"amount_usd": 5, "period": "hourly"}, "budgets.period"),
        ({"amount_usd": 5, "mode": "block"}, "budgets.mode"),
        ({"amount_usd": 5, "alerts": [0]}, "budgets"),
        ({"amount_usd": 5, "usd_per_day": 5}, "budgets.usd_per_day"),
        ([1], "budgets"),
        (None, "budgets"),
    ],
)
async def test_invalid_budgets_are_refused_everywhere(admin_api: AdminApi, budgets: Any, param: str) -> None:
    made = await team(admin_api)
    project = await admin_api.ok("POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots"})
    key = await admin_api.ok("POST", f"{V1}/keys", {"team": made["id"]})
    calls = [
        ("POST", f"{V1}/teams", {"name": "other", "budgets": budgets}),
        ("PATCH", f"{V1}/teams/{made['id']}", {"budgets": budgets}),
        ("POST", f"{V1}/teams/{made['id']}/projects", {"name": "p2", "budgets": budgets}),
        ("PATCH", f"{V1}/projects/{project['id']}", {"budgets": budgets}),
        ("POST", f"{V1}/keys", {"team": made["id"], "budgets": budgets}),
        ("PATCH", f"{V1}/keys/{key['id']}", {"budgets": budgets}),
    ]
    for method, path, body in calls:
        reply = await admin_api.call(method, path, body)
        assert reply.status == 400, (method, path, reply.body)
        assert reply.error["type"] == "invalid_request_error" and reply.error["param"] == param, reply.body
    assert (await admin_api.ok("GET", f"{V1}/keys/{key['id']}"))["budgets"] == {}


async def test_team_admins_budget_their_keys_and_projects_but_not_their_team(admin_api: AdminApi) -> None:
    made = await team(admin_api)
    ta = admin_api.act_as("ta", teams={made["id"]: Role.TEAM_ADMIN})
    member = admin_api.act_as("member", teams={made["id"]: Role.MEMBER})
    budget = {"amount_usd": 10}
    refused = await admin_api.call("PATCH", f"{V1}/teams/{made['id']}", {"budgets": budget}, as_=ta)
    assert refused.status == 403 and refused.error["param"] == "budgets"
    project = await admin_api.ok(
        "POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots", "budgets": budget}, as_=ta
    )
    assert project["budgets"] == {"amount_usd": 10.0}
    key = await admin_api.ok("POST", f"{V1}/keys", {"team": made["id"], "user_id": None}, as_=ta)
    done = await admin_api.ok("PATCH", f"{V1}/keys/{key['id']}", {"budgets": budget}, as_=ta)
    assert done["budgets"] == {"amount_usd": 10.0}
    denied = await admin_api.call("PATCH", f"{V1}/projects/{project['id']}", {"budgets": {}}, as_=member)
    assert denied.status == 403


async def test_budget_changes_reach_the_principals_of_keys(admin_api: AdminApi) -> None:
    made = await team(admin_api, budgets={"amount_usd": 100})
    project = await admin_api.ok(
        "POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots", "budgets": {"amount_usd": 5, "period": "daily"}}
    )
    key = await admin_api.ok(
        "POST", f"{V1}/keys", {"team": made["id"], "project_id": project["id"], "budgets": {"amount_usd": 1}}
    )
    identity = admin_api.state.identity
    assert identity is not None
    principal = identity.lookup(hash_key(key["key"]))
    assert principal is not None
    assert dict(principal.budgets) == {
        "key": BudgetSet(amount_usd=1),
        "team": BudgetSet(amount_usd=100),
        "project": BudgetSet(amount_usd=5, period="daily"),
    }
    assert principal.limits == {}
    await admin_api.ok("PATCH", f"{V1}/teams/{made['id']}", {"budgets": {"amount_usd": 200, "mode": "audit"}})
    await admin_api.ok("PATCH", f"{V1}/projects/{project['id']}", {"budgets": {}})
    after = identity.lookup(hash_key(key["key"]))
    assert after is not None
    assert dict(after.budgets) == {"key": BudgetSet(amount_usd=1), "team": BudgetSet(amount_usd=200, mode="audit")}
    assert identity.team_budget(made["id"]) == BudgetSet(amount_usd=200, mode="audit")

    db = admin_api.state.db
    assert db is not None
    async with db.engine.begin() as conn:  # written by hand or another version: ignored, never a failed login
        await conn.execute(update(teams).where(teams.c.id == made["id"]).values(budgets={"usd": 1}))
    assert await identity.refresh(full=True)
    ignored = identity.lookup(hash_key(key["key"]))
    assert ignored is not None and dict(ignored.budgets) == {"key": BudgetSet(amount_usd=1)}
