"""Budgets as window buckets: which budgets apply to a request (``BudgetPolicy``), the calendar window each one is in,
and what a request reserves in them (its worst-case cost, in micro-USD so the engines count exact integers).

Windows are UTC calendar periods: a day, an ISO week (Monday first), a month, or ``total`` (never ends). The
window's id is part of the bucket key, so a new period starts from zero without any reset job. Subjects are those of
rate limits (``resolve.subjects_of``) plus the organisation, whose budget every request — the master key's too —
counts against.

Besides the config rules, a key, team or project may carry its own budget (``Principal.budgets``, set through the
admin API): it is named after its kind ("key budget", "team budget", "project budget" — names no config rule can
have, so their buckets never meet) and counts like a rule of that scope matching that one object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from wardgate.config.budgets_config import BudgetRule, BudgetSet, Period
from wardgate.core.errors import QuotaExceededError
from wardgate.core.types import Principal
from wardgate.limits.buckets import WINDOW, Demand
from wardgate.limits.resolve import Amounts, Meter, subjects_of
from wardgate.pricing.catalog import PriceBook
from wardgate.pricing.cost import cost, worst_case
from wardgate.pricing.model import ModelPrice
from wardgate.routing.table import Deployment
from wardgate.tokens.usage import Usage

MICRO = Decimal(1_000_000)
ORG = "org"
OWN_SCOPES = ("key", "team", "project")
"""The objects that carry their own budget (``Principal.budgets``)."""


def micro_usd(amount: Decimal | float) -> int:
    """USD → whole micro-dollars, rounded up (a reservation never falls short by a rounding)."""
    return math.ceil(Decimal(str(amount)) * MICRO)


def window(period: Period, now: datetime) -> tuple[str, float]:
    """(the window's id, seconds left in it; 0 for ``total``)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day.strftime("%Y-%m-%d"), (day + timedelta(days=1) - now).total_seconds()
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}", (start + timedelta(days=7) - now).total_seconds()
    if period == "monthly":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("%Y-%m"), (following - now).total_seconds()
    return "all", 0.0


class BudgetPolicy:
    def __init__(self, rules: Sequence[BudgetRule], agent_header: str, prefix: str = "wardgate") -> None:
        self.rules = tuple(rules)
        self.agent_header = agent_header
        self.prefix = "{" + prefix + "}:budget:"
        self._downgrades = any(rule.downgrade is not None for rule in self.rules)

    def demands(
        self,
        principal: Principal | None,
        headers: Mapping[str, str],
        team_ids: Mapping[str, str],
        worst_case: Callable[[], Decimal],
        now: datetime | None = None,
        subjects: Mapping[str, str] | None = None,
    ) -> list[tuple[Demand, Meter, BudgetRule]]:
        """The window demands of every budget that applies — config rules, then the principal's own objects'
        budgets (``worst_case`` is called only when one applies)."""
        applying = self.applying(principal, headers, team_ids, subjects)
        if not applying:
            return []
        moment = now or datetime.now(UTC)
        amount = micro_usd(worst_case())
        out: list[tuple[Demand, Meter, BudgetRule]] = []
        for rule, subject in applying:
            key, left = self.key(rule, subject, moment)
            demand = Demand(key, WINDOW, micro_usd(rule.amount_usd), left, amount, rule.mode == "enforce")
            out.append((demand, Meter(rule.name, rule.scope, subject, "usd", rule.period), rule))
        return out

    def applying(
        self,
        principal: Principal | None,
        headers: Mapping[str, str],
        team_ids: Mapping[str, str],
        subjects: Mapping[str, str] | None = None,
    ) -> list[tuple[BudgetRule, str]]:
        """(rule, subject) of every budget that applies: config rules, then the principal's objects' own."""
        own = principal.budgets if principal is not None else None
        if not self.rules and not own:
            return []
        if subjects is None:
            subjects = subjects_of(principal, "", headers, self.agent_header)
        applying = [
            (rule, subject)
            for rule in self.rules
            if (subject := subjects.get(rule.scope)) is not None
            and (rule.match is None or _matches(rule, subject, team_ids))
        ]
        for scope, budget in (own or {}).items():
            subject = subjects.get(scope)
            if subject is not None and scope in OWN_SCOPES and isinstance(budget, BudgetSet):
                applying.append((own_rule(scope, budget), subject))
        return applying

    def key(self, rule: BudgetRule, subject: str, moment: datetime) -> tuple[str, float]:
        """The bucket key of ``rule`` for ``subject`` in the window ``moment`` falls in, and the seconds left."""
        window_id, left = window(rule.period, moment)
        return f"{self.prefix}{rule.scope}:{subject}:{rule.name}:{window_id}", left

    def downgrade(
        self,
        principal: Principal | None,
        headers: Mapping[str, str],
        team_ids: Mapping[str, str],
        spent: Mapping[str, float],
        model: str,
    ) -> tuple[BudgetRule, str] | None:
        """The first budget with a ``downgrade`` whose spend (as this process last saw it) reached its share, and
        the model to use instead — unless the request already asks for that model. Free for a request that no
        downgrading budget could apply to (the common case)."""
        own = principal.budgets if principal is not None else None
        if not self._downgrades and not (own and any(getattr(b, "downgrade", None) for b in own.values())):
            return None
        moment = datetime.now(UTC)
        for rule, subject in self.applying(principal, headers, team_ids):
            target = rule.downgrade
            if target is None or target.to == model:
                continue
            key, _ = self.key(rule, subject, moment)
            if spent.get(key, 0.0) >= target.at * micro_usd(rule.amount_usd):
                return rule, target.to
        return None


def own_rule(scope: str, budget: BudgetSet) -> BudgetRule:
    """An object's own budget as the rule alerts and meters read: named "<scope> budget", matching that object only
    (built without validation: the name has a space so that no config rule can share its buckets)."""
    return BudgetRule.model_construct(
        name=f"{scope} budget",
        scope=scope,
        match=None,
        period=budget.period,
        amount_usd=budget.amount_usd,
        alerts=budget.alerts,
        mode=budget.mode,
        downgrade=budget.downgrade,
    )


def _matches(rule: BudgetRule, subject: str, team_ids: Mapping[str, str]) -> bool:
    if rule.match == subject:
        return True
    if rule.scope == "team":
        return team_ids.get(rule.match or "") == subject
    if rule.scope == "agent":
        return subject.rpartition("/")[2] == rule.match
    return False


CostOf = Callable[[Usage, str | None], Decimal | None]
"""(the usage, the deployment that served) → what it cost, or None when nothing prices it."""


class BudgetGate:
    """What the admission needs for budgets in one snapshot: the policy and the prices."""

    def __init__(self, policy: BudgetPolicy, prices: PriceBook | None) -> None:
        self.policy = policy
        self.prices = prices

    def demands(
        self,
        principal: Principal | None,
        headers: Mapping[str, str],
        team_ids: Mapping[str, str],
        candidates: Sequence[Deployment],
        amounts: Callable[[], Amounts],
        subjects: Mapping[str, str] | None = None,
    ) -> list[tuple[Demand, Meter, BudgetRule]]:
        def worst() -> Decimal:
            price = self._price(candidates[0]) if candidates else None
            if price is None:
                return Decimal(0)  # unpriced: nothing to reserve (its spend is recorded as unpriced)
            measured = amounts()
            return worst_case(price, measured.prompt, measured.output)

        return self.policy.demands(principal, headers, team_ids, worst, subjects=subjects)

    def cost_of(self, candidates: Sequence[Deployment]) -> CostOf:
        by_id = {d.id: d for d in candidates}

        def of(usage: Usage, served: str | None) -> Decimal | None:
            deployment = by_id.get(served) if served is not None else (candidates[0] if candidates else None)
            price = self._price(deployment) if deployment is not None else None
            return None if price is None else cost(price, usage)

        return of

    def _price(self, deployment: Deployment) -> ModelPrice | None:
        if self.prices is None:
            return None
        client = deployment.client
        return self.prices.lookup(client.type, deployment.upstream_model, provider_name=client.name)


def budget_refusal(demand: Demand, meter: Meter) -> QuotaExceededError:
    amount = Decimal(int(demand.capacity)) / MICRO
    period = "in all" if meter.per == "total" else f"per {meter.per.removesuffix('ly').replace('dai', 'day')}"
    which = f"The {meter.scope} budget" + ("" if meter.limit == f"{meter.scope} budget" else f" `{meter.limit}`")
    return QuotaExceededError(
        f"{which} (${amount:.2f} {period}) does not cover this request "
        f"(up to ${Decimal(int(demand.amount)) / MICRO:.4f}); ask an admin to raise it or wait for the next period."
    )
