"""Project routes: ``/teams/{id}/projects`` (list, create) and ``/projects/{id}`` (read, update, delete). Team
admins manage their team's projects, their ``limits`` and ``budgets`` (``limit_fields``) included; moving a
project to another team (``team_id``) is for org admins, and only while no key or service principal uses it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from wardgate.api.admin.common import Metadata, Name, StrictModel, changed_fields
from wardgate.api.admin.deps import AdminDep, PageDep, listing
from wardgate.api.admin.limit_fields import Budgets, Limits, stored_budgets, stored_limits, with_stored_limits
from wardgate.api.admin.org_common import authorized, check_team_exists, deleted, missing, team_for, updates
from wardgate.config.limits_config import LimitSet
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage import org as store
from wardgate.storage.changes import Change

NULLABLE = frozenset({"budgets"})
"""A ``budgets`` of None is a ``{}`` sent to clear it (``limit_fields`` refuses a null)."""

router = APIRouter(tags=["organisation"])
KIND = ObjectKind.PROJECT


class ProjectCreate(StrictModel):
    name: Name
    metadata: Metadata = Field(default_factory=dict)
    limits: Limits = Field(default_factory=LimitSet)
    budgets: Budgets = None


class ProjectUpdate(StrictModel):
    name: Name | None = None
    metadata: Metadata | None = None
    limits: Limits | None = None
    budgets: Budgets = None
    team_id: str | None = Field(default=None, description="Move the project to this team (org admins only).")


@router.get("/teams/{team_id}/projects")
async def list_projects(team_id: str, admin: AdminDep, page: PageDep) -> dict[str, Any]:
    async with admin.read() as conn:
        await team_for(conn, admin.actor, Action.READ, KIND, team_id)
        rows = await store.list_projects(conn, team_id, limit=page.limit, after=page.after)
    return listing(rows, page.limit)


@router.post("/teams/{team_id}/projects", status_code=201)
async def create_project(team_id: str, body: ProjectCreate, admin: AdminDep) -> dict[str, Any]:
    async with admin.change() as changes:
        await team_for(changes.conn, admin.actor, Action.CREATE, KIND, team_id)
        project = await store.create_project(
            changes.conn,
            team_id,
            body.name,
            body.metadata,
            limits=stored_limits(body.limits),
            budgets=stored_budgets(body.budgets),
        )
        await changes.record(Change("create", KIND, project["id"], team_id, None, project))
    return project


@router.get("/projects/{project_id}")
async def get_project(project_id: str, admin: AdminDep) -> dict[str, Any]:
    async with admin.read() as conn:
        return authorized(admin.actor, Action.READ, KIND, await store.get_project(conn, project_id))


@router.patch("/projects/{project_id}")
async def update_project(project_id: str, body: ProjectUpdate, admin: AdminDep) -> dict[str, Any]:
    async with admin.change() as changes:
        before = await store.get_project(changes.conn, project_id)
        if before is None:
            raise missing(KIND)
        rbac.check_fields(admin.actor, KIND, changed_fields(body), team_id=before["team_id"])
        values = with_stored_limits(updates(body, NULLABLE), body)
        if "team_id" in values:
            await check_team_exists(changes.conn, values["team_id"])
        after = await store.update_project(changes.conn, project_id, values)
        assert after is not None
        await changes.record(Change("update", KIND, project_id, after["team_id"], before, after))
    return after


@router.delete("/projects/{project_id}")
async def delete_project(project_id: str, admin: AdminDep) -> dict[str, Any]:
    """Refused (409) while keys or service principals use the project."""
    async with admin.change() as changes:
        project = authorized(admin.actor, Action.DELETE, KIND, await store.get_project(changes.conn, project_id))
        await store.delete_project(changes.conn, project_id)
        await changes.record(Change("delete", KIND, project_id, project["team_id"], project, None))
    return deleted(project_id)
