"""Budget counters from the ledger: what each budget's subjects already spent in the current window, so a restarted
gateway (embedded mode keeps counters in memory) or a Redis that lost its data does not start a month from zero.

``BudgetSeeder`` runs one grouped query per budget rule at start and then periodically (default every 60 s, so
records the spool shipped after start are counted too). A seed never lowers a live counter: in memory it raises a
window bucket to the ledger's figure when that is higher; in Redis it only creates a missing bucket (``HSETNX``),
since a live bucket also holds reservations in flight. The ledger lags the live counters by its shipping delay, so
seeding only ever catches up. Off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from wardgate.config.budgets_config import BudgetRule, BudgetSet
from wardgate.limits.budgets import ORG, BudgetPolicy, micro_usd, own_rule, window
from wardgate.storage.database import Database
from wardgate.storage.schema import spend_ledger

_log = logging.getLogger("wardgate.budget")
_COLUMNS = {
    "team": spend_ledger.c.team_id,
    "project": spend_ledger.c.project_id,
    "key": spend_ledger.c.key_id,
    "user": spend_ledger.c.user_id,
}


def window_start(rule: BudgetRule, now: datetime) -> datetime | None:
    _, left = window(rule.period, now)
    if rule.period == "total":
        return None
    length = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}.get(rule.period)
    end = now + timedelta(seconds=left)
    if length is not None:
        return end - length
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def spent_by_subject(db: Database, rule: BudgetRule, now: datetime) -> dict[str, Any]:
    """Subject → spend (USD) in the rule's current window, from the ledger."""
    start = window_start(rule, now)
    if rule.scope == ORG:
        query = select(func.sum(spend_ledger.c.cost_usd))
        keys: list[Any] = []
    elif rule.scope == "agent":
        keys = [spend_ledger.c.team_id, spend_ledger.c.agent]
        query = select(*keys, func.sum(spend_ledger.c.cost_usd)).where(spend_ledger.c.agent.is_not(None))
    else:
        keys = [_COLUMNS[rule.scope]]
        query = select(*keys, func.sum(spend_ledger.c.cost_usd)).where(keys[0].is_not(None))
    if start is not None:
        query = query.where(spend_ledger.c.at >= start)
    if keys:
        query = query.group_by(*keys)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    if rule.scope == ORG:
        return {ORG: rows[0][0]} if rows and rows[0][0] is not None else {}
    if rule.scope == "agent":
        return {(f"{team}/{agent}" if team else agent): total for team, agent, total in rows}
    return {subject: total for subject, total in rows}


class BudgetSeeder:
    def __init__(
        self,
        db: Database,
        engine: Callable[[], Any],
        interval: float = 60.0,
        objects: Callable[[], list[tuple[str, str, BudgetSet]]] | None = None,
    ) -> None:
        self.db = db
        self._objects = objects
        """Keys, teams and projects carrying their own budget: (scope, id, budget)."""
        self._engine = engine
        self.interval = interval
        self.policy: BudgetPolicy | None = None
        self.seeded = 0
        self._task: asyncio.Task[None] | None = None

    async def seed(self, policy: BudgetPolicy, now: datetime | None = None) -> int:
        """Seed every budget of ``policy`` once; the number of buckets seeded."""
        moment = now or datetime.now(UTC)
        seed = getattr(self._engine(), "seed_window", None)
        if seed is None:
            return 0
        count = 0
        for rule in policy.rules:
            for subject, total in (await spent_by_subject(self.db, rule, moment)).items():
                if rule.match is not None and subject != rule.match:
                    continue  # a `match` by name is seeded by the live counter only
                if total:
                    key, left = policy.key(rule, subject, moment)
                    await seed(key, micro_usd(total), left)
                    count += 1
        count += await self._seed_objects(policy, seed, moment)
        self.seeded += count
        return count

    async def _seed_objects(self, policy: BudgetPolicy, seed: Any, moment: datetime) -> int:
        """Objects' own budgets: one grouped query per (scope, period) in use."""
        budgets: dict[tuple[str, str], dict[str, BudgetSet]] = {}
        for scope, subject, budget in self._objects() if self._objects is not None else []:
            budgets.setdefault((scope, budget.period), {})[subject] = budget
        count = 0
        for (scope, _), owners in budgets.items():
            probe = own_rule(scope, next(iter(owners.values())))
            for subject, total in (await spent_by_subject(self.db, probe, moment)).items():
                owned = owners.get(subject)
                if owned is not None and total:
                    key, left = policy.key(own_rule(scope, owned), subject, moment)
                    await seed(key, micro_usd(total), left)
                    count += 1
        return count

    def start(self, policy: Callable[[], BudgetPolicy | None]) -> None:
        async def forever() -> None:
            while True:
                await asyncio.sleep(self.interval)  # the caller seeded once already
                current = policy()
                if current is not None:
                    try:
                        await self.seed(current)
                    except Exception as exc:  # the ledger's database may be down: try again next time
                        _log.warning("budget seeding failed", extra={"fields": {"error": repr(exc)}})

        self._task = asyncio.get_running_loop().create_task(forever(), name="wardgate-budget-seed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
