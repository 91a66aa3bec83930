"""The people half of the organisation repository: users (email unique, stored lower-case; an optional org role;
``disabled`` instead of deletion; ``external_id`` links the identity provider's subject), memberships (user ↔
team with a team role) and ``upsert_user_from_sso`` for sign-in. Same conventions as ``storage.org``: plain dict
rows with ISO timestamps, ``updated_at`` set on every write, unique clashes as 409 ``conflict``.

A membership change also moves the user's ``updated_at``, so a cache polling ``users.updated_at`` notices a
person's roles changed even when a membership row was deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.types import Role
from wardgate.storage.ids import new_id
from wardgate.storage.org import (
    Row,
    conflict,
    ensure_default_org,
    fetch_all,
    fetch_one,
    insert_ignoring_conflicts,
    insert_row,
    now,
    paged,
    update_by_id,
)
from wardgate.storage.schema import memberships, users

USER_FIELDS = frozenset({"email", "name", "org_role", "disabled", "metadata", "external_id"})


def normalise_email(email: str | None) -> str | None:
    """Emails compare case-insensitively: stored trimmed and lower-case."""
    return email.strip().lower() if email is not None else None


def _email_clash(email: str | None) -> str:
    return f"A user with email '{email}' already exists."


async def _email_taken(conn: AsyncConnection, email: str | None, exclude: str | None = None) -> bool:
    if email is None:
        return False
    found = await fetch_one(conn, select(users.c.id).where(users.c.email == email))
    return found is not None and found["id"] != exclude


# --- users ------------------------------------------------------------------------------------------------------


async def create_user(
    conn: AsyncConnection,
    email: str | None,
    *,
    name: str | None = None,
    org_role: Role | None = None,
    external_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Row:
    """A person in the default organisation; 409 when the email (or external id) is taken."""
    email = normalise_email(email)
    if await _email_taken(conn, email):
        raise conflict(_email_clash(email))
    org = await ensure_default_org(conn)
    values = {
        "id": new_id("user"),
        "org_id": org["id"],
        "email": email,
        "name": name,
        "external_id": external_id,
        "org_role": str(org_role) if org_role is not None else None,
        "disabled": False,
        "metadata": dict(metadata or {}),
    }
    return await insert_row(conn, users, values, _email_clash(email))


async def get_user(conn: AsyncConnection, user_id: str) -> Row | None:
    return await fetch_one(conn, select(users).where(users.c.id == user_id))


async def get_user_by_email(conn: AsyncConnection, email: str) -> Row | None:
    return await fetch_one(conn, select(users).where(users.c.email == normalise_email(email)))


async def get_user_by_external_id(conn: AsyncConnection, external_id: str) -> Row | None:
    return await fetch_one(conn, select(users).where(users.c.external_id == external_id))


async def list_users(
    conn: AsyncConnection,
    *,
    user_ids: set[str] | None = None,
    email: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[Row]:
    """Users by id; ``user_ids`` None means everyone, otherwise only these."""
    query = select(users)
    if user_ids is not None:
        query = query.where(users.c.id.in_(sorted(user_ids)))
    if email is not None:
        query = query.where(users.c.email == normalise_email(email))
    return await fetch_all(conn, paged(query, users.c.id, limit, after))


async def update_user(conn: AsyncConnection, user_id: str, changes: Mapping[str, Any]) -> Row | None:
    """Change a user's fields (``USER_FIELDS``); ``disabled=True`` is how a user is deleted."""
    if await get_user(conn, user_id) is None:
        return None
    values = dict(changes)
    if "email" in values:
        values["email"] = normalise_email(values["email"])
        if await _email_taken(conn, values["email"], exclude=user_id):
            raise conflict(_email_clash(values["email"]))
    if values.get("org_role") is not None:
        values["org_role"] = str(values["org_role"])
    await update_by_id(conn, users, user_id, values, USER_FIELDS, _email_clash(values.get("email")))
    return await get_user(conn, user_id)


async def disable_user(conn: AsyncConnection, user_id: str) -> Row | None:
    return await update_user(conn, user_id, {"disabled": True})


async def upsert_user_from_sso(conn: AsyncConnection, external_id: str, email: str | None, name: str | None) -> Row:
    """The user behind an identity provider subject, for sign-in: found by ``external_id``, else an existing
    user with that email not yet linked to another subject (an admin may create people before they first sign
    in), else a new user without roles. Email and name follow the provider (``None`` keeps the stored value).
    A disabled user is returned as it is: refusing it is the caller's decision. 409 when the email belongs to
    a user linked to another subject."""
    email = normalise_email(email)
    user = await get_user_by_external_id(conn, external_id)
    if user is None and email is not None:
        user = await get_user_by_email(conn, email)
        if user is not None and user["external_id"] not in (None, external_id):
            raise conflict(f"The email '{email}' belongs to a user signed in through another identity.")
    if user is None:
        return await _insert_sso_user(conn, external_id, email, name)
    changes: dict[str, Any] = {
        "external_id": external_id,
        "email": email or user["email"],
        "name": name or user["name"],
    }
    changes = {k: v for k, v in changes.items() if v != user[k]}
    if not changes:
        return user
    updated = await update_user(conn, user["id"], changes)
    assert updated is not None
    return updated


async def _insert_sso_user(conn: AsyncConnection, external_id: str, email: str | None, name: str | None) -> Row:
    """Insert a first-time sign-in; when another replica signs the same subject in at once, take its row."""
    org = await ensure_default_org(conn)
    stamp = now()
    values = {
        "id": new_id("user"),
        "org_id": org["id"],
        "email": email,
        "name": name,
        "external_id": external_id,
        "org_role": None,
        "disabled": False,
        "metadata": {},
        "created_at": stamp,
        "updated_at": stamp,
    }
    await conn.execute(insert_ignoring_conflicts(conn, users, values))
    user = await get_user_by_external_id(conn, external_id)
    if user is None:  # the insert clashed on the email, not on the subject
        raise conflict(_email_clash(email))
    return user


# --- memberships ------------------------------------------------------------------------------------------------


def _membership_query() -> Any:
    """Memberships with the member's email, name and disabled flag (for listings)."""
    return select(
        memberships.c.team_id,
        memberships.c.user_id,
        memberships.c.role,
        users.c.email,
        users.c.name,
        users.c.disabled,
        memberships.c.created_at,
        memberships.c.updated_at,
    ).join(users, users.c.id == memberships.c.user_id)


async def _touch_user(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(updated_at=now()))


async def get_membership(conn: AsyncConnection, team_id: str, user_id: str) -> Row | None:
    where = (memberships.c.team_id == team_id, memberships.c.user_id == user_id)
    return await fetch_one(conn, _membership_query().where(*where))


async def list_members(conn: AsyncConnection, team_id: str, *, limit: int = 100, after: str | None = None) -> list[Row]:
    query = _membership_query().where(memberships.c.team_id == team_id)
    return await fetch_all(conn, paged(query, memberships.c.user_id, limit, after))


async def team_roles(conn: AsyncConnection, user_id: str) -> dict[str, Role]:
    """A user's teams: team id → role (for building a person's ``Principal``)."""
    query = select(memberships.c.team_id, memberships.c.role).where(memberships.c.user_id == user_id)
    return {row.team_id: Role(row.role) for row in (await conn.execute(query)).all()}


async def add_member(conn: AsyncConnection, team_id: str, user_id: str, role: Role) -> Row:
    """Give a user a role in a team (both must exist); 409 when the user is already a member."""
    clash = "The user is already a member of this team; change the membership's role instead."
    if await get_membership(conn, team_id, user_id) is not None:
        raise conflict(clash)
    await insert_row(conn, memberships, {"team_id": team_id, "user_id": user_id, "role": str(role)}, clash)
    await _touch_user(conn, user_id)
    found = await get_membership(conn, team_id, user_id)
    assert found is not None
    return found


async def set_member_role(conn: AsyncConnection, team_id: str, user_id: str, role: Role) -> Row | None:
    where = (memberships.c.team_id == team_id, memberships.c.user_id == user_id)
    result = await conn.execute(update(memberships).where(*where).values(role=str(role), updated_at=now()))
    if not result.rowcount:
        return None
    await _touch_user(conn, user_id)
    return await get_membership(conn, team_id, user_id)


async def remove_member(conn: AsyncConnection, team_id: str, user_id: str) -> Row | None:
    """Remove a membership; returns what it was, or None if there was none."""
    found = await get_membership(conn, team_id, user_id)
    if found is None:
        return None
    await conn.execute(delete(memberships).where(memberships.c.team_id == team_id, memberships.c.user_id == user_id))
    await _touch_user(conn, user_id)
    return found
