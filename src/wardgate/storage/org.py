"""The organisation repository: the default organisation, teams, projects and service principals (users and
memberships live in ``org_users``). Async functions over an ``AsyncConnection`` the caller opens (the admin API
runs each change in one transaction with its change record); SQLAlchemy Core only, every value a bound parameter.

Rows come back as plain dicts (column → value, timestamps as ISO 8601 UTC strings). Every write sets
``updated_at`` (and ``created_at`` on insert), which the identity cache polls. Unique names clash with a 409
``conflict``; a delete that would orphan keys, projects or service principals is refused with a 409 as well.

Teams and projects (like keys) carry ``limits`` (a compact ``LimitSet`` as JSON) and ``budgets`` (a JSON object):
stored as given; validating them is the admin API's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.storage.ids import new_id
from wardgate.storage.schema import memberships, orgs, projects, service_principals, teams, users, virtual_keys

Row = dict[str, Any]
DEFAULT_ORG = "default"
SERVICE_PRINCIPAL_KINDS = frozenset({"app", "agent"})
ORG_FIELDS = frozenset({"name", "metadata"})
TEAM_FIELDS = frozenset({"name", "metadata", "limits", "budgets"})
PROJECT_FIELDS = frozenset({"name", "metadata", "limits", "budgets", "team_id"})
SERVICE_PRINCIPAL_FIELDS = frozenset({"name", "kind", "project_id", "metadata", "team_id"})


# --- helpers shared with org_users ------------------------------------------------------------------------------


def conflict(message: str) -> GatewayError:
    return GatewayError(message, status=409, code="conflict")


def now() -> datetime:
    return datetime.now(UTC)


def plain(row: Mapping[str, Any]) -> Row:
    """A row as a plain dict; datetimes as ISO strings in UTC (SQLite hands them back without a zone)."""
    return {key: _iso(value) if isinstance(value, datetime) else value for key, value in row.items()}


def _iso(value: datetime) -> str:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


async def fetch_one(conn: AsyncConnection, query: Select[Any]) -> Row | None:
    row = (await conn.execute(query)).mappings().first()
    return plain(row) if row is not None else None


async def fetch_all(conn: AsyncConnection, query: Select[Any]) -> list[Row]:
    return [plain(row) for row in (await conn.execute(query)).mappings().all()]


async def count(conn: AsyncConnection, table: Table, *where: ColumnElement[bool]) -> int:
    return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


def paged(query: Select[Any], column: Any, limit: int, after: str | None) -> Select[Any]:
    """Ordered by ``column`` (an id), at most ``limit`` rows, those after the cursor ``after``."""
    query = query.order_by(column).limit(limit)
    return query.where(column > after) if after is not None else query


async def insert_row(conn: AsyncConnection, table: Table, values: Mapping[str, Any], clash: str) -> Row:
    """Insert every column of a new row (timestamps added); a unique clash raced past the caller's check is a 409."""
    stamp = now()
    full = {**values, "created_at": stamp, "updated_at": stamp}
    try:
        await conn.execute(insert(table).values(**full))
    except IntegrityError:
        raise conflict(clash) from None
    return plain(full)


async def update_by_id(
    conn: AsyncConnection, table: Table, object_id: str, changes: Mapping[str, Any], allowed: frozenset[str], clash: str
) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not updatable on {table.name}: {sorted(unknown)}")
    try:
        await conn.execute(update(table).where(table.c.id == object_id).values(**changes, updated_at=now()))
    except IntegrityError:
        raise conflict(clash) from None


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL): for rows several processes may create at once."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


# --- organisation -----------------------------------------------------------------------------------------------


async def ensure_default_org(conn: AsyncConnection) -> Row:
    """The organisation: the oldest one (there is one; it may have been renamed), else a new one named
    ``default``, created on first use; safe when several replicas do it at once."""
    query = select(orgs).order_by(orgs.c.created_at, orgs.c.id).limit(1)
    found = await fetch_one(conn, query)
    if found is not None:
        return found
    stamp = now()
    values = {"id": new_id("org"), "name": DEFAULT_ORG, "metadata": {}, "created_at": stamp, "updated_at": stamp}
    await conn.execute(insert_ignoring_conflicts(conn, orgs, values))
    created = await fetch_one(conn, query)
    assert created is not None
    return created


async def update_org(conn: AsyncConnection, org_id: str, changes: Mapping[str, Any]) -> Row | None:
    taken = select(orgs.c.id).where(orgs.c.name == changes.get("name"), orgs.c.id != org_id)
    if "name" in changes and await fetch_one(conn, taken):
        raise conflict(f"An organisation named '{changes['name']}' already exists.")
    await update_by_id(conn, orgs, org_id, changes, ORG_FIELDS, "The organisation name is taken.")
    return await fetch_one(conn, select(orgs).where(orgs.c.id == org_id))


# --- teams ------------------------------------------------------------------------------------------------------


def _team_clash(name: str) -> str:
    return f"A team named '{name}' already exists."


async def _team_name_taken(conn: AsyncConnection, org_id: str, name: str, exclude: str | None = None) -> bool:
    query = select(teams.c.id).where(teams.c.org_id == org_id, teams.c.name == name)
    found = await fetch_one(conn, query)
    return found is not None and found["id"] != exclude


def _settings(
    metadata: Mapping[str, Any] | None, limits: Mapping[str, Any] | None, budgets: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The JSON object columns of a new team or project (absent: ``{}``)."""
    return {"metadata": dict(metadata or {}), "limits": dict(limits or {}), "budgets": dict(budgets or {})}


async def create_team(
    conn: AsyncConnection,
    name: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    limits: Mapping[str, Any] | None = None,
    budgets: Mapping[str, Any] | None = None,
) -> Row:
    org = await ensure_default_org(conn)
    if await _team_name_taken(conn, org["id"], name):
        raise conflict(_team_clash(name))
    values = {"id": new_id("team"), "org_id": org["id"], "name": name, **_settings(metadata, limits, budgets)}
    return await insert_row(conn, teams, values, _team_clash(name))


async def get_team(conn: AsyncConnection, team_id: str) -> Row | None:
    return await fetch_one(conn, select(teams).where(teams.c.id == team_id))


async def get_team_by_name(conn: AsyncConnection, name: str) -> Row | None:
    """The team called ``name`` in the default organisation."""
    org = await ensure_default_org(conn)
    return await fetch_one(conn, select(teams).where(teams.c.org_id == org["id"], teams.c.name == name))


async def list_teams(
    conn: AsyncConnection,
    *,
    team_ids: set[str] | None = None,
    name: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[Row]:
    """Teams by id; ``team_ids`` None means every team, otherwise only these."""
    query = select(teams)
    if team_ids is not None:
        query = query.where(teams.c.id.in_(sorted(team_ids)))
    if name is not None:
        query = query.where(teams.c.name == name)
    return await fetch_all(conn, paged(query, teams.c.id, limit, after))


async def update_team(conn: AsyncConnection, team_id: str, changes: Mapping[str, Any]) -> Row | None:
    team = await get_team(conn, team_id)
    if team is None:
        return None
    name = changes.get("name")
    if name is not None and await _team_name_taken(conn, team["org_id"], name, exclude=team_id):
        raise conflict(_team_clash(name))
    await update_by_id(conn, teams, team_id, changes, TEAM_FIELDS, _team_clash(str(name)))
    return await get_team(conn, team_id)


async def delete_team(conn: AsyncConnection, team_id: str) -> Row | None:
    """Delete a team and its memberships (members' ``updated_at`` moves, so caches see it); refused (409) while
    the team still has keys (revoked ones too), projects or service principals. None if there is no such team."""
    team = await get_team(conn, team_id)
    if team is None:
        return None
    held = {
        "keys": await count(conn, virtual_keys, virtual_keys.c.team_id == team_id),
        "projects": await count(conn, projects, projects.c.team_id == team_id),
        "service principals": await count(conn, service_principals, service_principals.c.team_id == team_id),
    }
    if any(held.values()):
        still = ", ".join(f"{n} {what}" for what, n in held.items() if n)
        raise conflict(f"Team '{team['name']}' still has {still}; delete or move them first.")
    members = select(memberships.c.user_id).where(memberships.c.team_id == team_id)
    await conn.execute(update(users).where(users.c.id.in_(members)).values(updated_at=now()))
    await conn.execute(delete(memberships).where(memberships.c.team_id == team_id))
    await conn.execute(delete(teams).where(teams.c.id == team_id))
    return team


# --- projects ---------------------------------------------------------------------------------------------------


def _project_clash(name: str) -> str:
    return f"The team already has a project named '{name}'."


async def _project_name_taken(conn: AsyncConnection, team_id: str, name: str, exclude: str | None = None) -> bool:
    found = await fetch_one(conn, select(projects.c.id).where(projects.c.team_id == team_id, projects.c.name == name))
    return found is not None and found["id"] != exclude


async def create_project(
    conn: AsyncConnection,
    team_id: str,
    name: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    limits: Mapping[str, Any] | None = None,
    budgets: Mapping[str, Any] | None = None,
) -> Row:
    if await _project_name_taken(conn, team_id, name):
        raise conflict(_project_clash(name))
    values = {"id": new_id("proj"), "team_id": team_id, "name": name, **_settings(metadata, limits, budgets)}
    return await insert_row(conn, projects, values, _project_clash(name))


async def get_project(conn: AsyncConnection, project_id: str) -> Row | None:
    return await fetch_one(conn, select(projects).where(projects.c.id == project_id))


async def list_projects(
    conn: AsyncConnection, team_id: str, *, limit: int = 100, after: str | None = None
) -> list[Row]:
    query = select(projects).where(projects.c.team_id == team_id)
    return await fetch_all(conn, paged(query, projects.c.id, limit, after))


async def _project_users(conn: AsyncConnection, project_id: str) -> str | None:
    """What still refers to a project (keys, service principals), or None."""
    keys = await count(conn, virtual_keys, virtual_keys.c.project_id == project_id)
    principals = await count(conn, service_principals, service_principals.c.project_id == project_id)
    if not keys and not principals:
        return None
    return f"{keys} keys and {principals} service principals"


async def update_project(conn: AsyncConnection, project_id: str, changes: Mapping[str, Any]) -> Row | None:
    """Rename, retag, re-limit or (``team_id``) move a project; a move is refused (409) while keys or service
    principals refer to it, since they belong to the old team."""
    project = await get_project(conn, project_id)
    if project is None:
        return None
    team_id = changes.get("team_id", project["team_id"])
    name = changes.get("name", project["name"])
    if team_id != project["team_id"]:
        refs = await _project_users(conn, project_id)
        if refs is not None:
            raise conflict(f"Project '{project['name']}' is used by {refs} of its team; it cannot move.")
    if (team_id, name) != (project["team_id"], project["name"]) and await _project_name_taken(conn, team_id, name):
        raise conflict(_project_clash(name))
    await update_by_id(conn, projects, project_id, changes, PROJECT_FIELDS, _project_clash(name))
    return await get_project(conn, project_id)


async def delete_project(conn: AsyncConnection, project_id: str) -> Row | None:
    """Refused (409) while keys or service principals refer to the project."""
    project = await get_project(conn, project_id)
    if project is None:
        return None
    refs = await _project_users(conn, project_id)
    if refs is not None:
        raise conflict(f"Project '{project['name']}' is still used by {refs}; delete or move them first.")
    await conn.execute(delete(projects).where(projects.c.id == project_id))
    return project


# --- service principals -----------------------------------------------------------------------------------------


def _principal_clash(name: str) -> str:
    return f"The team already has a service principal named '{name}'."


def _check_kind(kind: str) -> None:
    if kind not in SERVICE_PRINCIPAL_KINDS:
        raise InvalidRequestError(f"kind: one of {', '.join(sorted(SERVICE_PRINCIPAL_KINDS))}.", param="kind")


async def _principal_name_taken(conn: AsyncConnection, team_id: str, name: str, exclude: str | None = None) -> bool:
    table = service_principals
    found = await fetch_one(conn, select(table.c.id).where(table.c.team_id == team_id, table.c.name == name))
    return found is not None and found["id"] != exclude


async def create_service_principal(
    conn: AsyncConnection,
    team_id: str,
    name: str,
    kind: str,
    *,
    project_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Row:
    """An app or agent of a team (``project_id``, when given, must be a project of the same team)."""
    _check_kind(kind)
    if await _principal_name_taken(conn, team_id, name):
        raise conflict(_principal_clash(name))
    values = {
        "id": new_id("sp"),
        "team_id": team_id,
        "project_id": project_id,
        "name": name,
        "kind": kind,
        "metadata": dict(metadata or {}),
    }
    return await insert_row(conn, service_principals, values, _principal_clash(name))


async def get_service_principal(conn: AsyncConnection, principal_id: str) -> Row | None:
    return await fetch_one(conn, select(service_principals).where(service_principals.c.id == principal_id))


async def list_service_principals(
    conn: AsyncConnection, team_id: str, *, limit: int = 100, after: str | None = None
) -> list[Row]:
    query = select(service_principals).where(service_principals.c.team_id == team_id)
    return await fetch_all(conn, paged(query, service_principals.c.id, limit, after))


async def update_service_principal(conn: AsyncConnection, principal_id: str, changes: Mapping[str, Any]) -> Row | None:
    """Change a service principal; a move to another team (``team_id``) is refused (409) while keys use it."""
    principal = await get_service_principal(conn, principal_id)
    if principal is None:
        return None
    if "kind" in changes:
        _check_kind(changes["kind"])
    team_id = changes.get("team_id", principal["team_id"])
    name = changes.get("name", principal["name"])
    if team_id != principal["team_id"]:
        keys = await count(conn, virtual_keys, virtual_keys.c.service_principal_id == principal_id)
        if keys:
            raise conflict(f"Service principal '{principal['name']}' has {keys} keys in its team; it cannot move.")
    moved_or_renamed = (team_id, name) != (principal["team_id"], principal["name"])
    if moved_or_renamed and await _principal_name_taken(conn, team_id, name):
        raise conflict(_principal_clash(name))
    await update_by_id(
        conn, service_principals, principal_id, changes, SERVICE_PRINCIPAL_FIELDS, _principal_clash(name)
    )
    return await get_service_principal(conn, principal_id)


async def delete_service_principal(conn: AsyncConnection, principal_id: str) -> Row | None:
    """Refused (409) while keys (revoked ones too) belong to the service principal."""
    principal = await get_service_principal(conn, principal_id)
    if principal is None:
        return None
    keys = await count(conn, virtual_keys, virtual_keys.c.service_principal_id == principal_id)
    if keys:
        raise conflict(f"Service principal '{principal['name']}' still has {keys} keys; delete them first.")
    await conn.execute(delete(service_principals).where(service_principals.c.id == principal_id))
    return principal
