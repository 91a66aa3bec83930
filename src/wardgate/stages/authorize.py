"""Authorization stage (after parse): a principal restricted to some models (``Principal.allowed_models``) may call
only those. Both the requested name and every allowed entry are resolved through the snapshot's route table to the
model's canonical name, so aliases can neither widen nor narrow what a key may call. An unknown model is still 404
(as for everyone); a known one outside the key's models is 403 ``model_not_allowed``, whose message names only the
requested model, never the key's others.

People (a JWT bearer token or a sign-in session) call models only as a member of some team (member or team admin)
or as an org admin: spend must belong to a team, and a viewer or auditor role is for reading, not for calling.
"""

from __future__ import annotations

from wardgate.core.errors import PermissionDeniedError
from wardgate.core.types import Handler, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.routing.table import RouteTable

PEOPLE = frozenset({"jwt", "session"})
CALLING_ROLES = frozenset({Role.TEAM_ADMIN, Role.MEMBER})


def check_may_call(principal: Principal) -> None:
    """403 for a person with no team role that may call models (and not an org admin)."""
    if principal.kind not in PEOPLE or principal.org_role == Role.ORG_ADMIN:
        return
    if not any(role in CALLING_ROLES for role in principal.teams.values()):
        raise PermissionDeniedError(
            "Calling models needs a member role in a team; ask a team admin to add you.", code="no_team_membership"
        )


def check_model_allowed(principal: Principal | None, routes: RouteTable, model: str) -> None:
    """404 for an unknown model, 403 when the principal may not call it; returns for everyone else."""
    allowed = principal.allowed_models if principal is not None else None
    if allowed is None:
        return
    canonical = routes.resolve(model).name
    if canonical not in routes.canonical_names(allowed):
        raise PermissionDeniedError(
            f"You are not allowed to call the model `{model}`.", param="model", code="model_not_allowed"
        )


async def authorize(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
    principal = ctx.principal
    if principal is not None:
        if principal.kind in PEOPLE:
            check_may_call(principal)
        if principal.allowed_models is not None:
            check_model_allowed(principal, ctx.snapshot.routes, request.model)
    return await nxt(ctx, request)
