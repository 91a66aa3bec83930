"""Spend: ``GET /spend`` (a report: filters, group-by, totals) and ``GET /spend/records`` (ledger rows, paged), each
as JSON or CSV (``format=csv``).

Times (``since``, ``until``) are ISO 8601 (UTC when no zone is given) or relative to now (``7d``, ``24h``, ``30m``);
the range is half-open. Filters take one or more values each (``team=a&team=b``); ``team`` also takes a team's
name. ``group_by`` is a comma list of team, project, key, user, agent, app, model, provider, org, deployment,
upstream_model, endpoint, status, tag, and at most one of minute | hour | day.

Who sees what (``identity.rbac``): org admins and auditors see every team's spend; anyone else only the spend of
the teams they hold a role in (team admin, member or viewer), and a team they hold none in answers 404 like a
missing one. Spend not attributed to a team (master-key calls) is org-wide: only org roles see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.api.admin.deps import AdminDep
from wardgate.core.errors import InvalidRequestError, NotFoundError
from wardgate.core.types import Principal
from wardgate.identity import rbac
from wardgate.spend.export import ROW_COLUMNS, report_csv, report_json, rows_json, to_csv
from wardgate.spend.query import SpendQuery, SpendReport, list_rows, parse_group_by, parse_time, run_query
from wardgate.storage.keys import find_teams
from wardgate.storage.schema import projects, teams, users, virtual_keys

router = APIRouter(tags=["spend"])
MAX_RECORDS = 10_000
Values = Annotated[list[str] | None, Query(max_length=100)]
Time = Annotated[str | None, Query(description="ISO 8601 time or date, or relative: 7d, 24h, 30m, 2w.")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]


@dataclass
class SpendSelection:
    """The time range and filters both spend routes take (one FastAPI dependency, so they stay the same)."""

    since: Time = None
    until: Time = None
    team: Values = None
    project: Values = None
    key: Values = None
    user: Values = None
    agent: Values = None
    app: Values = None
    model: Values = None
    provider: Values = None
    tag: Values = None

    def filters(self) -> dict[str, frozenset[str]]:
        names = ("team", "project", "key", "user", "agent", "app", "model", "provider", "tag")
        return {name: frozenset(v) for name in names if (v := getattr(self, name))}


Selection = Annotated[SpendSelection, Depends()]
_NAMES: dict[str, tuple[Any, Any]] = {
    "team": (teams.c.id, teams.c.name),
    "project": (projects.c.id, projects.c.name),
    "key": (virtual_keys.c.id, virtual_keys.c.name),
    "user": (users.c.id, users.c.email),
}
"""Group-by dimensions whose ids get a readable ``<dim>_name`` beside them."""


@router.get("/spend")
async def spend_report(
    admin: AdminDep,
    selection: Selection,
    group_by: Annotated[str | None, Query(description="Comma list, e.g. team,model or team,day.")] = None,
    format: Format = "json",
) -> Any:
    """Spend over a time range: sums of requests, tokens and cost (USD, exact decimal text) per group, and totals."""
    since, until, filters = selection.since, selection.until, selection.filters()
    try:
        grouping = parse_group_by(group_by)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), param="group_by") from None
    async with admin.read() as conn:
        query = SpendQuery(*_range(since, until), await _scoped(conn, admin.actor, filters), grouping)
        document = report_json(await _report(conn, query))
    if format == "csv":
        return _csv(report_csv(document), "spend-report.csv")
    return document


@router.get("/spend/records")
async def spend_records(
    admin: AdminDep,
    selection: Selection,
    limit: Annotated[int, Query(ge=1, le=MAX_RECORDS)] = 1000,
    after: Annotated[str | None, Query(description="The previous page's next_after.")] = None,
    format: Format = "json",
) -> Any:
    """Ledger rows (one per request), oldest first; page with ``after=<next_after>``."""
    since, until, filters = selection.since, selection.until, selection.filters()
    async with admin.read() as conn:
        query = SpendQuery(*_range(since, until), await _scoped(conn, admin.actor, filters))
        rows = await list_rows(conn, query, limit=limit, after=_cursor(after))
    data = rows_json(rows)
    next_after = f"{rows[-1]['at'].isoformat()}|{rows[-1]['id']}" if len(rows) == limit else None
    if format == "csv":
        return _csv(to_csv(ROW_COLUMNS, data), "spend-records.csv")
    return {"object": "list", "data": data, "has_more": next_after is not None, "next_after": next_after}


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


async def _scoped(
    conn: AsyncConnection, actor: Principal, filters: dict[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """The filters with ``team`` resolved (ids or names) and limited to the teams the actor may see."""
    visible = rbac.visible_teams(actor)
    wanted = filters.get("team")
    if wanted is not None:
        resolved: set[str] = set()
        for ref in wanted:
            found = [t for t in await find_teams(conn, ref) if visible is None or t in visible]
            if not found and visible is not None:
                raise NotFoundError(f"No such team: {ref}.", param="team")
            resolved.update(found or [ref])  # org roles: a team deleted since still has its spend
        filters = {**filters, "team": frozenset(resolved)}
    elif visible is not None:
        filters = {**filters, "team": frozenset(visible)}
    return filters


async def _report(conn: AsyncConnection, query: SpendQuery) -> SpendReport:
    try:
        report = await run_query(conn, query)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    for dim, (ident, name) in _NAMES.items():
        ids = {group[dim] for group in report.groups if dim in group and group[dim] is not None}
        if ids:
            rows = await conn.execute(select(ident, name).where(ident.in_(sorted(ids))))
            found: dict[str, str | None] = {row[0]: row[1] for row in rows}
            for group in report.groups:
                group[f"{dim}_name"] = found.get(group[dim])
    return report


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    at, _, ident = after.rpartition("|")
    try:
        return parse_time(at), ident
    except ValueError:
        raise InvalidRequestError("after: not a cursor from next_after.", param="after") from None


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )
