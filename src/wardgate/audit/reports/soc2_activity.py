"""The SOC 2 report's activity sections, from one pass over the period's request records: access by principal
(requests, errors, models, tokens, cost per team, user and key) and policy violations (rate-limit and budget
refusals, would-be refusals of audit-mode policies, and requests refused with 401, 403 or 429); then provider
usage from the spend ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.reports.period import Period
from wardgate.audit.reports.read import AuditRow, Names, audit_rows
from wardgate.audit.reports.render import Section, Table
from wardgate.spend.query import SpendQuery, SpendReport, run_query

REFUSED = ("refused", "would_refuse")
UNAUTHENTICATED = "(unauthenticated)"
REFUSING_STATUS = {401: "authentication (401)", 403: "authorization (403)", 429: "rate limit (429)"}
"""Refusals known by their status alone (no policy decision in the record)."""
ACCESS_COLUMNS = (
    "team", "user", "key", "requests", "errors", "models", "input_tokens", "output_tokens", "cost_usd", "first",
    "last",
)  # fmt: skip
VIOLATION_COLUMNS = (
    "at", "request_id", "team", "key", "user", "model", "status", "error", "policy", "name", "mode", "outcome",
)  # fmt: skip
USAGE_COLUMNS = (
    "provider", "model", "requests", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
    "cost_usd", "unpriced_requests",
)  # fmt: skip


@dataclass(slots=True)
class Access:
    requests: int = 0
    errors: int = 0
    models: set[str] = field(default_factory=set)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    first: datetime | None = None
    last: datetime | None = None


@dataclass(slots=True)
class Activity:
    """What one pass over the request records found."""

    requests: int = 0
    purged: int = 0
    access: dict[tuple[str | None, str | None, str | None], Access] = field(default_factory=dict)
    violations: list[list[Any]] = field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(policy, outcome) → violations."""
    flagged: Counter[str] = field(default_factory=Counter)

    def add(self, row: AuditRow, names: Names) -> None:
        self.requests += 1
        record = row.record
        if record is None:
            self.purged += 1
        self.flagged.update(row.flags)
        access = self.access.setdefault((row.team_id, row.user_id, row.key_id), Access())
        access.requests += 1
        access.errors += 1 if row.status is not None and row.status >= 400 else 0
        if row.model:
            access.models.add(row.model)
        access.first = access.first or row.at
        access.last = row.at
        if record is not None:
            usage = record.get("usage") or {}
            access.input_tokens += _int(usage.get("input"))
            access.output_tokens += _int(usage.get("output"))
            access.cost += _decimal(record.get("cost_usd"))
        self._violations(row, names)

    def _violations(self, row: AuditRow, names: Names) -> None:
        record = row.record or {}
        error = _error(record.get("error"))
        who = [row.at, row.request_id, names.team(row.team_id), names.key(row.key_id), names.user(row.user_id)]
        found = False
        for decision in record.get("decisions") or ():
            if not isinstance(decision, dict) or decision.get("outcome") not in REFUSED:
                continue
            found = True
            policy, outcome = str(decision.get("policy")), str(decision.get("outcome"))
            self.outcomes[(policy, outcome)] += 1
            self.violations.append(
                [*who, row.model, row.status, error, policy, decision.get("name"), decision.get("mode"), outcome]
            )
        if not found and row.status in REFUSING_STATUS:
            policy = REFUSING_STATUS[row.status]
            self.outcomes[(policy, "refused")] += 1
            outcome = "refused" if row.record is not None else "refused (record purged)"
            self.violations.append([*who, row.model, row.status, error, policy, None, None, outcome])


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _error(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("code") or value.get("type") or value)
    return None if value is None else str(value)


async def activity(conn: AsyncConnection, period: Period, names: Names) -> Activity:
    found = Activity()
    async for row in audit_rows(conn, period, "request"):
        found.add(row, names)
    return found


async def access_section(conn: AsyncConnection, period: Period, names: Names, found: Activity) -> Section:
    rows: list[list[Any]]
    if found.requests:
        rows = [
            [
                names.team(team),
                names.user(user),
                names.key(key) or (UNAUTHENTICATED if team is None and user is None else None),
                a.requests,
                a.errors,
                sorted(a.models),
                a.input_tokens,
                a.output_tokens,
                a.cost,
                a.first,
                a.last,
            ]
            for (team, user, key), a in found.access.items()
        ]
        source = (
            "the audit trail's request records (tokens and cost from the records; a record whose content "
            "retention purged still counts as a request, without its tokens and cost)"
        )
    else:
        rows = await _access_from_ledger(conn, period, names)
        source = "the spend ledger (the audit trail holds no request of the period)"
    rows.sort(key=lambda r: (-r[3], str(r[0]), str(r[1]), str(r[2])))
    text = f"Requests per principal (team, user, key) in the period, from {source}. `errors`: status 400 or above."
    return Section("Access by principal", text, [Table("access-by-principal", ACCESS_COLUMNS, rows)])


async def _access_from_ledger(conn: AsyncConnection, period: Period, names: Names) -> list[list[Any]]:
    query = SpendQuery(period.start, period.end, group_by=("team", "user", "key", "model"))
    report = await run_query(conn, query)
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for group in report.groups:
        ident = (group["team"], group["user"], group["key"])
        row = merged.setdefault(
            ident, [names.team(ident[0]), names.user(ident[1]), names.key(ident[2]), 0, None, [], 0, 0, Decimal(0)]
        )
        row[3] += group["requests"]
        if group["model"]:
            row[5] = sorted({*row[5], group["model"]})
        row[6] += group["input_tokens"]
        row[7] += group["output_tokens"]
        row[8] += group["cost_usd"]
    return [[*row, None, None] for row in merged.values()]


def violations_section(found: Activity) -> Section:
    summary: list[list[Any]] = [[policy, outcome, count] for (policy, outcome), count in sorted(found.outcomes.items())]
    text = (
        "Requests a policy refused (`refused`) or would have refused in audit mode (`would_refuse`): rate limits "
        "and budgets, from each record's decisions; and requests refused with 401 (authentication), 403 "
        "(authorization) or 429 (rate limit, also an upstream's) without such a decision. First the count per "
        "policy and outcome, then every one."
    )
    tables = [
        Table("violations-summary", ("policy", "outcome", "requests"), summary),
        Table("policy-violations", VIOLATION_COLUMNS, found.violations),
    ]
    return Section("Policy violations", text, tables)


async def usage(conn: AsyncConnection, period: Period) -> tuple[Section, SpendReport]:
    report = await run_query(conn, SpendQuery(period.start, period.end, group_by=("provider", "model")))
    rows: list[list[Any]] = [
        [
            g["provider"],
            g["model"],
            g["requests"],
            g["input_tokens"],
            g["output_tokens"],
            g["cached_input_tokens"],
            g["reasoning_tokens"],
            g["cost_usd"],
            g["unpriced_requests"],
        ]
        for g in report.groups
    ]
    totals = report.totals
    if rows:
        rows.append(
            [
                "total",
                None,
                *(totals[n] for n in USAGE_COLUMNS[2:]),
            ]
        )
    text = (
        "Requests, tokens and cost per provider and model in the period, from the spend ledger (exact decimal "
        "costs; `unpriced_requests` had no known price and count at $0). The last row is the total."
    )
    return Section("Provider usage", text, [Table("provider-usage", USAGE_COLUMNS, rows)]), report
