"""Limits and budgets on keys, teams and projects through the admin API, in process against the real app and
database (SQLite and PostgreSQL): a ``LimitSet`` validated strictly (unknown field or out-of-range number: 400 in
the OpenAI error shape, ``param`` naming the field), stored compactly, cleared with ``{}``, recorded before/after;
RBAC (an org admin sets team limits, a team admin may not raise its own team's, but sets its projects' and keys');
and a change reaching the principal of a key of that team through the identity cache."""

from __future__ import annotations

from typing import Any

import pytest
from admin_org_harness import AdminApi, admin_api_fixture  # noqa: F401

from wardgate.config.limits_config import LimitSet
from wardgate.core.keys import hash_key
from wardgate.core.types import Role

V1 = "/admin/v1"
TEAM_LIMITS = {"tokens_per_minute": 200_000, "concurrent": 20, "mode": "audit"}


async def team(api: AdminApi, name: str = "platform", **extra: Any) -> dict[str, Any]:
    made: dict[str, Any] = await api.ok("POST", f"{V1}/teams", {"name": name, **extra})
    return made


async def test_team_limits_are_stored_compactly_cleared_and_recorded(admin_api: AdminApi) -> None:
    sent = {**TEAM_LIMITS, "count": "total", "on_unavailable": "open"}  # the last two are the defaults
    made = await team(admin_api, limits=sent, budgets={"amount_usd": 500, "period": "monthly"})
    assert (made["limits"], made["budgets"]) == (TEAM_LIMITS, {"amount_usd": 500.0})
    path = f"{V1}/teams/{made['id']}"
    assert (await admin_api.ok("GET", path))["limits"] == TEAM_LIMITS
    assert (await admin_api.ok("GET", f"{V1}/teams"))["data"][0]["limits"] == TEAM_LIMITS

    changed = await admin_api.ok("PATCH", path, {"limits": {"requests_per_minute": 60}})
    assert (changed["limits"], changed["budgets"]) == ({"requests_per_minute": 60}, {"amount_usd": 500.0})
    cleared = await admin_api.ok("PATCH", path, {"limits": {}, "budgets": {}})
    assert (cleared["limits"], cleared["budgets"]) == ({}, {})

    records = await admin_api.changes(made["id"])
    assert [r["action"] for r in records] == ["create", "update", "update"]
    assert records[0]["after"]["limits"] == TEAM_LIMITS
    assert (records[1]["before"]["limits"], records[1]["after"]["limits"]) == (TEAM_LIMITS, {"requests_per_minute": 60})
    assert (records[2]["before"]["limits"], records[2]["after"]["limits"]) == ({"requests_per_minute": 60}, {})


@pytest.mark.parametrize(
    ("limits", "param"),
    [
        ({"rpm": 10}, "limits.rpm"),
        ({"requests_per_minute": -1}, "limits.requests_per_minute"),
        ({"tokens_per_minute": 0}, "limits.tokens_per_minute"),
        ({"concurrent": "many"}, "limits.concurrent"),
        ({"mode": "block"}, "limits.mode"),
        ({"count": "some"}, "limits.count"),
        ([1, 2], "limits"),
    ],
)
async def test_invalid_limits_are_refused_everywhere(admin_api: AdminApi, limits: Any, param: str) -> None:
    made = await team(admin_api)
    project = await admin_api.ok("POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots"})
    key = await admin_api.ok("POST", f"{V1}/keys", {"team": made["id"]})
    calls = [
        ("POST", f"{V1}/teams", {"name": "other", "limits": limits}),
        ("PATCH", f"{V1}/teams/{made['id']}", {"limits": limits}),
        ("POST", f"{V1}/teams/{made['id']}/projects", {"name": "p2", "limits": limits}),
        ("PATCH", f"{V1}/projects/{project['id']}", {"limits": limits}),
        ("POST", f"{V1}/keys", {"team": made["id"], "limits": limits}),
        ("PATCH", f"{V1}/keys/{key['id']}", {"limits": limits}),
    ]
    for method, path, body in calls:
        reply = await admin_api.call(method, path, body)
        assert reply.status == 400, (method, path, reply.body)
        assert reply.error["type"] == "invalid_request_error" and reply.error["param"] == param, reply.body
    assert (await admin_api.ok("GET", f"{V1}/teams/{made['id']}"))["limits"] == {}
    assert (await admin_api.ok("GET", f"{V1}/keys/{key['id']}"))["limits"] == {}


async def test_budgets_must_be_an_object_and_neither_may_be_null(admin_api: AdminApi) -> None:
    made = await team(admin_api)
    project = await admin_api.ok("POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots"})
    key = await admin_api.ok("POST", f"{V1}/keys", {"team": made["id"]})
    reply = await admin_api.call("PATCH", f"{V1}/teams/{made['id']}", {"budgets": [1]})
    assert reply.status == 400 and reply.error["param"] == "budgets"
    for path in (f"{V1}/teams/{made['id']}", f"{V1}/projects/{project['id']}", f"{V1}/keys/{key['id']}"):
        for field in ("limits", "budgets"):
            null = await admin_api.call("PATCH", path, {field: None})
            assert null.status == 400 and field in null.error["message"], (path, null.body)


async def test_key_and_project_limits(admin_api: AdminApi) -> None:
    made = await team(admin_api)
    project = await admin_api.ok(
        "POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots", "limits": {"tokens_per_day": 10**6}}
    )
    assert project["limits"] == {"tokens_per_day": 1_000_000}
    key = await admin_api.ok(
        "POST", f"{V1}/keys", {"team": made["id"], "limits": {"requests_per_minute": 5, "mode": "enforce"}}
    )
    assert key["limits"] == {"requests_per_minute": 5}
    path = f"{V1}/keys/{key['id']}"
    assert (await admin_api.ok("PATCH", path, {"limits": {"concurrent": 1}}))["limits"] == {"concurrent": 1}
    assert (await admin_api.ok("PATCH", path, {"limits": {}}))["limits"] == {}
    records = await admin_api.changes(key["id"])
    assert [(r["before"] or {}).get("limits") for r in records] == [None, {"requests_per_minute": 5}, {"concurrent": 1}]


async def test_only_org_admins_change_team_limits(admin_api: AdminApi) -> None:
    made = await team(admin_api)
    path = f"{V1}/teams/{made['id']}"
    ta = admin_api.act_as("ta", teams={made["id"]: Role.TEAM_ADMIN})
    org_admin = admin_api.act_as("olga", org_role=Role.ORG_ADMIN)
    for body in ({"limits": {"tokens_per_minute": 10**9}}, {"limits": {}}, {"budgets": {"amount_usd": 1}}):
        refused = await admin_api.call("PATCH", path, body, as_=ta)
        assert refused.status == 403 and refused.error["param"] == next(iter(body)), refused.body
    assert (await admin_api.ok("PATCH", path, {"name": "platform-eng"}, as_=ta))["name"] == "platform-eng"
    done = await admin_api.ok("PATCH", path, {"limits": {"tokens_per_minute": 1000}}, as_=org_admin)
    assert done["limits"] == {"tokens_per_minute": 1000}
    assert (await admin_api.call("POST", f"{V1}/teams", {"name": "mine", "limits": {}}, as_=ta)).status == 403


async def test_team_admins_set_limits_of_their_projects_and_keys(admin_api: AdminApi) -> None:
    made, other = await team(admin_api), await team(admin_api, "search")
    ta = admin_api.act_as("ta", teams={made["id"]: Role.TEAM_ADMIN})
    member = admin_api.act_as("member", teams={made["id"]: Role.MEMBER})
    limits = {"requests_per_minute": 30}
    project = await admin_api.ok(
        "POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots", "limits": limits}, as_=ta
    )
    assert project["limits"] == limits
    changed = await admin_api.ok("PATCH", f"{V1}/projects/{project['id']}", {"limits": {}}, as_=ta)
    assert changed["limits"] == {}
    key = await admin_api.ok("POST", f"{V1}/keys", {"team": made["id"], "user_id": None, "limits": limits}, as_=ta)
    assert (await admin_api.ok("PATCH", f"{V1}/keys/{key['id']}", {"limits": {}}, as_=ta))["limits"] == {}

    theirs = await admin_api.ok("POST", f"{V1}/teams/{other['id']}/projects", {"name": "idx"})
    hidden = await admin_api.call("PATCH", f"{V1}/projects/{theirs['id']}", {"limits": limits}, as_=ta)
    assert hidden.status == 404
    denied = await admin_api.call("PATCH", f"{V1}/projects/{project['id']}", {"limits": limits}, as_=member)
    assert denied.status == 403


async def test_a_team_limit_change_reaches_its_keys_principals(admin_api: AdminApi) -> None:
    made = await team(admin_api, limits={"tokens_per_minute": 1000})
    project = await admin_api.ok(
        "POST", f"{V1}/teams/{made['id']}/projects", {"name": "bots", "limits": {"concurrent": 2}}
    )
    key = await admin_api.ok(
        "POST", f"{V1}/keys", {"team": made["id"], "project_id": project["id"], "limits": {"requests_per_minute": 9}}
    )
    identity = admin_api.state.identity
    assert identity is not None
    principal = identity.lookup(hash_key(key["key"]))
    assert principal is not None
    assert dict(principal.limits) == {
        "key": LimitSet(requests_per_minute=9),
        "team": LimitSet(tokens_per_minute=1000),
        "project": LimitSet(concurrent=2),
    }
    await admin_api.ok("PATCH", f"{V1}/teams/{made['id']}", {"limits": {"tokens_per_minute": 5000, "mode": "audit"}})
    await admin_api.ok("PATCH", f"{V1}/projects/{project['id']}", {"limits": {}})
    after = identity.lookup(hash_key(key["key"]))
    assert after is not None
    assert dict(after.limits) == {
        "key": LimitSet(requests_per_minute=9),
        "team": LimitSet(tokens_per_minute=5000, mode="audit"),
    }
