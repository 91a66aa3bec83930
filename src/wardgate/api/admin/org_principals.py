"""Service principal routes (apps and agents of a team): ``/teams/{id}/service-principals`` (list, create) and
``/service-principals/{id}`` (read, update, delete). Team admins manage their team's; a ``project_id`` must name a
project of the same team; moving one to another team (``team_id``) is for org admins, and only while it has no
keys."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from wardgate.api.admin.common import Metadata, Name, StrictModel, changed_fields
from wardgate.api.admin.deps import AdminDep, PageDep, listing
from wardgate.api.admin.org_common import (
    authorized,
    check_project,
    check_team_exists,
    deleted,
    missing,
    team_for,
    updates,
)
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage import org as store
from wardgate.storage.changes import Change

router = APIRouter(tags=["organisation"])
KIND = ObjectKind.SERVICE_PRINCIPAL
PrincipalKind = Literal["app", "agent"]


class PrincipalCreate(StrictModel):
    name: Name
    kind: PrincipalKind
    project_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)


class PrincipalUpdate(StrictModel):
    name: Name | None = None
    kind: PrincipalKind | None = None
    project_id: str | None = None
    metadata: Metadata | None = None
    team_id: str | None = Field(default=None, description="Move it to this team (org admins only).")


@router.get("/teams/{team_id}/service-principals")
async def list_principals(team_id: str, admin: AdminDep, page: PageDep) -> dict[str, Any]:
    async with admin.read() as conn:
        await team_for(conn, admin.actor, Action.READ, KIND, team_id)
        rows = await store.list_service_principals(conn, team_id, limit=page.limit, after=page.after)
    return listing(rows, page.limit)


@router.post("/teams/{team_id}/service-principals", status_code=201)
async def create_principal(team_id: str, body: PrincipalCreate, admin: AdminDep) -> dict[str, Any]:
    async with admin.change() as changes:
        await team_for(changes.conn, admin.actor, Action.CREATE, KIND, team_id)
        await check_project(changes.conn, body.project_id, team_id)
        principal = await store.create_service_principal(
            changes.conn, team_id, body.name, body.kind, project_id=body.project_id, metadata=body.metadata
        )
        await changes.record(Change("create", KIND, principal["id"], team_id, None, principal))
    return principal


@router.get("/service-principals/{principal_id}")
async def get_principal(principal_id: str, admin: AdminDep) -> dict[str, Any]:
    async with admin.read() as conn:
        return authorized(admin.actor, Action.READ, KIND, await store.get_service_principal(conn, principal_id))


@router.patch("/service-principals/{principal_id}")
async def update_principal(principal_id: str, body: PrincipalUpdate, admin: AdminDep) -> dict[str, Any]:
    async with admin.change() as changes:
        before = await store.get_service_principal(changes.conn, principal_id)
        if before is None:
            raise missing(KIND)
        rbac.check_fields(admin.actor, KIND, changed_fields(body), team_id=before["team_id"])
        values = updates(body, frozenset({"project_id"}))
        team_id: str = values.get("team_id") or before["team_id"]
        if team_id != before["team_id"]:
            await check_team_exists(changes.conn, team_id)
        await check_project(changes.conn, values.get("project_id", before["project_id"]), team_id)
        after = await store.update_service_principal(changes.conn, principal_id, values)
        assert after is not None
        await changes.record(Change("update", KIND, principal_id, after["team_id"], before, after))
    return after


@router.delete("/service-principals/{principal_id}")
async def delete_principal(principal_id: str, admin: AdminDep) -> dict[str, Any]:
    """Refused (409) while keys belong to it."""
    async with admin.change() as changes:
        principal = await store.get_service_principal(changes.conn, principal_id)
        principal = authorized(admin.actor, Action.DELETE, KIND, principal)
        await store.delete_service_principal(changes.conn, principal_id)
        await changes.record(Change("delete", KIND, principal_id, principal["team_id"], principal, None))
    return deleted(principal_id)
