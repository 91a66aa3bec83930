"""``wardgate report soc2``: evidence for a SOC 2 period — key inventory, key rotations, admin changes, access by
principal, policy violations and provider usage — with a summary, and the audit trail's integrity (the hash chain
walked by ``audit.verify``, seal HMACs checked when the vault key is at hand)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from wardgate.audit.reports.period import Period
from wardgate.audit.reports.read import admin_changes_in, load_names
from wardgate.audit.reports.render import Report
from wardgate.audit.reports.soc2_activity import access_section, activity, usage, violations_section
from wardgate.audit.reports.soc2_keys import admin_section, inventory, key_facts, rotations
from wardgate.storage.database import Database

if TYPE_CHECKING:
    from wardgate.audit.chain import SealKey


async def build_soc2(
    db: Database,
    period: Period,
    now: datetime,
    *,
    verify: bool = True,
    keys: Callable[[str], SealKey | None] | None = None,
) -> Report:
    """The report (read in one connection), and when ``verify`` the whole hash chain walked (seal HMACs checked
    with ``keys``, when given)."""
    async with db.engine.connect() as conn:
        names = await load_names(conn)
        changes = await admin_changes_in(conn, period)
        facts = await key_facts(conn, period, now)
        found = await activity(conn, period, names)
        sections = [
            await inventory(conn, period, names, facts, changes),
            rotations(names, facts, changes, period),
            admin_section(names, changes),
            await access_section(conn, period, names, found),
            violations_section(found),
        ]
        usage_section, spend = await usage(conn, period)
        sections.append(usage_section)
    states = Counter(facts.states.values())
    rotation_rows = sections[1].tables[0].rows
    refused = sum(n for (_, outcome), n in found.outcomes.items() if outcome == "refused")
    would = sum(n for (_, outcome), n in found.outcomes.items() if outcome == "would_refuse")
    summary: list[tuple[str, object]] = [
        ("Virtual keys at the end of the period", len(facts.rows)),
        ("… active", states.get("active", 0)),
        ("… revoked / expired / disabled / rotated", " / ".join(str(states.get(s, 0)) for s in _ENDED)),
        ("Provider credentials", len(sections[0].tables[1].rows)),
        ("Key and credential rotations", len(rotation_rows)),
        ("Admin changes", len(changes)),
        ("Requests (audit trail)", found.requests),
        ("Principals that made requests", len(found.access)),
        ("Requests refused by a policy or with 401/403/429", refused),
        ("Requests an audit-mode policy would have refused", would),
        ("Requests flagged PII / PHI", f"{found.flagged.get('pii', 0)} / {found.flagged.get('phi', 0)}"),
        ("Request records whose content retention purged", found.purged),
        ("Requests (spend ledger)", spend.totals["requests"]),
        ("Cost (USD, spend ledger)", spend.totals["cost_usd"]),
    ]
    notes = []
    if verify:
        notes.append(await _integrity(db, keys))
    return Report(
        kind="soc2",
        title="SOC 2 evidence report",
        period=period,
        generated_at=now,
        source=db.url.render_as_string(hide_password=True),
        summary=summary,
        sections=sections,
        notes=notes,
    )


_ENDED = ("revoked", "expired", "disabled", "rotated")


async def _integrity(db: Database, keys: Callable[[str], SealKey | None] | None) -> str:
    from wardgate.audit.verify import verify

    checked = await verify(db, keys)
    rows = (
        f"{checked.rows} rows, {checked.purged} with content purged by retention, {checked.seals} seals of which "
        f"{checked.seals_verified} HMAC-verified"
    )
    if not checked.problems:
        return f"Audit trail integrity: the hash chain is intact ({rows})."
    return (
        f"Audit trail integrity: **TAMPERED** — {len(checked.problems)} problem(s) ({rows}); the first: "
        f"{checked.problems[0].line()}. Run `wardgate audit verify` for the full list."
    )
