"""Virtual keys: minted here (``wg-`` + 32 random bytes, URL-safe base64), stored only as their SHA-256 hash and a
short display prefix. The secret leaves this module once, in what :func:`create` / :func:`rotate` return; rows read
back never hold it nor its hash. Every write sets ``updated_at`` (UTC now): the identity caches poll it.

Rows come back as plain dicts (``KEY_FIELDS`` plus a derived ``status``: active, expired, revoked, disabled or
rotating — an old key still working in its rotation grace period). Timestamps are timezone-aware UTC on both
backends (SQLite hands them back naive; they are stored as UTC). Permission checks are the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.keys import hash_key
from wardgate.storage.ids import new_id
from wardgate.storage.meta import new_key
from wardgate.storage.schema import projects, service_principals, teams, users, virtual_keys

PREFIX_LENGTH = 7
"""Characters of the secret kept for display: ``wg-`` and 4 more (24 of its 256 random bits)."""

KEY_FIELDS = (
    "id",
    "name",
    "prefix",
    "team_id",
    "project_id",
    "user_id",
    "service_principal_id",
    "role",
    "allowed_models",
    "expires_at",
    "enabled",
    "revoked_at",
    "rotated_to",
    "limits",
    "budgets",
    "metadata",
    "created_by",
    "created_at",
    "updated_at",
)
UPDATABLE = frozenset(
    {
        "name",
        "allowed_models",
        "enabled",
        "expires_at",
        "limits",
        "budgets",
        "metadata",
        "project_id",
        "role",
        "team_id",
        "user_id",
        "service_principal_id",
    }
)
"""What :func:`update` changes; the rest is kept by the gateway (revoke and rotate have their own functions)."""

_COLUMNS = [virtual_keys.c[name] for name in KEY_FIELDS if name != "prefix"] + [virtual_keys.c.key_prefix]
_TIMES = ("expires_at", "revoked_at", "created_at", "updated_at")


class KeyStateError(ValueError):
    """The key is in no state for this (revoked, or already rotated): nothing was changed."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a key grants and to whom: everything a rotation carries over to the new key."""

    team_id: str
    role: str = "member"
    name: str | None = None
    """``None``: the key's display prefix."""
    project_id: str | None = None
    user_id: str | None = None
    service_principal_id: str | None = None
    allowed_models: Sequence[str] | None = None
    """Model names as clients send them; ``None`` means every model."""
    expires_at: datetime | None = None
    enabled: bool = True
    limits: Mapping[str, Any] = field(default_factory=dict)
    budgets: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MintedKey:
    key: dict[str, Any]
    secret: str = field(repr=False)
    """The plain key, to show once; only its hash is stored."""


def utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive values are taken as UTC (that is how they are stored)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def status(row: Mapping[str, Any], now: datetime | None = None) -> str:
    """revoked, expired, disabled, rotating (replaced but inside its grace period) or active — first match wins."""
    now = now or datetime.now(UTC)
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] is not None and utc(row["expires_at"]) <= now:
        return "expired"
    if not row["enabled"]:
        return "disabled"
    return "rotating" if row["rotated_to"] is not None else "active"


def _public(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    out = {name: row[name] for name in KEY_FIELDS if name != "prefix"}
    out["prefix"] = row["key_prefix"]
    for name in _TIMES:
        if out[name] is not None:
            out[name] = utc(out[name])
    out["status"] = status(out, now)
    return out


def _select() -> Select[Any]:
    return select(*_COLUMNS)


async def get(conn: AsyncConnection, key_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    """One key, or ``None``. ``lock``: hold its row until the transaction ends (PostgreSQL; SQLite locks the file
    at the first write anyway)."""
    query = _select().where(virtual_keys.c.id == key_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return _public(row, datetime.now(UTC)) if row is not None else None


async def list_keys(
    conn: AsyncConnection,
    *,
    teams: set[str] | None = None,
    team_id: str | None = None,
    project_id: str | None = None,
    user_id: str | None = None,
    service_principal_id: str | None = None,
    enabled: bool | None = None,
    revoked: bool | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """Keys in id order, ``limit`` at a time after the id ``after``. ``teams``: only keys of these teams (``None``:
    every team); the other filters narrow further (``None``: not filtered)."""
    table = virtual_keys
    query = _select().order_by(table.c.id).limit(limit)
    if teams is not None:
        query = query.where(table.c.team_id.in_(sorted(teams)))
    for column, value in (
        (table.c.team_id, team_id),
        (table.c.project_id, project_id),
        (table.c.user_id, user_id),
        (table.c.service_principal_id, service_principal_id),
        (table.c.enabled, enabled),
    ):
        if value is not None:
            query = query.where(column == value)
    if revoked is not None:
        query = query.where(table.c.revoked_at.is_not(None) if revoked else table.c.revoked_at.is_(None))
    if after is not None:
        query = query.where(table.c.id > after)
    now = datetime.now(UTC)
    return [_public(row, now) for row in (await conn.execute(query)).mappings()]


async def create(conn: AsyncConnection, spec: KeySpec, *, created_by: str, now: datetime | None = None) -> MintedKey:
    """Mint and store a key; the returned secret is the only copy."""
    return await _insert(conn, spec, new_id("key"), created_by=created_by, now=utc(now or datetime.now(UTC)))


async def _insert(conn: AsyncConnection, spec: KeySpec, key_id: str, *, created_by: str, now: datetime) -> MintedKey:
    secret = new_key()
    prefix = secret[:PREFIX_LENGTH]
    models = sorted(set(spec.allowed_models)) if spec.allowed_models is not None else None
    await conn.execute(
        insert(virtual_keys).values(
            id=key_id,
            key_hash=hash_key(secret),
            key_prefix=prefix,
            name=spec.name or prefix,
            team_id=spec.team_id,
            project_id=spec.project_id,
            user_id=spec.user_id,
            service_principal_id=spec.service_principal_id,
            role=str(spec.role),
            allowed_models=models,
            expires_at=utc(spec.expires_at) if spec.expires_at is not None else None,
            enabled=spec.enabled,
            revoked_at=None,
            rotated_to=None,
            limits=dict(spec.limits),
            budgets=dict(spec.budgets),
            metadata=dict(spec.metadata),
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
    )
    row = await get(conn, key_id)
    assert row is not None
    return MintedKey(row, secret)


async def update(
    conn: AsyncConnection, key_id: str, values: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any] | None:
    """Change ``values`` (names from ``UPDATABLE``; anything else is a ``ValueError``); ``None`` if no such key."""
    unknown = sorted(set(values) - UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {', '.join(unknown)}")
    changes = dict(values)
    if changes.get("expires_at") is not None:
        changes["expires_at"] = utc(changes["expires_at"])
    if changes.get("allowed_models") is not None:
        changes["allowed_models"] = sorted(set(changes["allowed_models"]))
    if "role" in changes:
        changes["role"] = str(changes["role"])
    changes["updated_at"] = utc(now or datetime.now(UTC))
    result = await conn.execute(sql_update(virtual_keys).where(virtual_keys.c.id == key_id).values(**changes))
    return await get(conn, key_id) if result.rowcount else None


async def revoke(conn: AsyncConnection, key_id: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """Revoke for good (``revoked_at`` = now, disabled). A key already revoked keeps its first revocation time.
    ``None`` if no such key."""
    now = utc(now or datetime.now(UTC))
    table = virtual_keys
    await conn.execute(
        sql_update(table)
        .where(table.c.id == key_id, table.c.revoked_at.is_(None))
        .values(revoked_at=now, enabled=False, updated_at=now)
    )
    return await get(conn, key_id)


async def rotate(
    conn: AsyncConnection, key_id: str, grace_seconds: int, *, created_by: str, now: datetime | None = None
) -> tuple[dict[str, Any], MintedKey] | None:
    """Replace a key: a new key with the same attributes; the old one points to it (``rotated_to``) and expires at
    the earlier of its own expiry and now + ``grace_seconds`` (0: now). Returns (old key, new key); ``None`` if no
    such key; ``KeyStateError`` if it is revoked or already rotated."""
    if grace_seconds < 0:
        raise ValueError("grace_seconds must be >= 0")
    now = utc(now or datetime.now(UTC))
    old = await get(conn, key_id, lock=True)
    if old is None:
        return None
    until = now + timedelta(seconds=grace_seconds)
    if old["expires_at"] is not None:
        until = min(until, old["expires_at"])
    new_key_id = new_id("key")
    table = virtual_keys
    result = await conn.execute(  # conditional, so of two rotations at once only one succeeds
        sql_update(table)
        .where(table.c.id == key_id, table.c.revoked_at.is_(None), table.c.rotated_to.is_(None))
        .values(rotated_to=new_key_id, expires_at=until, updated_at=now)
    )
    if not result.rowcount:
        raise KeyStateError("the key is revoked or was already rotated")
    minted = await _insert(conn, spec_of(old), new_key_id, created_by=created_by, now=now)
    rotated = await get(conn, key_id)
    assert rotated is not None
    return rotated, minted


def spec_of(row: Mapping[str, Any]) -> KeySpec:
    """The attributes of a stored key, as a rotation carries them over."""
    return KeySpec(
        team_id=row["team_id"],
        role=row["role"],
        name=row["name"],
        project_id=row["project_id"],
        user_id=row["user_id"],
        service_principal_id=row["service_principal_id"],
        allowed_models=row["allowed_models"],
        expires_at=row["expires_at"],
        enabled=row["enabled"],
        limits=row["limits"] or {},
        budgets=row["budgets"] or {},
        metadata=row["metadata"] or {},
    )


# --- references a key names ------------------------------------------------------------------------------------


async def find_teams(conn: AsyncConnection, ref: str) -> list[str]:
    """Ids of the teams ``ref`` names: its id, else every team of that name (one per organisation)."""
    query = select(teams.c.id).where(or_(teams.c.id == ref, teams.c.name == ref)).order_by(teams.c.id)
    found = list((await conn.execute(query)).scalars())
    return [ref] if ref in found else found


async def missing_refs(
    conn: AsyncConnection,
    *,
    team_id: str,
    project_id: str | None = None,
    user_id: str | None = None,
    service_principal_id: str | None = None,
) -> list[str]:
    """The names of the given references that do not exist (a project or service principal must be of the team)."""
    checks = (
        ("project_id", project_id, select(projects.c.id).where(projects.c.team_id == team_id)),
        ("user_id", user_id, select(users.c.id)),
        (
            "service_principal_id",
            service_principal_id,
            select(service_principals.c.id).where(service_principals.c.team_id == team_id),
        ),
    )
    missing = []
    for name, value, query in checks:
        if value is None:
            continue
        column = query.selected_columns[0]
        if (await conn.execute(query.where(column == value))).first() is None:
            missing.append(name)
    return missing
