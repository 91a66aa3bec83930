"""The audit trail, read: ``GET /audit`` (records newest first, filtered, paged by ``seq``) and ``GET /audit/{id}``.

Filters: ``since`` / ``until`` (ISO 8601, or relative to now: ``7d``, ``24h``; half-open on the record's time),
``team`` (id or name), ``key``, ``user``, ``model``, ``flag`` (content classifications such as ``phi``) — each may
repeat, any value matching — and ``kind`` (``request`` | ``admin``). Page with ``before=<next_before>`` (the
``seq`` of the last record of the previous page); ``content=false`` leaves out prompt and response content.

Each item is the row's index (``seq``, ``id``, ``at``, ``kind``, ``team_id``, ``key_id``, ``user_id``, ``model``,
``status``, ``flags``, the chain's ``record_hash`` and ``hash``, ``purged_at``) and the ``record`` itself as the
trail stored it (``null`` once retention purged it). Records hold no secret by construction.

Who sees what: org admins and auditors every record; a team admin the records of the teams it administers (its
requests and the admin changes made in them; another team's records answer 404 like missing ones); anyone else —
members, viewers, member keys — 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.api.admin.deps import MAX_PAGE, AdminDep
from wardgate.audit.sinks import iso
from wardgate.core.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from wardgate.core.types import Principal, Role
from wardgate.identity import rbac
from wardgate.spend.query import parse_time
from wardgate.storage.keys import find_teams
from wardgate.storage.schema import audit_log

router = APIRouter(tags=["audit"])
Values = Annotated[list[str] | None, Query(max_length=100)]
Time = Annotated[str | None, Query(description="ISO 8601 time or date, or relative: 7d, 24h, 30m, 2w.")]
_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.id,
    audit_log.c.at,
    audit_log.c.kind,
    audit_log.c.request_id,
    audit_log.c.team_id,
    audit_log.c.key_id,
    audit_log.c.user_id,
    audit_log.c.model,
    audit_log.c.status,
    audit_log.c.flags,
    audit_log.c.record_hash,
    audit_log.c.hash,
    audit_log.c.purged_at,
    audit_log.c.record,
)


@dataclass
class AuditSelection:
    """The filters of ``GET /audit`` (one FastAPI dependency)."""

    since: Time = None
    until: Time = None
    team: Values = None
    key: Values = None
    user: Values = None
    model: Values = None
    flag: Values = None
    kind: Annotated[Literal["request", "admin"] | None, Query(description="request | admin")] = None


Selection = Annotated[AuditSelection, Depends()]


@router.get("/audit")
async def list_audit(
    admin: AdminDep,
    selection: Selection,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1, description="The previous page's next_before.")] = None,
    content: Annotated[bool, Query(description="false: leave out prompt and response content.")] = True,
) -> Response:
    """Audit records, newest first; page with ``before=<next_before>``."""
    scope = _scope(admin.actor)
    since, until = _range(selection.since, selection.until)
    async with admin.read() as conn:
        teams = await _teams(conn, scope, selection.team)
        query = _filtered(select(*_COLUMNS), selection, teams, since, until)
        if before is not None:
            query = query.where(audit_log.c.seq < before)
        rows = (await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit))).mappings().all()
    data = [_item(row, content) for row in rows]
    next_before = data[-1]["seq"] if len(data) == limit else None
    return _json({"object": "list", "data": data, "has_more": next_before is not None, "next_before": next_before})


@router.get("/audit/{record_id}")
async def get_audit(
    admin: AdminDep,
    record_id: str,
    content: Annotated[bool, Query(description="false: leave out prompt and response content.")] = True,
) -> Response:
    """One audit record by its id (``aud_…``)."""
    scope = _scope(admin.actor)
    async with admin.read() as conn:
        row = (await conn.execute(select(*_COLUMNS).where(audit_log.c.id == record_id))).mappings().first()
    if row is None or (scope is not None and row["team_id"] not in scope):
        raise NotFoundError("No such audit record.")
    return _json(_item(row, content))


def _scope(actor: Principal) -> set[str] | None:
    """The teams whose records the actor may read (``None``: all), or 403."""
    if rbac.effective_org_role(actor) is not None:
        return None
    teams = {team for team, role in actor.teams.items() if role == Role.TEAM_ADMIN}
    if not teams:
        raise PermissionDeniedError("Reading the audit trail needs org_admin, auditor, or team_admin of a team.")
    return teams


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    times: list[datetime | None] = []
    for param, text in (("since", since), ("until", until)):
        try:
            times.append(parse_time(text) if text else None)
        except ValueError as exc:
            raise InvalidRequestError(f"{param}: {exc}", param=param) from None
    if times[0] is not None and times[1] is not None and times[0] >= times[1]:
        raise InvalidRequestError("since must be before until.", param="since")
    return times[0], times[1]


async def _teams(conn: AsyncConnection, scope: set[str] | None, wanted: list[str] | None) -> set[str] | None:
    """The team ids to keep: the wanted ones (ids or names) within the actor's scope; ``None``: any team."""
    if not wanted:
        return scope
    found: set[str] = set()
    for ref in wanted:
        ids = [team for team in await find_teams(conn, ref) if scope is None or team in scope]
        if not ids and scope is not None:
            raise NotFoundError(f"No such team: {ref}.", param="team")
        found.update(ids or [ref])  # org roles: a deleted team's records stay readable by its id
    return found


def _filtered(
    query: Select[Any],
    selection: AuditSelection,
    teams: set[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    column = audit_log.c
    if teams is not None:
        query = query.where(column.team_id.in_(sorted(teams)))
    for values, col in (
        (selection.key, column.key_id),
        (selection.user, column.user_id),
        (selection.model, column.model),
    ):
        if values:
            query = query.where(col.in_(values))
    if selection.kind is not None:
        query = query.where(column.kind == selection.kind)
    if selection.flag:
        query = query.where(or_(*(_has_flag(flag) for flag in selection.flag)))
    if since is not None:
        query = query.where(column.at >= since)
    if until is not None:
        query = query.where(column.at < until)
    return query


def _has_flag(flag: str) -> ColumnElement[bool]:
    """``flags`` (comma-separated) holds ``flag`` as a whole item."""
    flags = audit_log.c.flags
    return or_(
        flags == flag,
        flags.startswith(flag + ",", autoescape=True),
        flags.endswith("," + flag, autoescape=True),
        flags.contains("," + flag + ",", autoescape=True),
    )


def _item(row: Any, content: bool) -> dict[str, Any]:
    record = orjson.loads(row["record"]) if row["record"] is not None else None
    if record is not None and not content:
        record.pop("content", None)
    return {
        "object": "audit_record",
        "seq": row["seq"],
        "id": row["id"],
        "at": iso(row["at"]),
        "kind": row["kind"],
        "request_id": row["request_id"],
        "team_id": row["team_id"],
        "key_id": row["key_id"],
        "user_id": row["user_id"],
        "model": row["model"],
        "status": row["status"],
        "flags": row["flags"].split(",") if row["flags"] else [],
        "record_hash": row["record_hash"],
        "hash": row["hash"],
        "purged_at": iso(row["purged_at"]) if row["purged_at"] is not None else None,
        "record": record,
    }


def _json(document: dict[str, Any]) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")
