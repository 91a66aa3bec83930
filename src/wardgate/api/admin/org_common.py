"""Helpers shared by the organisation routers (``org``, ``org_projects``, ``org_users``, ``org_members``,
``org_principals``): loading an object and authorizing on it in one step, so that an object of a team the caller
has no role in answers exactly like a missing one (404), and PATCH bodies turned into column changes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.api.admin.common import as_dict
from wardgate.core.errors import InvalidRequestError, NotFoundError
from wardgate.core.types import Principal
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage.org import Row, get_project, get_team


def missing(kind: ObjectKind, param: str | None = None) -> NotFoundError:
    """The 404 of an absent object: the same words ``rbac`` uses for a hidden one."""
    return NotFoundError(f"No such {kind.replace('_', ' ')}.", param=param)


async def team_for(conn: AsyncConnection, actor: Principal, action: Action, kind: ObjectKind, team_id: str) -> Row:
    """Authorize ``action`` on a ``kind`` object in team ``team_id`` (404 for a hidden team, 403 for a visible
    one the caller may not act in), then load the team (404 if it does not exist)."""
    rbac.authorize(actor, action, kind, team_id=team_id)
    team = await get_team(conn, team_id)
    if team is None:
        raise missing(ObjectKind.TEAM)
    return team


def authorized(actor: Principal, action: Action, kind: ObjectKind, row: Row | None) -> Row:
    """A team-owned row the caller may ``action``: 404 when it is absent or its team hidden, else 403 or the row."""
    if row is None:
        raise missing(kind)
    rbac.authorize(actor, action, kind, team_id=row["team_id"])
    return row


async def check_project(conn: AsyncConnection, project_id: str | None, team_id: str) -> None:
    """A ``project_id`` given for an object of team ``team_id`` must name a project of that team."""
    if project_id is None:
        return
    project = await get_project(conn, project_id)
    if project is None or project["team_id"] != team_id:
        raise NotFoundError("project_id: no such project in this team.", param="project_id")


async def check_team_exists(conn: AsyncConnection, team_id: str) -> None:
    if await get_team(conn, team_id) is None:
        raise NotFoundError("team_id: no such team.", param="team_id")


def updates(body: BaseModel, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body sets, as column values; an empty body or a null for a required field is a 400."""
    values = as_dict(body)
    if not values:
        raise InvalidRequestError("Nothing to change: the body names no field.")
    for field, value in values.items():
        if value is None and field not in nullable:
            raise InvalidRequestError(f"{field}: may not be null.", param=field)
    return values


def deleted(object_id: str) -> dict[str, Any]:
    return {"id": object_id, "deleted": True}
