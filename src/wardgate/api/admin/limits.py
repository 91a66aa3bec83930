"""Rate limits: ``GET /limits`` shows the limit rules of the active config and the state of the engine that holds
the counters on the replica that answers (memory or Redis; in shared mode whether Redis answers, how many
reservations fell back to local counters or were refused while it did not). Org-wide, like the routing state: org
admins and auditors read it; other callers get 403. Limits on keys, teams and projects are shown with those objects.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wardgate.api.admin.deps import AdminDep
from wardgate.config.routing_config import deployment_id
from wardgate.core.errors import PermissionDeniedError
from wardgate.core.types import Role
from wardgate.identity import rbac

router = APIRouter(tags=["limits"])


@router.get("/limits")
async def limits_state(admin: AdminDep) -> dict[str, Any]:
    """The config's limit rules, each deployment's provider quota, and this replica's counter engine."""
    if rbac.effective_org_role(admin.actor) not in (Role.ORG_ADMIN, Role.AUDITOR):
        raise PermissionDeniedError("Rate-limit state is org-wide: reading it needs org_admin or auditor.")
    state = admin.state
    config = state.snapshot.config
    deployments = {
        deployment_id(deployment): deployment.limits.model_dump(exclude_none=True)
        for model in config.models
        for deployment in model.deployments
        if deployment.limits is not None
    }
    return {
        "object": "limits",
        "rules": [rule.model_dump(exclude_none=True) for rule in config.limits],
        "deployment_quotas": deployments,
        "settings": config.server.limits.model_dump(),
        "engine": state.routing.limits.stats(),
    }
