"""What a completed OIDC sign-in writes: the person (``org_users.upsert_user_from_sso``: found by the IdP subject,
else linked by email, else created) and, when ``sync_memberships`` is on, the org role and team memberships the
ID token's claims grant (already mapped to roles by ``identity.claims.map_claims``).

The identity provider is authoritative for what it names, and only for that:

- **Org role**: when the claims map an org role, it replaces the stored one. When they map none, an org role that an
  earlier sign-in set (and nobody changed since) is removed; an org role an admin set stays.
- **Teams**: each configured team the claims name gets the mapped team role (an existing membership is taken over
  and its role overwritten). A membership an earlier sign-in granted whose team the claims no longer name is
  removed. Memberships an admin made in teams the claims never named stay.

What sign-in granted is remembered in the user's ``metadata["sso"]`` (``org_role``, ``teams``). Every grant or
removal is recorded as an admin change with actor kind ``sso`` (the person themself), and moves ``updated_at``
so the identity caches notice. Must not import ``api``, ``stages`` or ``providers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.types import Principal, Role
from wardgate.storage import org_users
from wardgate.storage.changes import Change, record_change
from wardgate.storage.org import Row, ensure_default_org
from wardgate.storage.schema import teams

MAX_CLAIMED_TEAMS = 1000
"""At most this many team names from one token are looked up (IdPs may send hundreds of groups)."""
SSO_METADATA = "sso"


async def team_ids_by_name(conn: AsyncConnection, names: Iterable[str]) -> dict[str, str]:
    """Team name → id for the configured teams among ``names`` (a Keycloak path "/platform" also tries
    "platform")."""
    wanted: set[str] = set()
    for name in list(names)[:MAX_CLAIMED_TEAMS]:
        wanted.add(name)
        if name.startswith("/"):
            wanted.add(name[1:])
    if not wanted:
        return {}
    org = await ensure_default_org(conn)
    query = select(teams.c.name, teams.c.id).where(teams.c.org_id == org["id"], teams.c.name.in_(sorted(wanted)))
    return {row.name: row.id for row in (await conn.execute(query)).all()}


async def sign_in_user(
    conn: AsyncConnection, external_id: str, email: str | None, name: str | None, *, request_id: str | None = None
) -> tuple[Row, bool]:
    """The user behind the IdP subject, and whether it was created now (recorded as a ``create`` by ``sso``)."""
    existed = await org_users.get_user_by_external_id(conn, external_id) is not None
    user = await org_users.upsert_user_from_sso(conn, external_id, email, name)
    if not existed:
        await record_change(conn, _actor(user), Change("create", "user", user["id"], after=user), request_id)
    return user, not existed


def _actor(user: Row) -> Principal:
    return Principal(key_id=f"user:{user['id']}", kind="sso", user_id=user["id"])


def _remembered(user: Row) -> dict[str, Any]:
    metadata = user.get("metadata")
    found = metadata.get(SSO_METADATA) if isinstance(metadata, dict) else None
    return dict(found) if isinstance(found, dict) else {}


async def apply_sso_grants(
    conn: AsyncConnection,
    user: Row,
    org_role: Role | None,
    team_roles: Mapping[str, Role],
    *,
    request_id: str | None = None,
) -> int:
    """Make the stored org role and memberships follow the claims (see the module docstring); the number of
    changes made (0: nothing to do)."""
    user_id, actor = user["id"], _actor(user)
    remembered = _remembered(user)
    current = await org_users.team_roles(conn, user_id)
    made = 0
    for team_id, role in team_roles.items():
        before = current.get(team_id)
        if before == role:
            continue
        if before is None:
            after = await org_users.add_member(conn, team_id, user_id, role)
            change = Change("create", "membership", user_id, team_id, None, after)
        else:
            old = await org_users.get_membership(conn, team_id, user_id)
            new = await org_users.set_member_role(conn, team_id, user_id, role)
            change = Change("update", "membership", user_id, team_id, old, new)
        await record_change(conn, actor, change, request_id)
        made += 1
    earlier = remembered.get("teams")
    for team_id in sorted(set(earlier) if isinstance(earlier, list) else set()):
        if team_id in team_roles or team_id not in current:
            continue
        removed = await org_users.remove_member(conn, team_id, user_id)
        await record_change(conn, actor, Change("delete", "membership", user_id, team_id, removed, None), request_id)
        made += 1
    return made + await _sync_user_row(conn, user, org_role, sorted(team_roles), request_id)


async def _sync_user_row(
    conn: AsyncConnection, user: Row, org_role: Role | None, team_ids: list[str], request_id: str | None
) -> int:
    """The org role (and what sign-in granted, in ``metadata["sso"]``); 1 when the org role changed."""
    remembered = _remembered(user)
    stored = user.get("org_role")
    if org_role is not None:
        role = str(org_role)
    elif remembered.get("org_role") is not None and stored == remembered.get("org_role"):
        role = None  # an earlier sign-in granted it and the claims no longer do
    else:
        role = stored
    grants = {"org_role": str(org_role) if org_role is not None else None, "teams": team_ids}
    metadata = dict(user.get("metadata") or {})
    if role == stored and remembered == grants:
        return 0
    metadata[SSO_METADATA] = grants
    updated = await org_users.update_user(conn, user["id"], {"org_role": role, "metadata": metadata})
    if role == stored:
        return 0
    before, after = {"org_role": stored}, {"org_role": updated["org_role"] if updated else role}
    await record_change(conn, _actor(user), Change("update", "user", user["id"], None, before, after), request_id)
    return 1
