"""The SOC 2 report's key sections: the inventory of virtual keys and provider credentials (never a key, a hash,
a display prefix or a secret's last digits), the rotations of the period, and the admin changes of the period."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.reports.period import Period, when
from wardgate.audit.reports.read import AdminChange, Names, last_used
from wardgate.audit.reports.render import Section, Table
from wardgate.storage.schema import credentials, virtual_keys

KEY_COLUMNS = (
    "key_id", "name", "team", "owner", "role", "state", "created", "created_by", "expires", "revoked",
    "rotated_from", "rotated_to", "last_rotation", "last_used",
)  # fmt: skip
CREDENTIAL_COLUMNS = ("credential_id", "name", "version", "created", "created_by", "last_rotation", "description")


@dataclass(frozen=True, slots=True)
class KeyFacts:
    rows: list[dict[str, Any]]
    states: dict[str, str]
    """Key id → its state at the end of the period."""


def state(row: Mapping[str, Any], at: datetime) -> str:
    """revoked, rotated (replaced by another key: working in its grace period, which ``expires`` ends), expired,
    disabled or active, at ``at``; the first that applies."""
    if row["revoked_at"] is not None and when(row["revoked_at"]) <= at:
        return "revoked"
    if row["rotated_to"] is not None:
        return "rotated"
    if row["expires_at"] is not None and when(row["expires_at"]) <= at:
        return "expired"
    return "active" if row["enabled"] else "disabled"


async def key_facts(conn: AsyncConnection, period: Period, now: datetime) -> KeyFacts:
    """The keys that existed by the end of the period, oldest first, and their state then."""
    columns = [c for c in virtual_keys.c if c.name not in ("key_hash", "key_prefix")]
    found = await conn.execute(
        select(*columns).where(virtual_keys.c.created_at < period.end).order_by(virtual_keys.c.created_at)
    )
    rows = [dict(row) for row in found.mappings()]
    reference = min(period.end, now)
    return KeyFacts(rows, {row["id"]: state(row, reference) for row in rows})


async def inventory(
    conn: AsyncConnection, period: Period, names: Names, facts: KeyFacts, changes: list[AdminChange]
) -> Section:
    used = await last_used(conn, period.end)
    text = (
        "Every virtual key created by the end of the period and its state then, with its owner, its rotation "
        "lineage and its last request (audit trail and spend ledger). Keys are named by id: no key, hash or "
        "display prefix is ever printed. Then the provider credentials held by the vault (no secret, no digits of "
        "it); a credential's last rotation comes from the admin changes, or its last update when it has been "
        "replaced (version > 1)."
    )
    tables = [
        Table("key-inventory", KEY_COLUMNS, _key_rows(names, facts, used), empty="No virtual keys."),
        Table(
            "credentials",
            CREDENTIAL_COLUMNS,
            await _credential_rows(conn, period, changes),
            empty="No provider credentials in the vault.",
        ),
    ]
    return Section("Key inventory", text, tables)


def _key_rows(names: Names, facts: KeyFacts, used: dict[str, datetime]) -> list[list[Any]]:
    predecessor = {row["rotated_to"]: row["id"] for row in facts.rows if row["rotated_to"]}
    created = {row["id"]: when(row["created_at"]) for row in facts.rows}
    rows: list[list[Any]] = []
    for row in facts.rows:
        ident = row["id"]
        rotated_out = created.get(row["rotated_to"]) if row["rotated_to"] else None
        rotated_in = created[ident] if ident in predecessor else None
        rows.append(
            [
                ident,
                row["name"],
                names.team(row["team_id"]),
                names.user(row["user_id"]) or _principal(names, row["service_principal_id"]),
                row["role"],
                facts.states[ident],
                created[ident],
                row["created_by"],
                _maybe(row["expires_at"]),
                _maybe(row["revoked_at"]),
                predecessor.get(ident),
                row["rotated_to"],
                max((t for t in (rotated_out, rotated_in) if t is not None), default=None),
                used.get(ident),
            ]
        )
    return rows


async def _credential_rows(conn: AsyncConnection, period: Period, changes: list[AdminChange]) -> list[list[Any]]:
    c = credentials.c
    found = await conn.execute(
        select(c.id, c.name, c.version, c.created_at, c.created_by, c.updated_at, c.description)
        .where(c.created_at < period.end)
        .order_by(c.name)
    )
    rotations = _credential_rotations(changes)
    return [
        [
            row.id,
            row.name,
            row.version,
            when(row.created_at),
            row.created_by,
            rotations.get(row.id) or (when(row.updated_at) if row.version > 1 else None),
            row.description,
        ]
        for row in found
    ]


def _principal(names: Names, ident: str | None) -> str | None:
    return names.object("service_principal", ident) if ident else None


def _maybe(value: datetime | None) -> datetime | None:
    return when(value) if value is not None else None


def _credential_rotations(changes: list[AdminChange]) -> dict[str, datetime]:
    return {
        c.object_id: c.at
        for c in changes
        if c.action == "rotate" and c.object_kind == "credential" and c.object_id is not None
    }


ROTATION_COLUMNS = ("at", "kind", "object_id", "name", "replaced_by", "actor", "source")


def rotations(names: Names, facts: KeyFacts, changes: list[AdminChange], period: Period) -> Section:
    """Rotations of keys and credentials in the period (admin changes; for keys also their lineage, so a
    rotation the change log somehow lacks still shows)."""
    successors = {row["id"]: row["rotated_to"] for row in facts.rows if row["rotated_to"]}
    rows: list[list[Any]] = []
    seen: set[str] = set()
    for change in changes:
        if change.action != "rotate" or change.object_id is None:
            continue
        successor = successors.get(change.object_id) if change.object_kind == "key" else None
        rows.append(
            [
                change.at,
                change.object_kind,
                change.object_id,
                names.object(change.object_kind or "", change.object_id),
                successor,
                names.actor(change.actor_kind, change.actor_id),
                change.source,
            ]
        )
        seen.add(change.object_id)
    for row in facts.rows:
        successor = row["rotated_to"]
        if successor is None or row["id"] in seen:
            continue
        new = next((r for r in facts.rows if r["id"] == successor), None)
        if new is not None and period.start <= when(new["created_at"]) < period.end:
            rows.append([when(new["created_at"]), "key", row["id"], row["name"], successor, None, "keys table"])
    rows.sort(key=lambda r: r[0])
    text = "Keys and provider credentials replaced during the period, who replaced them and with what."
    return Section("Key rotations", text, [Table("key-rotations", ROTATION_COLUMNS, rows)])


CHANGE_COLUMNS = ("at", "actor", "action", "object_kind", "object", "team", "fields", "source")


def admin_section(names: Names, changes: list[AdminChange]) -> Section:
    rows: list[list[Any]] = [
        [
            c.at,
            names.actor(c.actor_kind, c.actor_id),
            c.action or "(record purged by retention)",
            c.object_kind,
            names.object(c.object_kind or "", c.object_id) if c.object_id else None,
            names.team(c.team_id),
            changed_fields(c),
            c.source,
        ]
        for c in changes
    ]
    text = (
        "Every change made through the admin API in the period: who, what, when. `fields` names what an update "
        "changed (values are in the trail: `wardgate audit export`). Source: the hash-chained audit trail, or the "
        "change log for changes the trail does not hold (made before it existed)."
    )
    return Section("Admin changes", text, [Table("admin-changes", CHANGE_COLUMNS, rows)])


def changed_fields(change: AdminChange) -> str | None:
    if change.action is None:
        return None
    before, after = change.before or {}, change.after or {}
    if not before:
        return "(created)" if after else None
    if not after:
        return "(removed)"
    names = sorted(k for k in {*before, *after} if k != "updated_at" and before.get(k) != after.get(k))
    return ", ".join(names) or "(no field changed)"
