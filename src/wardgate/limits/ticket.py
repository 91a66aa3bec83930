"""``Ticket``: one admitted request's reservation, settled exactly once when the request ends — from the usage
the provider reported (``tokens.tap`` finds it in a whole body or a stream, also on an error, a client disconnect
or a stream nobody finished).

Settlement per bucket: token buckets get back what was reserved beyond the real count (or are charged the excess),
concurrency leases are released, request counts stay. Without reported usage (a cut stream, a disconnect) the
prompt counts in full and the output as one token per streamed event, a lower bound. A request that failed before
any answer gives its tokens back. When another deployment than the reserved one served the request, the reserved
deployment gets its share back and the serving one is charged, so deployment quotas see the real traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wardgate.limits.buckets import CONCURRENCY, WINDOW, Decision, Demand, LimitEngine, Settlement
from wardgate.limits.budgets import CostOf, micro_usd
from wardgate.limits.headers import Header, rate_limit_headers
from wardgate.limits.resolve import Amounts, Meter
from wardgate.tokens.usage import Usage

Charge = Callable[[str], list[tuple[Demand, Meter]]]
"""A deployment id → its quota demands (empty when it has none)."""


class Ticket:
    __slots__ = ("_charge", "_cost_of", "_done", "amounts", "decision", "deployment", "engine", "lease_id", "taken")

    def __init__(
        self,
        engine: LimitEngine,
        decision: Decision,
        taken: Sequence[tuple[Demand, Meter]],
        amounts: Amounts | None,
        lease_id: str,
        *,
        deployment: str | None = None,
        charge: Charge | None = None,
        cost_of: CostOf | None = None,
    ) -> None:
        self._cost_of = cost_of
        self.engine = engine
        self.decision = decision
        self.taken = taken
        self.amounts = amounts
        self.lease_id = lease_id
        self.deployment = deployment
        """The deployment whose quota the reservation took (None: no deployment quota involved)."""
        self._charge = charge
        self._done = False

    def headers(self) -> list[Header]:
        return rate_limit_headers(self.taken, self.decision.remaining, self.decision.reset)

    def fail(self) -> None:
        """Nothing was served: every reserved token goes back."""
        self._settle(Usage(), None)

    def settle(self, usage: Usage | None, events: int, served: str | None) -> None:
        """Settle with the usage the provider reported; without it, the prompt in full and ``events`` output
        tokens for a stream (``streamed``), or nothing given back for a whole answer."""
        if usage is None:
            amounts = self.amounts
            if amounts is None:
                usage = Usage()
            elif events:
                usage = Usage(amounts.prompt, events)
            else:
                usage = Usage(amounts.prompt, amounts.output)
        self._settle(usage, served)

    def _settle(self, usage: Usage, served: str | None) -> None:
        if self._done:
            return
        self._done = True
        settlement = Settlement()
        moved = served is not None and self.deployment is not None and served != self.deployment
        spent: int | None = None
        for demand, meter in self.taken:
            if demand.kind == CONCURRENCY:
                settlement.releases.append((demand.key, self.lease_id))
            elif demand.kind == WINDOW:
                if spent is None:
                    price = self._cost_of(usage, served) if self._cost_of is not None else None
                    spent = micro_usd(price) if price is not None else int(demand.amount)
                settlement.refunds.append((demand, demand.amount - spent))
            elif meter.unit == "tokens":
                used = 0 if moved and meter.scope == "deployment" else usage.counted(meter.count)
                settlement.refunds.append((demand, demand.amount - used))
        if moved and served is not None and self._charge is not None:
            for demand, meter in self._charge(served):
                cost = usage.counted(meter.count) if meter.unit == "tokens" else 1
                settlement.refunds.append((demand, -cost))
        if settlement:
            self.engine.settle(settlement, self.decision.local)
