"""User and membership routes of the admin API, in process against the real app and database (SQLite and
PostgreSQL): lifecycle with change records, users managed by org admins only, escalation attempts refused (a team
admin granting an org role, a member adding members), other teams' memberships answering 404."""

from __future__ import annotations

from typing import Any

from admin_org_harness import AdminApi, admin_api_fixture  # noqa: F401

from wardgate.core.types import Role

V1 = "/admin/v1"
USERS = f"{V1}/users"


async def make_user(api: AdminApi, email: str, **extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = await api.ok("POST", USERS, {"email": email, **extra})
    return user


async def test_user_lifecycle_is_recorded(admin_api: AdminApi) -> None:
    reply = await admin_api.call("POST", USERS, {"email": "Ann@Example.com", "name": "Ann", "org_role": "auditor"})
    assert reply.status == 201
    ann = reply.body
    assert ann["id"].startswith("user_")
    assert (ann["email"], ann["name"], ann["org_role"], ann["disabled"]) == ("ann@example.com", "Ann", "auditor", False)
    assert await admin_api.ok("GET", f"{USERS}/{ann['id']}") == ann
    assert (await admin_api.ok("GET", f"{USERS}?email=ANN@example.com"))["data"] == [ann]
    changed = await admin_api.ok("PATCH", f"{USERS}/{ann['id']}", {"org_role": None, "name": "Ann B."})
    assert (changed["org_role"], changed["name"]) == (None, "Ann B.")
    disabled = await admin_api.ok("DELETE", f"{USERS}/{ann['id']}")
    assert disabled["disabled"] is True and disabled["id"] == ann["id"]
    assert (await admin_api.ok("GET", USERS))["data"] == [disabled]  # disabled, not gone
    records = await admin_api.changes(ann["id"])
    assert [(r["action"], r["object_kind"], r["team_id"]) for r in records] == [
        ("create", "user", None),
        ("update", "user", None),
        ("disable", "user", None),
    ]
    assert (records[1]["before"]["org_role"], records[1]["after"]["org_role"]) == ("auditor", None)
    assert (records[2]["before"]["disabled"], records[2]["after"]["disabled"]) == (False, True)


async def test_user_bodies_and_conflicts(admin_api: AdminApi) -> None:
    await make_user(admin_api, "ann@example.com")
    bob = await make_user(admin_api, "bob@example.com")
    clash = await admin_api.call("POST", USERS, {"email": "ANN@example.com"})
    assert clash.status == 409 and clash.error["code"] == "conflict" and "ann@example.com" in clash.error["message"]
    assert (await admin_api.call("PATCH", f"{USERS}/{bob['id']}", {"email": "ann@example.com"})).status == 409
    assert (await admin_api.call("POST", USERS, {"email": "not-an-email"})).error["param"] == "email"
    team_role = await admin_api.call("POST", USERS, {"email": "c@example.com", "org_role": "team_admin"})
    assert team_role.status == 400 and team_role.error["param"] == "org_role"
    unknown = await admin_api.call("POST", USERS, {"email": "d@example.com", "password": "x"})
    assert unknown.status == 400 and unknown.error["param"] == "password"
    assert (await admin_api.call("PATCH", f"{USERS}/{bob['id']}", {"email": None})).error["param"] == "email"
    assert (await admin_api.call("GET", f"{USERS}/user_nope")).status == 404


async def test_users_are_managed_by_org_admins_only(admin_api: AdminApi) -> None:
    team = (await admin_api.ok("POST", f"{V1}/teams", {"name": "platform"}))["id"]
    ann = await make_user(admin_api, "ann@example.com")
    bob = await make_user(admin_api, "bob@example.com")
    ta = admin_api.act_as("ta", teams={team: Role.TEAM_ADMIN}, user_id=ann["id"])
    auditor = admin_api.act_as("auditor", org_role=Role.AUDITOR)
    key = admin_api.act_as("admin-key", kind="key", teams={team: Role.TEAM_ADMIN})
    org_admin = admin_api.act_as("oa", org_role=Role.ORG_ADMIN)

    escalate = await admin_api.call("PATCH", f"{USERS}/{ann['id']}", {"org_role": "org_admin"}, as_=ta)
    assert escalate.status == 403 and "org_admin" in escalate.error["message"]
    created = await admin_api.call("POST", USERS, {"email": "eve@example.com", "org_role": "org_admin"}, as_=ta)
    assert created.status == 403
    own_name = await admin_api.call("PATCH", f"{USERS}/{ann['id']}", {"name": "Ann"}, as_=ta)
    assert own_name.status == 403  # users are changed by org admins only, even one's own record
    assert (await admin_api.call("DELETE", f"{USERS}/{bob['id']}", as_=ta)).status == 403

    assert (await admin_api.ok("GET", f"{USERS}/{ann['id']}", as_=ta))["email"] == "ann@example.com"
    assert (await admin_api.call("GET", f"{USERS}/{bob['id']}", as_=ta)).status == 403
    assert [u["id"] for u in (await admin_api.ok("GET", USERS, as_=ta))["data"]] == [ann["id"]]
    assert (await admin_api.ok("GET", USERS, as_=key))["data"] == []
    assert len((await admin_api.ok("GET", USERS, as_=auditor))["data"]) == 2
    assert (await admin_api.call("POST", USERS, {"email": "x@example.com"}, as_=auditor)).status == 403

    promoted = await admin_api.ok("PATCH", f"{USERS}/{bob['id']}", {"org_role": "auditor"}, as_=org_admin)
    assert promoted["org_role"] == "auditor"
    assert (await admin_api.ok("GET", f"{USERS}/{ann['id']}"))["org_role"] is None


async def test_membership_lifecycle_is_recorded(admin_api: AdminApi) -> None:
    team = (await admin_api.ok("POST", f"{V1}/teams", {"name": "platform"}))["id"]
    ann = await make_user(admin_api, "ann@example.com", name="Ann")
    members = f"{V1}/teams/{team}/members"
    reply = await admin_api.call("POST", members, {"user_id": ann["id"], "role": "member"})
    assert reply.status == 201
    member = reply.body
    assert (member["team_id"], member["user_id"], member["role"]) == (team, ann["id"], "member")
    assert (member["email"], member["name"]) == ("ann@example.com", "Ann")
    listed = await admin_api.ok("GET", members)
    assert listed["data"] == [member] and listed["last_id"] == ann["id"]
    assert await admin_api.ok("GET", f"{members}/{ann['id']}") == member
    again = await admin_api.call("POST", members, {"user_id": ann["id"], "role": "viewer"})
    assert again.status == 409 and again.error["code"] == "conflict"
    nobody = await admin_api.call("POST", members, {"user_id": "user_nope", "role": "viewer"})
    assert nobody.status == 404 and nobody.error["param"] == "user_id"

    changed = await admin_api.ok("PATCH", f"{members}/{ann['id']}", {"role": "team_admin"})
    assert changed["role"] == "team_admin"
    removed = await admin_api.ok("DELETE", f"{members}/{ann['id']}")
    assert removed == {"team_id": team, "user_id": ann["id"], "deleted": True}
    assert (await admin_api.call("GET", f"{members}/{ann['id']}")).status == 404
    assert (await admin_api.call("DELETE", f"{members}/{ann['id']}")).status == 404
    records = await admin_api.changes(ann["id"])
    memberships = [r for r in records if r["object_kind"] == "membership"]
    assert [(r["action"], r["team_id"]) for r in memberships] == [
        ("create", team),
        ("update", team),
        ("delete", team),
    ]
    assert (memberships[1]["before"]["role"], memberships[1]["after"]["role"]) == ("member", "team_admin")


async def test_membership_escalations_are_refused(admin_api: AdminApi) -> None:
    team = (await admin_api.ok("POST", f"{V1}/teams", {"name": "platform"}))["id"]
    other = (await admin_api.ok("POST", f"{V1}/teams", {"name": "search"}))["id"]
    ann, bob = await make_user(admin_api, "ann@example.com"), await make_user(admin_api, "bob@example.com")
    ta = admin_api.act_as("ta", teams={team: Role.TEAM_ADMIN})
    member = admin_api.act_as("member", teams={team: Role.MEMBER})
    auditor = admin_api.act_as("auditor", org_role=Role.AUDITOR)
    members = f"{V1}/teams/{team}/members"

    by_member = await admin_api.call("POST", members, {"user_id": bob["id"], "role": "viewer"}, as_=member)
    assert by_member.status == 403 and by_member.error["type"] == "permission_error"
    assert (await admin_api.call("POST", members, {"user_id": bob["id"], "role": "viewer"}, as_=auditor)).status == 403
    org_role = await admin_api.call("POST", members, {"user_id": bob["id"], "role": "org_admin"}, as_=ta)
    assert org_role.status == 400 and org_role.error["param"] == "role"
    elsewhere = await admin_api.call(
        "POST", f"{V1}/teams/{other}/members", {"user_id": bob["id"], "role": "viewer"}, as_=ta
    )
    assert elsewhere.status == 404
    assert (await admin_api.call("GET", f"{V1}/teams/{other}/members", as_=ta)).status == 404

    await admin_api.ok("POST", members, {"user_id": ann["id"], "role": "member"}, as_=ta)
    peer = await admin_api.ok("POST", members, {"user_id": bob["id"], "role": "team_admin"}, as_=ta)
    assert peer["role"] == "team_admin"
    assert (await admin_api.call("PATCH", f"{members}/{ann['id']}", {"role": "team_admin"}, as_=member)).status == 403
    assert (await admin_api.call("DELETE", f"{members}/{ann['id']}", as_=member)).status == 403
    assert [m["user_id"] for m in (await admin_api.ok("GET", members, as_=member))["data"]] == sorted(
        [ann["id"], bob["id"]]
    )
    assert (await admin_api.ok("PATCH", f"{members}/{ann['id']}", {"role": "viewer"}, as_=ta))["role"] == "viewer"
    assert (await admin_api.ok("DELETE", f"{members}/{ann['id']}", as_=ta))["deleted"] is True
