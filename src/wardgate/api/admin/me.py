"""``GET /admin/v1/me`` (who the caller is, as the gateway sees it) and ``GET /admin/v1/changes`` (the record of
admin changes, newest first: org admins and auditors see all, team admins their teams')."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from wardgate.api.admin.deps import AdminDep
from wardgate.identity import rbac
from wardgate.storage.changes import list_changes

router = APIRouter(tags=["identity"])


@router.get("/me")
async def me(admin: AdminDep) -> dict[str, Any]:
    actor = admin.actor
    return {
        "kind": actor.kind,
        "key_id": actor.key_id,
        "user_id": actor.user_id,
        "org_role": rbac.effective_org_role(actor),
        "teams": dict(actor.teams),
        "project_id": actor.project_id,
        "allowed_models": sorted(actor.allowed_models) if actor.allowed_models is not None else None,
        "expires_at": actor.expires_at.isoformat() if actor.expires_at else None,
    }


@router.get("/changes")
async def changes(
    admin: AdminDep,
    object_kind: Annotated[str | None, Query()] = None,
    object_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    actor = admin.actor
    teams = rbac.visible_teams(actor)
    if rbac.effective_org_role(actor) is None:
        admin_teams = {t for t in (teams or set()) if rbac.team_role(actor, t) == "team_admin"}
        if not admin_teams:
            rbac.authorize(actor, rbac.Action.READ, rbac.ObjectKind.ADMIN_CHANGE, team_id=None)
        teams = admin_teams
    async with admin.read() as conn:
        rows = await list_changes(
            conn, teams=teams, object_kind=object_kind, object_id=object_id, limit=limit, before_id=before_id
        )
    return {"object": "list", "data": rows, "has_more": len(rows) == limit}
