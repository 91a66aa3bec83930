"""The organisation and team routes of the admin API, in process against the real app and database (SQLite and
PostgreSQL): lifecycle with change records, strict bodies (unknown field 400), conflicts (409), and RBAC — another
team's objects answer exactly like missing ones (404), forbidden actions 403, lists filtered to visible teams."""

from __future__ import annotations

from typing import Any

from admin_org_harness import AdminApi, admin_api_fixture  # noqa: F401

from wardgate.core.types import Role

TEAMS = "/admin/v1/teams"


async def make_team(api: AdminApi, name: str, **extra: Any) -> dict[str, Any]:
    team: dict[str, Any] = await api.ok("POST", TEAMS, {"name": name, **extra})
    return team


async def test_team_lifecycle_is_recorded(admin_api: AdminApi) -> None:
    reply = await admin_api.call("POST", TEAMS, {"name": "platform", "metadata": {"cost_center": "cc-7"}})
    assert reply.status == 201
    team = reply.body
    assert team["id"].startswith("team_")
    assert (team["name"], team["metadata"]) == ("platform", {"cost_center": "cc-7"})
    assert team["created_at"] == team["updated_at"] and team["created_at"].endswith("+00:00")

    assert await admin_api.ok("GET", f"{TEAMS}/{team['id']}") == team
    listed = await admin_api.ok("GET", TEAMS)
    assert listed["object"] == "list" and listed["data"] == [team] and listed["last_id"] == team["id"]
    renamed = await admin_api.ok("PATCH", f"{TEAMS}/{team['id']}", {"name": "platform-eng"})
    assert renamed["name"] == "platform-eng" and renamed["metadata"] == {"cost_center": "cc-7"}
    assert await admin_api.ok("DELETE", f"{TEAMS}/{team['id']}") == {"id": team["id"], "deleted": True}
    gone = await admin_api.call("GET", f"{TEAMS}/{team['id']}")
    assert gone.status == 404 and gone.error["code"] == "not_found"

    records = await admin_api.changes(team["id"])
    assert [(r["action"], r["object_kind"], r["team_id"]) for r in records] == [
        ("create", "team", team["id"]),
        ("update", "team", team["id"]),
        ("delete", "team", team["id"]),
    ]
    assert {r["actor_kind"] for r in records} == {"master"}
    assert records[0]["before"] is None and records[0]["after"]["name"] == "platform"
    assert (records[1]["before"]["name"], records[1]["after"]["name"]) == ("platform", "platform-eng")
    assert records[2]["before"]["name"] == "platform-eng" and records[2]["after"] is None


async def test_list_filters_by_name_and_pages(admin_api: AdminApi) -> None:
    made = sorted([(await make_team(admin_api, f"team{i}"))["id"] for i in range(3)])
    first = await admin_api.ok("GET", f"{TEAMS}?limit=2")
    assert [t["id"] for t in first["data"]] == made[:2] and first["has_more"] is True
    rest = await admin_api.ok("GET", f"{TEAMS}?limit=2&after={first['last_id']}")
    assert [t["id"] for t in rest["data"]] == made[2:] and rest["has_more"] is False
    named = await admin_api.ok("GET", f"{TEAMS}?name=team1")
    assert [t["name"] for t in named["data"]] == ["team1"]


async def test_bodies_are_strict(admin_api: AdminApi) -> None:
    unknown = await admin_api.call("POST", TEAMS, {"name": "platform", "colour": "red"})
    assert unknown.status == 400 and unknown.error["param"] == "colour"
    assert "colour" in unknown.error["message"]
    bad_name = await admin_api.call("POST", TEAMS, {"name": "no/slashes"})
    assert bad_name.status == 400 and bad_name.error["param"] == "name"
    team = await make_team(admin_api, "platform")
    path = f"{TEAMS}/{team['id']}"
    assert (await admin_api.call("PATCH", path, {"owner": "ann"})).error["param"] == "owner"
    empty = await admin_api.call("PATCH", path, {})
    assert empty.status == 400 and "Nothing to change" in empty.error["message"]
    null = await admin_api.call("PATCH", path, {"name": None})
    assert null.status == 400 and null.error["param"] == "name"
    assert len(await admin_api.changes(team["id"])) == 1  # only the creation: nothing was applied


async def test_team_name_conflicts_are_409(admin_api: AdminApi) -> None:
    await make_team(admin_api, "platform")
    search = await make_team(admin_api, "search")
    again = await admin_api.call("POST", TEAMS, {"name": "platform"})
    assert again.status == 409 and again.error["code"] == "conflict" and "platform" in again.error["message"]
    rename = await admin_api.call("PATCH", f"{TEAMS}/{search['id']}", {"name": "platform"})
    assert rename.status == 409
    assert (await admin_api.ok("GET", f"{TEAMS}/{search['id']}"))["name"] == "search"


async def test_a_team_with_projects_is_not_deleted(admin_api: AdminApi) -> None:
    team = await make_team(admin_api, "platform")
    project = await admin_api.ok("POST", f"{TEAMS}/{team['id']}/projects", {"name": "chatbot"})
    refused = await admin_api.call("DELETE", f"{TEAMS}/{team['id']}")
    assert refused.status == 409 and "1 projects" in refused.error["message"]
    await admin_api.ok("DELETE", f"/admin/v1/projects/{project['id']}")
    await admin_api.ok("DELETE", f"{TEAMS}/{team['id']}")


async def test_another_teams_objects_look_absent(admin_api: AdminApi) -> None:
    mine = await make_team(admin_api, "platform")
    theirs = await make_team(admin_api, "search")
    ta = admin_api.act_as("ta", teams={mine["id"]: Role.TEAM_ADMIN})
    listed = await admin_api.ok("GET", TEAMS, as_=ta)
    assert [t["id"] for t in listed["data"]] == [mine["id"]]
    hidden = await admin_api.call("GET", f"{TEAMS}/{theirs['id']}", as_=ta)
    absent = await admin_api.call("GET", f"{TEAMS}/team_does_not_exist", as_=ta)
    assert hidden.status == absent.status == 404 and hidden.error == absent.error
    for method, body in (("PATCH", {"name": "mine-now"}), ("DELETE", None)):
        assert (await admin_api.call(method, f"{TEAMS}/{theirs['id']}", body, as_=ta)).status == 404
    assert (await admin_api.ok("GET", f"{TEAMS}/{theirs['id']}"))["name"] == "search"


async def test_team_rights_by_role(admin_api: AdminApi) -> None:
    team = await make_team(admin_api, "platform")
    path = f"{TEAMS}/{team['id']}"
    ta = admin_api.act_as("ta", teams={team["id"]: Role.TEAM_ADMIN})
    viewer = admin_api.act_as("viewer", teams={team["id"]: Role.VIEWER})
    auditor = admin_api.act_as("auditor", org_role=Role.AUDITOR)
    org_admin = admin_api.act_as("oa", org_role=Role.ORG_ADMIN)

    renamed = await admin_api.ok("PATCH", path, {"name": "platform-eng", "metadata": {"tier": "1"}}, as_=ta)
    assert renamed["name"] == "platform-eng"
    last = (await admin_api.changes(team["id"]))[-1]
    assert (last["actor_kind"], last["actor_id"]) == ("session", "ta")
    for caller in (ta, viewer, auditor):
        assert (await admin_api.call("DELETE", path, as_=caller)).status == 403
        assert (await admin_api.call("POST", TEAMS, {"name": "new"}, as_=caller)).status == 403
    for caller in (viewer, auditor):
        denied = await admin_api.call("PATCH", path, {"name": "x"}, as_=caller)
        assert denied.status == 403 and denied.error["type"] == "permission_error"
    assert (await admin_api.ok("GET", path, as_=viewer))["name"] == "platform-eng"
    assert len((await admin_api.ok("GET", TEAMS, as_=auditor))["data"]) == 1
    assert (await admin_api.call("POST", TEAMS, {"name": "new"}, as_=org_admin)).status == 201


async def test_the_organisation(admin_api: AdminApi) -> None:
    viewer = admin_api.act_as("viewer", teams={"team_x": Role.VIEWER})
    org = await admin_api.ok("GET", "/admin/v1/org", as_=viewer)
    assert org["name"] == "default" and org["id"].startswith("org_")
    denied = await admin_api.call("PATCH", "/admin/v1/org", {"name": "acme"}, as_=viewer)
    assert denied.status == 403
    renamed = await admin_api.ok("PATCH", "/admin/v1/org", {"name": "acme", "metadata": {"region": "eu"}})
    assert (renamed["id"], renamed["name"], renamed["metadata"]) == (org["id"], "acme", {"region": "eu"})
    team = await make_team(admin_api, "platform")
    assert team["org_id"] == org["id"]
    [record] = await admin_api.changes(org["id"])
    assert (record["action"], record["before"]["name"], record["after"]["name"]) == ("update", "default", "acme")


async def test_a_real_team_admin_key_sees_only_its_team(admin_api: AdminApi) -> None:
    """The same rules through the gateway's own authentication: a team_admin virtual key, not a made-up caller."""
    mine = await make_team(admin_api, "platform")
    theirs = await make_team(admin_api, "search")
    minted = await admin_api.ok("POST", "/admin/v1/keys", {"team": mine["id"], "role": "team_admin"})
    key = minted["key"]
    assert [t["id"] for t in (await admin_api.call("GET", TEAMS, key=key)).body["data"]] == [mine["id"]]
    assert (await admin_api.call("GET", f"{TEAMS}/{theirs['id']}", key=key)).status == 404
    assert (await admin_api.call("DELETE", f"{TEAMS}/{mine['id']}", key=key)).status == 403
    assert (await admin_api.call("POST", f"{TEAMS}/{mine['id']}/projects", {"name": "p"}, key=key)).status == 201
    assert (await admin_api.call("POST", f"{TEAMS}/{theirs['id']}/projects", {"name": "p"}, key=key)).status == 404
    assert (await admin_api.call("GET", TEAMS, key="wg-not-a-key")).status == 401
    refused = await admin_api.call("DELETE", f"{TEAMS}/{mine['id']}")
    assert refused.status == 409 and "1 keys" in refused.error["message"]
