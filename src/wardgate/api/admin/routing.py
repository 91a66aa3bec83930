"""Routing state: ``GET /routing/deployments`` lists every deployment of the active config with its circuit
breaker (``routing.breaker``) and, when the gateway keeps them, its health numbers (latency, in flight, recent
errors); ``POST /routing/deployments/{id}/reset`` closes a breaker by hand (in shared mode on every replica), ends a
provider cool-down, and is recorded as an admin change.

This is the state of the replica that answers (breakers are per replica; shared mode keeps them in step). Like
credentials' metadata it is org-wide: org admins and auditors read it, only org admins reset; other callers get
403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path

from wardgate.api.admin.deps import Admin, AdminDep, Changes
from wardgate.config.routing_config import deployment_id
from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import GatewayError, NotFoundError, PermissionDeniedError
from wardgate.core.types import Principal, Role
from wardgate.identity import rbac
from wardgate.routing.breaker import BreakerBoard, CircuitBreakerBoard
from wardgate.storage.changes import Change

router = APIRouter(tags=["routing"])
KIND = "deployment"
DeploymentPath = Annotated[str, Path(min_length=1, max_length=300, description="The deployment's id.")]


def _require(actor: Principal, *, write: bool) -> None:
    role = rbac.effective_org_role(actor)
    if role is Role.ORG_ADMIN or (role is Role.AUDITOR and not write):
        return
    need = "org_admin" if write else "org_admin or auditor"
    doing = "reset a circuit breaker" if write else "read the routing state"
    raise PermissionDeniedError(f"Routing state is org-wide: to {doing} you need {need}.")


def _deployments(config: GatewayConfig) -> dict[str, dict[str, Any]]:
    """Every deployment of the config by id (one deployment may serve several models)."""
    found: dict[str, dict[str, Any]] = {}
    for model in config.models:
        for deployment in model.deployments:
            ident = deployment_id(deployment)
            entry = found.get(ident)
            if entry is None:
                entry = found[ident] = {
                    "object": "deployment",
                    "id": ident,
                    "provider": deployment.provider,
                    "model": deployment.model,
                    "region": deployment.region,
                    "tags": list(deployment.tags),
                    "served_models": [],
                }
            entry["served_models"].append(model.name)
    return found


def _breaker(board: BreakerBoard, states: Mapping[str, dict[str, Any]], ident: str) -> dict[str, Any]:
    if isinstance(board, CircuitBreakerBoard):
        return board.state(ident)
    return states.get(ident, {"state": "closed", "enabled": False})


def _view(admin: Admin, deployments: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    board = admin.state.breakers
    states, health = board.states(), admin.state.health.snapshot()
    return [
        {**entry, "breaker": _breaker(board, states, ident), "health": health.get(ident)}
        for ident, entry in deployments.items()
    ]


@router.get("/routing/deployments")
async def list_deployments(admin: AdminDep) -> dict[str, Any]:
    """Every deployment of the active config, in config order, with its breaker and health on this replica."""
    _require(admin.actor, write=False)
    data = _view(admin, _deployments(admin.state.snapshot.config))
    return {"object": "list", "data": data, "breakers": isinstance(admin.state.breakers, CircuitBreakerBoard)}


@router.post("/routing/deployments/{ident:path}/reset")
async def reset(ident: DeploymentPath, admin: AdminDep) -> dict[str, Any]:
    """Close the deployment's breaker now and end any provider cool-down (every replica, in shared mode)."""
    _require(admin.actor, write=True)
    deployments = _deployments(admin.state.snapshot.config)
    if ident not in deployments:
        raise NotFoundError(f"No deployment {ident!r} in the active config.")
    board = admin.state.breakers
    if not isinstance(board, CircuitBreakerBoard):
        raise GatewayError("Circuit breakers are off on this gateway.", status=409, code="breakers_disabled")
    before = board.state(ident)
    async with admin.db.engine.begin() as conn:
        after = {"state": "closed", "consecutive_failures": 0, "cooldown_until": None}
        await Changes(conn, admin).record(Change("reset", KIND, ident, before=before, after=after))
    board.reset(ident)  # after the record is committed: no unrecorded reset
    return _view(admin, {ident: deployments[ident]})[0]
