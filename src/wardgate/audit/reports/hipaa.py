"""``wardgate report hipaa-access``: every request of the period whose prompt was flagged as containing PHI —
when, who (team, user, key), which model and which deployment and provider answered, the status, and whether its
content was kept — with summaries by principal and by model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.audit.reports.period import Period
from wardgate.audit.reports.read import AuditRow, Names, audit_rows, load_names
from wardgate.audit.reports.render import Report, Section, Table
from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log

PHI = "phi"
REQUEST_COLUMNS = (
    "at", "request_id", "team", "user", "key", "model", "deployment", "provider", "upstream_model",
    "other_attempts", "status", "flags", "content_kept",
)  # fmt: skip
PRINCIPAL_COLUMNS = ("team", "user", "key", "requests", "models", "first", "last")
MODEL_COLUMNS = ("model", "deployments", "providers", "requests", "principals")


@dataclass(slots=True)
class _Principal:
    requests: int = 0
    models: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None


@dataclass(slots=True)
class _Model:
    requests: int = 0
    deployments: set[str] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)
    principals: set[tuple[str | None, str | None, str | None]] = field(default_factory=set)


@dataclass(slots=True)
class _Found:
    rows: list[list[Any]] = field(default_factory=list)
    principals: dict[tuple[str | None, str | None, str | None], _Principal] = field(default_factory=dict)
    models: dict[str, _Model] = field(default_factory=dict)
    kept: Counter[str] = field(default_factory=Counter)
    purged: int = 0

    def add(self, row: AuditRow, names: Names) -> None:
        record = row.record or {}
        attempts = [a for a in record.get("attempts") or () if isinstance(a, dict)]
        answer = attempts[-1] if attempts else {}
        content = record.get("content")
        kept = str(content.get("mode")) if isinstance(content, dict) else ("unknown" if row.record is None else "off")
        self.kept[kept] += 1
        self.purged += row.record is None
        self.rows.append(
            [
                row.at,
                row.request_id,
                names.team(row.team_id),
                names.user(row.user_id),
                names.key(row.key_id),
                row.model,
                answer.get("deployment"),
                answer.get("provider"),
                answer.get("model"),
                [a.get("deployment") for a in attempts[:-1]],
                row.status,
                sorted(row.flags),
                kept if row.record is not None else "unknown (record purged)",
            ]
        )
        who = (row.team_id, row.user_id, row.key_id)
        principal = self.principals.setdefault(who, _Principal())
        principal.requests += 1
        principal.first = principal.first or row.at
        principal.last = row.at
        model = self.models.setdefault(row.model or "(none)", _Model())
        model.requests += 1
        model.principals.add(who)
        if row.model:
            principal.models.add(row.model)
        for attempt in attempts:
            if attempt.get("deployment"):
                model.deployments.add(str(attempt["deployment"]))
            if attempt.get("provider"):
                model.providers.add(str(attempt["provider"]))


async def build_hipaa(db: Database, period: Period, now: datetime) -> Report:
    async with db.engine.connect() as conn:
        names = await load_names(conn)
        found = _Found()
        async for row in audit_rows(conn, period, "request", flag=PHI):
            found.add(row, names)
        total = await _requests(conn, period)
    return Report(
        kind="hipaa-access",
        title="HIPAA access report: prompts flagged as containing PHI",
        period=period,
        generated_at=now,
        source=db.url.render_as_string(hide_password=True),
        summary=_summary(found, total),
        sections=_sections(found, names),
        notes=[
            "A request is flagged PHI when `audit.classify` includes `phi` and a PHI detector fired on its prompt "
            "at request time (medical record number, health plan or member id, date of birth, ICD-10 code or NPI "
            "next to its label, or a US Social Security number): see docs/compliance.md. Requests made while "
            "classification was off are not flagged and do not appear here."
        ],
    )


def _summary(found: _Found, total: int) -> list[tuple[str, object]]:
    users = {user for _, user, _ in found.principals if user}
    return [
        ("Requests flagged PHI", len(found.rows)),
        ("All requests in the audit trail", total),
        ("Share flagged PHI", f"{len(found.rows) / total:.1%}" if total else "—"),
        ("Principals (team, user, key) that sent PHI", len(found.principals)),
        ("People (users) among them", len(users)),
        ("Models that received PHI", len(found.models)),
        ("Providers that received PHI", len({p for m in found.models.values() for p in m.providers})),
        ("Flagged requests whose content is kept in full", found.kept.get("full", 0)),
        ("Flagged requests whose content is kept redacted", found.kept.get("redacted", 0)),
        ("Flagged requests whose record retention purged", found.purged),
    ]


def _sections(found: _Found, names: Names) -> list[Section]:
    by_principal: list[list[Any]] = [
        [names.team(team), names.user(user), names.key(key), p.requests, sorted(p.models), p.first, p.last]
        for (team, user, key), p in found.principals.items()
    ]
    by_principal.sort(key=lambda r: (-r[3], str(r[0]), str(r[1]), str(r[2])))
    by_model: list[list[Any]] = [
        [name, sorted(m.deployments), sorted(m.providers), m.requests, len(m.principals)]
        for name, m in found.models.items()
    ]
    by_model.sort(key=lambda r: (-r[3], r[0]))
    return [
        Section(
            "By principal",
            "Who sent prompts flagged as containing PHI, how often, to which models.",
            [Table("by-principal", PRINCIPAL_COLUMNS, by_principal)],
        ),
        Section(
            "By model",
            "Which models (and behind them which deployments and providers) received prompts flagged PHI.",
            [Table("by-model", MODEL_COLUMNS, by_model)],
        ),
        Section(
            "Requests",
            "Every request flagged PHI, oldest first. `deployment`, `provider` and `upstream_model` are those of the "
            "last attempt (the one that answered, unless the request failed); `other_attempts` lists the "
            "deployments tried before it. `content_kept`: the team's content mode (off, redacted, full).",
            [Table("requests", REQUEST_COLUMNS, found.rows, shown=200)],
        ),
    ]


async def _requests(conn: AsyncConnection, period: Period) -> int:
    t = audit_log
    statement = select(func.count()).where(t.c.kind == "request", t.c.at >= period.start, t.c.at < period.end)
    return int((await conn.execute(statement)).scalar_one())
