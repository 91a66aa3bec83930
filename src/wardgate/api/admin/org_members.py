"""Membership routes: ``/teams/{id}/members`` (list, add) and ``/teams/{id}/members/{user_id}`` (read, change the
role, remove). Team admins manage their team's members and grant team roles up to their own (``check_role_grant``);
org roles are never granted here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wardgate.api.admin.common import StrictModel, changed_fields
from wardgate.api.admin.deps import AdminDep, PageDep
from wardgate.api.admin.org_common import missing, team_for, updates
from wardgate.core.types import Role
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage import org_users as store
from wardgate.storage.changes import Change
from wardgate.storage.org import Row

router = APIRouter(tags=["organisation"])
KIND = ObjectKind.MEMBERSHIP


class MemberAdd(StrictModel):
    user_id: str
    role: Role


class MemberUpdate(StrictModel):
    role: Role | None = None


def _listing(rows: list[Row], limit: int) -> dict[str, Any]:
    """The envelope of ``deps.listing``, but a membership has no id of its own: its cursor is the user id."""
    last = rows[-1]["user_id"] if rows else None
    return {"object": "list", "data": rows, "has_more": len(rows) == limit, "last_id": last}


@router.get("/teams/{team_id}/members")
async def list_members(team_id: str, admin: AdminDep, page: PageDep) -> dict[str, Any]:
    """Members by user id, with each member's email, name and disabled flag; ``after`` is a user id."""
    async with admin.read() as conn:
        await team_for(conn, admin.actor, Action.READ, KIND, team_id)
        rows = await store.list_members(conn, team_id, limit=page.limit, after=page.after)
    return _listing(rows, page.limit)


@router.post("/teams/{team_id}/members", status_code=201)
async def add_member(team_id: str, body: MemberAdd, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.CREATE, KIND, team_id=team_id)
    rbac.check_role_grant(admin.actor, team_id=team_id, role=body.role)
    async with admin.change() as changes:
        await team_for(changes.conn, admin.actor, Action.CREATE, KIND, team_id)
        if await store.get_user(changes.conn, body.user_id) is None:
            raise missing(ObjectKind.USER, param="user_id")
        member = await store.add_member(changes.conn, team_id, body.user_id, body.role)
        await changes.record(Change("create", KIND, body.user_id, team_id, None, member))
    return member


@router.get("/teams/{team_id}/members/{user_id}")
async def get_member(team_id: str, user_id: str, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.READ, KIND, team_id=team_id)
    async with admin.read() as conn:
        member = await store.get_membership(conn, team_id, user_id)
    if member is None:
        raise missing(KIND)
    return member


@router.patch("/teams/{team_id}/members/{user_id}")
async def update_member(team_id: str, user_id: str, body: MemberUpdate, admin: AdminDep) -> dict[str, Any]:
    rbac.check_fields(admin.actor, KIND, changed_fields(body), team_id=team_id)
    updates(body)
    assert body.role is not None
    rbac.check_role_grant(admin.actor, team_id=team_id, role=body.role)
    async with admin.change() as changes:
        before = await store.get_membership(changes.conn, team_id, user_id)
        if before is None:
            raise missing(KIND)
        after = await store.set_member_role(changes.conn, team_id, user_id, body.role)
        await changes.record(Change("update", KIND, user_id, team_id, before, after))
    assert after is not None
    return after


@router.delete("/teams/{team_id}/members/{user_id}")
async def remove_member(team_id: str, user_id: str, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.DELETE, KIND, team_id=team_id)
    async with admin.change() as changes:
        before = await store.remove_member(changes.conn, team_id, user_id)
        if before is None:
            raise missing(KIND)
        await changes.record(Change("delete", KIND, user_id, team_id, before, None))
    return {"team_id": team_id, "user_id": user_id, "deleted": True}
