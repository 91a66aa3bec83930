"""Project and service principal routes of the admin API, in process against the real app and database (SQLite
and PostgreSQL): lifecycle with change records, team admins managing their own team, members and viewers reading
only, other teams' objects answering 404, fields a team admin may not change (``team_id``) refused with 403."""

from __future__ import annotations

from typing import Any

from admin_org_harness import AdminApi, admin_api_fixture  # noqa: F401

from wardgate.core.types import Role

V1 = "/admin/v1"


async def two_teams(api: AdminApi) -> tuple[str, str]:
    mine = await api.ok("POST", f"{V1}/teams", {"name": "platform"})
    theirs = await api.ok("POST", f"{V1}/teams", {"name": "search"})
    return mine["id"], theirs["id"]


async def test_project_lifecycle_is_recorded(admin_api: AdminApi) -> None:
    team, _ = await two_teams(admin_api)
    reply = await admin_api.call("POST", f"{V1}/teams/{team}/projects", {"name": "chatbot", "metadata": {"a": 1}})
    assert reply.status == 201
    project = reply.body
    assert project["id"].startswith("proj_") and (project["team_id"], project["name"]) == (team, "chatbot")
    assert (await admin_api.ok("GET", f"{V1}/teams/{team}/projects"))["data"] == [project]
    assert await admin_api.ok("GET", f"{V1}/projects/{project['id']}") == project
    renamed = await admin_api.ok("PATCH", f"{V1}/projects/{project['id']}", {"name": "assistant"})
    assert renamed["name"] == "assistant" and renamed["metadata"] == {"a": 1}
    clash = await admin_api.call("POST", f"{V1}/teams/{team}/projects", {"name": "assistant"})
    assert clash.status == 409 and clash.error["code"] == "conflict"
    assert (await admin_api.ok("DELETE", f"{V1}/projects/{project['id']}"))["deleted"] is True
    assert (await admin_api.call("GET", f"{V1}/projects/{project['id']}")).status == 404
    records = await admin_api.changes(project["id"])
    assert [(r["action"], r["object_kind"], r["team_id"]) for r in records] == [
        ("create", "project", team),
        ("update", "project", team),
        ("delete", "project", team),
    ]
    assert (records[1]["before"]["name"], records[1]["after"]["name"]) == ("chatbot", "assistant")
    assert (await admin_api.call("GET", f"{V1}/teams/team_nope/projects")).status == 404


async def test_projects_by_role(admin_api: AdminApi) -> None:
    team, other = await two_teams(admin_api)
    ta = admin_api.act_as("ta", teams={team: Role.TEAM_ADMIN})
    member = admin_api.act_as("member", teams={team: Role.MEMBER})
    outsider = admin_api.act_as("outsider", teams={other: Role.TEAM_ADMIN})
    project = await admin_api.ok("POST", f"{V1}/teams/{team}/projects", {"name": "chatbot"}, as_=ta)
    path = f"{V1}/projects/{project['id']}"
    assert (await admin_api.ok("PATCH", path, {"metadata": {"env": "prod"}}, as_=ta))["metadata"] == {"env": "prod"}

    assert (await admin_api.ok("GET", path, as_=member))["id"] == project["id"]
    assert (await admin_api.call("POST", f"{V1}/teams/{team}/projects", {"name": "x"}, as_=member)).status == 403
    assert (await admin_api.call("PATCH", path, {"name": "x"}, as_=member)).status == 403
    assert (await admin_api.call("DELETE", path, as_=member)).status == 403

    absent = await admin_api.call("GET", f"{V1}/projects/proj_nope", as_=outsider)
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        hidden = await admin_api.call(method, path, body, as_=outsider)
        assert (hidden.status, hidden.error) == (404, absent.error)
    assert (await admin_api.call("GET", f"{V1}/teams/{team}/projects", as_=outsider)).status == 404
    assert (await admin_api.call("POST", f"{V1}/teams/{team}/projects", {"name": "y"}, as_=outsider)).status == 404
    assert (await admin_api.ok("DELETE", path, as_=ta))["deleted"] is True


async def test_moving_a_project_is_for_org_admins(admin_api: AdminApi) -> None:
    team, other = await two_teams(admin_api)
    ta = admin_api.act_as("ta", teams={team: Role.TEAM_ADMIN, other: Role.TEAM_ADMIN})
    project = await admin_api.ok("POST", f"{V1}/teams/{team}/projects", {"name": "chatbot"})
    path = f"{V1}/projects/{project['id']}"
    refused = await admin_api.call("PATCH", path, {"name": "renamed", "team_id": other}, as_=ta)
    assert refused.status == 403 and refused.error["param"] == "team_id" and "team_id" in refused.error["message"]
    assert (await admin_api.ok("GET", path))["name"] == "chatbot"  # refused as a whole, nothing applied
    immutable = await admin_api.call("PATCH", path, {"created_at": "2020-01-01T00:00:00Z"})
    assert immutable.status == 400 and immutable.error["param"] == "created_at"
    nowhere = await admin_api.call("PATCH", path, {"team_id": "team_nope"})
    assert nowhere.status == 404 and nowhere.error["param"] == "team_id"
    moved = await admin_api.ok("PATCH", path, {"team_id": other})
    assert moved["team_id"] == other
    record = (await admin_api.changes(project["id"]))[-1]
    assert (record["before"]["team_id"], record["after"]["team_id"], record["team_id"]) == (team, other, other)


async def test_service_principal_lifecycle(admin_api: AdminApi) -> None:
    team, other = await two_teams(admin_api)
    project = await admin_api.ok("POST", f"{V1}/teams/{team}/projects", {"name": "chatbot"})
    foreign = await admin_api.ok("POST", f"{V1}/teams/{other}/projects", {"name": "ranker"})
    base = f"{V1}/teams/{team}/service-principals"
    reply = await admin_api.call("POST", base, {"name": "support-bot", "kind": "agent", "project_id": project["id"]})
    assert reply.status == 201
    bot: dict[str, Any] = reply.body
    assert bot["id"].startswith("sp_")
    assert (bot["team_id"], bot["kind"], bot["project_id"], bot["metadata"]) == (team, "agent", project["id"], {})
    assert (await admin_api.ok("GET", base))["data"] == [bot]
    path = f"{V1}/service-principals/{bot['id']}"
    assert await admin_api.ok("GET", path) == bot

    bad_kind = await admin_api.call("POST", base, {"name": "x", "kind": "robot"})
    assert bad_kind.status == 400 and bad_kind.error["param"] == "kind"
    wrong_project = await admin_api.call("POST", base, {"name": "x", "kind": "app", "project_id": foreign["id"]})
    assert wrong_project.status == 404 and wrong_project.error["param"] == "project_id"
    assert (await admin_api.call("POST", base, {"name": "support-bot", "kind": "app"})).status == 409

    changed = await admin_api.ok("PATCH", path, {"kind": "app", "project_id": None})
    assert (changed["kind"], changed["project_id"]) == ("app", None)
    assert (await admin_api.call("PATCH", path, {"project_id": foreign["id"]})).status == 404
    assert (await admin_api.ok("DELETE", path))["deleted"] is True
    assert (await admin_api.call("GET", path)).status == 404
    records = await admin_api.changes(bot["id"])
    assert [(r["action"], r["object_kind"], r["team_id"]) for r in records] == [
        ("create", "service_principal", team),
        ("update", "service_principal", team),
        ("delete", "service_principal", team),
    ]
    assert (records[1]["before"]["kind"], records[1]["after"]["kind"]) == ("agent", "app")


async def test_service_principals_by_role(admin_api: AdminApi) -> None:
    team, other = await two_teams(admin_api)
    ta = admin_api.act_as("ta", teams={team: Role.TEAM_ADMIN})
    viewer = admin_api.act_as("viewer", teams={team: Role.VIEWER})
    outsider = admin_api.act_as("outsider", teams={other: Role.TEAM_ADMIN})
    bot = await admin_api.ok("POST", f"{V1}/teams/{team}/service-principals", {"name": "b", "kind": "app"}, as_=ta)
    path = f"{V1}/service-principals/{bot['id']}"
    assert (await admin_api.ok("PATCH", path, {"name": "bot", "kind": "agent"}, as_=ta))["name"] == "bot"
    moved = await admin_api.call("PATCH", path, {"team_id": other}, as_=ta)
    assert moved.status == 403 and moved.error["param"] == "team_id"

    assert (await admin_api.ok("GET", path, as_=viewer))["name"] == "bot"
    assert (await admin_api.call("PATCH", path, {"name": "x"}, as_=viewer)).status == 403
    create = await admin_api.call(
        "POST", f"{V1}/teams/{team}/service-principals", {"name": "v", "kind": "app"}, as_=viewer
    )
    assert create.status == 403
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        assert (await admin_api.call(method, path, body, as_=outsider)).status == 404
    assert (await admin_api.call("GET", f"{V1}/teams/{team}/service-principals", as_=outsider)).status == 404
    moved_by_org = await admin_api.ok("PATCH", path, {"team_id": other})
    assert moved_by_org["team_id"] == other
    assert (await admin_api.call("GET", path, as_=ta)).status == 404  # now in a team the admin has no role in
