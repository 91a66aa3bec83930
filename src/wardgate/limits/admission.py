"""``LimitAdmission``: before the call, reserve what the request may use in every bucket that applies — and in the
first candidate deployment whose provider quota has room — in one engine call; refuse with 429 (or 503 for a
fail-closed limit whose store is down) when an enforced limit is full. Audit-mode limits only count and log.

The router calls it once it knows the request's candidates (so deployment quotas follow the strategy's order),
and settles the returned ``Ticket`` when the request ends.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wardgate.config.limits_config import LimitsServerConfig
from wardgate.core.errors import GatewayError, LimitStoreUnavailableError, RateLimitError
from wardgate.core.types import Endpoint, PolicyDecision, ProxyRequest, RequestContext
from wardgate.limits.alerts import BudgetAlerts
from wardgate.limits.buckets import BLOCKED_ALTERNATIVES, Decision, Demand, LimitEngine, Reservation
from wardgate.limits.budgets import BudgetGate, budget_refusal
from wardgate.limits.headers import duration
from wardgate.limits.resolve import Amounts, LimitPolicy, Meter, subjects_of
from wardgate.limits.shared import StoreClosed
from wardgate.limits.ticket import Ticket
from wardgate.routing.table import Deployment, ModelRoute
from wardgate.tokens.count import prompt_tokens

_log = logging.getLogger("wardgate.policy")
Taken = list[tuple[Demand, Meter]]


class LimitAdmission:
    def __init__(
        self,
        policy: LimitPolicy,
        engine: Callable[[], LimitEngine],
        settings: LimitsServerConfig,
        team_ids: Callable[[], Mapping[str, str]] = dict,
        events: Counter[tuple[str, str, str]] | None = None,
        budgets: BudgetGate | None = None,
        alerts: BudgetAlerts | None = None,
    ) -> None:
        self.budgets = budgets
        self.alerts = alerts
        self.spent: dict[str, float] = {}
        """Budget bucket key → spend (micro-USD) as this process's last reservation saw it: what a budget
        ``downgrade`` consults, so deciding costs no round trip (other replicas' spend shows at the next one)."""
        self.events: Counter[tuple[str, str, str]] = events if events is not None else Counter()
        """(limit, scope, outcome) counts for metrics: outlives the snapshot when the caller passes its own."""
        self.policy = policy
        self._engine = engine
        self.settings = settings
        self._team_ids = team_ids
        self._lease_prefix = os.urandom(6).hex()
        self._leases = itertools.count(1)

    async def admit(
        self, ctx: RequestContext, request: ProxyRequest, route: ModelRoute, candidates: Sequence[Deployment]
    ) -> tuple[Ticket | None, list[str]]:
        """The ticket (None when no limit applies) and the deployments to skip for want of quota."""
        team_ids = self._team_ids()
        subjects = subjects_of(ctx.principal, route.name, ctx.headers, self.policy.agent_header)  # once per request
        sets = self.policy.sets(ctx.principal, route.name, ctx.headers, team_ids, subjects)
        limited = [d for d in candidates if d.limits is not None]
        amounts: list[Amounts] = []

        def measure() -> Amounts:
            if not amounts:
                amounts.append(self._amounts(request, route))
            return amounts[0]

        gate = self.budgets
        budgets = gate.demands(ctx.principal, ctx.headers, team_ids, candidates, measure, subjects) if gate else []
        if not sets and not limited and not budgets:
            return None, []
        required: Taken = []
        for limits, name, scope, subject in sets:
            required += self.policy.demands(limits, name, scope, subject, measure)
        first_budget = len(required)
        required += [(demand, meter) for demand, meter, _ in budgets]
        most_room = route.strategy == "remaining_quota"
        options = _alternatives(self.policy, candidates, measure, most_room) if limited else []
        lease = f"{self._lease_prefix}:{next(self._leases)}"
        reservation = Reservation(
            tuple(d for d, _ in required),
            tuple(tuple(d for d, _ in option) for _, option in options),
            lease,
            self.settings.lease_seconds,
            most_room,
            _tiers(route, candidates[: len(options)]) if most_room else (),
        )
        engine = self._engine()
        try:
            decision = await engine.reserve(reservation)
        except StoreClosed as closed:
            raise LimitStoreUnavailableError(_meter_for(required, closed.key).limit) from None
        if not decision.ok:
            error = _refusal(decision, required, route.name)
            meter = required[decision.blocked][1] if decision.blocked >= 0 else None
            name, scope = (meter.limit, meter.scope) if meter is not None else ("deployment quota", "deployment")
            policy = "budget" if meter is not None and meter.unit == "usd" else "rate_limit"
            ctx.decisions.append(PolicyDecision(policy, name, "enforce", "refused", error.message))
            self.events[(name, scope, "refused")] += 1
            if self.alerts is not None and decision.blocked >= first_budget:
                demand, meter, rule = budgets[decision.blocked - first_budget]
                self.alerts.exhausted(demand, meter, rule, engine)
            raise error
        for index in decision.audit:
            _audited(ctx, required[index][0], required[index][1])
            self.events[(required[index][1].limit, required[index][1].scope, "would_refuse")] += 1
        if budgets:
            seen = decision.remaining[first_budget : first_budget + len(budgets)]
            self._saw(budgets, seen)
            if self.alerts is not None:
                self.alerts.check(budgets, seen, engine)
        taken = list(required)
        skipped: list[str] = []
        chosen: str | None = None
        if decision.chosen >= 0:
            chosen, option = options[decision.chosen]
            taken += option
            skipped = [deployment for deployment, _ in options[: decision.chosen]]
        charge = _charger(self.policy, candidates, measure) if limited else None
        ticket = Ticket(
            engine,
            decision,
            taken,
            amounts[0] if amounts else None,
            lease,
            deployment=chosen,
            charge=charge,
            cost_of=gate.cost_of(candidates) if budgets and gate is not None else None,
        )
        return ticket, skipped

    def downgrade(self, ctx: RequestContext, request: ProxyRequest, known: Callable[[str], bool]) -> str | None:
        """The cheaper model a budget's ``downgrade`` sends this request to (None: keep the model). ``known`` says
        whether a model name resolves."""
        gate = self.budgets
        if gate is None:
            return None
        found = gate.policy.downgrade(ctx.principal, ctx.headers, self._team_ids(), self.spent, request.model)
        if found is None or not known(found[1]):
            return None
        rule, target = found
        detail = f"{request.model} → {target} (spend reached {rule.downgrade.at if rule.downgrade else 0:.0%})"
        ctx.decisions.append(PolicyDecision("budget", rule.name, rule.mode, "downgraded", detail))
        return target

    def _saw(self, budgets: Sequence[tuple[Demand, Meter, Any]], remaining: Sequence[float]) -> None:
        if len(self.spent) >= 65_536:
            self.spent.clear()
        for (demand, _, _), left in zip(budgets, remaining, strict=False):
            self.spent[demand.key] = demand.capacity - left

    def _amounts(self, request: ProxyRequest, route: ModelRoute) -> Amounts:
        prompt = prompt_tokens(request, route.ordered[0].upstream_model if route.ordered else route.name)
        if request.endpoint is not Endpoint.CHAT:
            return Amounts(prompt, 0)
        body = request.body
        asked = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            return Amounts(prompt, asked)
        return Amounts(prompt, self.settings.expected_output_tokens)


def _alternatives(
    policy: LimitPolicy, candidates: Sequence[Deployment], measure: Callable[[], Amounts], every: bool = False
) -> list[tuple[str, Taken]]:
    """Candidates in order until the first without a quota (it always has room, so later ones never matter to a
    first-fit choice); ``every`` (most headroom) offers them all."""
    options: list[tuple[str, Taken]] = []
    for deployment in candidates:
        if deployment.limits is None:
            options.append((deployment.id, []))
            if every:
                continue
            break
        options.append((deployment.id, policy.deployment_demands(deployment.id, deployment.limits, measure)))
    return options


def _tiers(route: ModelRoute, candidates: Sequence[Deployment]) -> tuple[int, ...]:
    """Each candidate's tier: its priority among the model's own deployments; fallbacks' after all of those."""
    own = {d.id for d in route.deployments}
    return tuple(d.priority if d.id in own else 1_000_000 + index for index, d in enumerate(candidates))


def _charger(
    policy: LimitPolicy, candidates: Sequence[Deployment], measure: Callable[[], Amounts]
) -> Callable[[str], Taken]:
    by_id = {d.id: d for d in candidates}

    def charge(deployment_id: str) -> Taken:
        deployment = by_id.get(deployment_id)
        if deployment is None or deployment.limits is None:
            return []
        return policy.deployment_demands(deployment.id, deployment.limits, measure)

    return charge


def _meter_for(taken: Taken, key: str) -> Meter:
    return next(meter for demand, meter in taken if demand.key == key)


def _audited(ctx: RequestContext, demand: Demand, meter: Meter) -> None:
    detail = f"{meter.scope} limit of {int(demand.capacity)} {meter.describe()}"
    policy = "budget" if meter.unit == "usd" else "rate_limit"
    ctx.decisions.append(PolicyDecision(policy, meter.limit, "audit", "would_refuse", detail))
    key_id = ctx.principal.key_id if ctx.principal is not None else None
    _log.warning(
        "rate limit would have refused this request (audit mode)",
        extra={
            "fields": {
                "request_id": ctx.request_id,
                "limit": meter.limit,
                "scope": meter.scope,
                "detail": detail,
                "key_id": key_id,
            }
        },
    )


def _refusal(decision: Decision, required: Taken, model: str) -> GatewayError:
    wait = decision.retry_after
    if decision.blocked == BLOCKED_ALTERNATIVES:
        seconds = max(1, math.ceil(wait))
        return RateLimitError(
            f"Every deployment of `{model}` is at its provider quota; retry in {seconds} s.",
            code="deployment_quota_exceeded",
            headers={"retry-after": str(seconds)},
        )
    demand, meter = required[decision.blocked]
    if meter.unit == "usd":
        return budget_refusal(demand, meter)
    capacity = int(demand.capacity)
    what = f"{meter.scope} limit `{meter.limit}` ({capacity} {meter.describe()})"
    if wait <= 0 and meter.unit == "tokens":
        return RateLimitError(
            f"This request needs {int(demand.amount)} tokens, more than the {what} allows; "
            "shorten the prompt or lower max_tokens.",
            headers={f"x-ratelimit-limit-{meter.unit}": str(capacity)},
        )
    seconds = max(1, math.ceil(wait))
    headers = {"retry-after": str(seconds)}
    if meter.unit in ("requests", "tokens"):
        headers[f"x-ratelimit-limit-{meter.unit}"] = str(capacity)
        headers[f"x-ratelimit-remaining-{meter.unit}"] = "0"
        headers[f"x-ratelimit-reset-{meter.unit}"] = duration(wait)
    return RateLimitError(f"Rate limit reached for the {what}; retry in {seconds} s.", headers=headers)
