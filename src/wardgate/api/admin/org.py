"""Organisation structure routes: the organisation (``/org``) and teams (``/teams``). Projects, users, memberships
and service principals have their own ``org_*`` modules. Every route decides through ``identity.rbac``: teams the
caller has no role in answer 404, actions its role lacks 403; lists show only the teams it may see. Every write
runs in one transaction with its change record. A team's ``limits`` and ``budgets`` (``limit_fields``) are set by
org admins only: a team admin may rename its team but not raise its own team's limits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from wardgate.api.admin.common import Metadata, Name, StrictModel, changed_fields
from wardgate.api.admin.deps import AdminDep, PageDep, listing
from wardgate.api.admin.limit_fields import Budgets, Limits, stored_budgets, stored_limits, with_stored_limits
from wardgate.api.admin.org_common import deleted, missing, updates
from wardgate.config.limits_config import LimitSet
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage import org as store
from wardgate.storage.changes import Change

NULLABLE = frozenset({"budgets"})
"""A ``budgets`` of None is a ``{}`` sent to clear it (``limit_fields`` refuses a null)."""

router = APIRouter(tags=["organisation"])


class OrgUpdate(StrictModel):
    name: Name | None = None
    metadata: Metadata | None = None


class TeamCreate(StrictModel):
    name: Name
    metadata: Metadata = Field(default_factory=dict)
    limits: Limits = Field(default_factory=LimitSet)
    budgets: Budgets = None


class TeamUpdate(StrictModel):
    name: Name | None = None
    metadata: Metadata | None = None
    limits: Limits | None = None
    budgets: Budgets = None


# --- organisation -----------------------------------------------------------------------------------------------


@router.get("/org")
async def get_org(admin: AdminDep) -> dict[str, Any]:
    """The organisation (created on first use)."""
    rbac.authorize(admin.actor, Action.READ, ObjectKind.ORG, team_id=None)
    async with admin.db.engine.begin() as conn:
        return await store.ensure_default_org(conn)


@router.patch("/org")
async def update_org(body: OrgUpdate, admin: AdminDep) -> dict[str, Any]:
    rbac.check_fields(admin.actor, ObjectKind.ORG, changed_fields(body), team_id=None)
    values = updates(body)
    async with admin.change() as changes:
        before = await store.ensure_default_org(changes.conn)
        after = await store.update_org(changes.conn, before["id"], values)
        await changes.record(Change("update", ObjectKind.ORG, before["id"], None, before, after))
    assert after is not None
    return after


# --- teams ------------------------------------------------------------------------------------------------------


@router.get("/teams")
async def list_teams(
    admin: AdminDep, page: PageDep, name: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """The teams the caller may see (all of them for org admins and auditors), by id; ``name`` filters."""
    visible = rbac.visible_teams(admin.actor)
    async with admin.read() as conn:
        rows = await store.list_teams(conn, team_ids=visible, name=name, limit=page.limit, after=page.after)
    return listing(rows, page.limit)


@router.post("/teams", status_code=201)
async def create_team(body: TeamCreate, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.CREATE, ObjectKind.TEAM, team_id=None)
    async with admin.change() as changes:
        team = await store.create_team(
            changes.conn,
            body.name,
            body.metadata,
            limits=stored_limits(body.limits),
            budgets=stored_budgets(body.budgets),
        )
        await changes.record(Change("create", ObjectKind.TEAM, team["id"], team["id"], None, team))
    return team


@router.get("/teams/{team_id}")
async def get_team(team_id: str, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.READ, ObjectKind.TEAM, team_id=team_id)
    async with admin.read() as conn:
        team = await store.get_team(conn, team_id)
    if team is None:
        raise missing(ObjectKind.TEAM)
    return team


@router.patch("/teams/{team_id}")
async def update_team(team_id: str, body: TeamUpdate, admin: AdminDep) -> dict[str, Any]:
    rbac.check_fields(admin.actor, ObjectKind.TEAM, changed_fields(body), team_id=team_id)
    values = with_stored_limits(updates(body, NULLABLE), body)
    async with admin.change() as changes:
        before = await store.get_team(changes.conn, team_id)
        if before is None:
            raise missing(ObjectKind.TEAM)
        after = await store.update_team(changes.conn, team_id, values)
        await changes.record(Change("update", ObjectKind.TEAM, team_id, team_id, before, after))
    assert after is not None
    return after


@router.delete("/teams/{team_id}")
async def delete_team(team_id: str, admin: AdminDep) -> dict[str, Any]:
    """Delete a team and its memberships; refused (409) while it has keys, projects or service principals."""
    rbac.authorize(admin.actor, Action.DELETE, ObjectKind.TEAM, team_id=team_id)
    async with admin.change() as changes:
        before = await store.delete_team(changes.conn, team_id)
        if before is None:
            raise missing(ObjectKind.TEAM)
        await changes.record(Change("delete", ObjectKind.TEAM, team_id, team_id, before, None))
    return deleted(team_id)
