"""Budget alerts: when a budget's spend (what is settled plus what is reserved in flight) reaches one of its
thresholds, one notification per budget, window and threshold — across every replica, since the first to claim it
in the limit engine sends it (a Redis ``SET NX`` in shared mode). Sent in the background to every configured
webhook, as generic JSON or in Slack's format, retried with backoff; each alert is also logged. Never on the request
path: ``check`` only looks at the numbers the reservation returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import aiohttp

from wardgate.config.budgets_config import BudgetNotify, BudgetRule
from wardgate.limits.buckets import Demand
from wardgate.limits.resolve import Meter

_log = logging.getLogger("wardgate.budget")
_MICRO = Decimal(1_000_000)
_REMEMBERED = 100_000


class Claimer(Protocol):
    async def claim(self, key: str, ttl: float) -> bool: ...


class BudgetAlerts:
    def __init__(self, notify: Sequence[BudgetNotify] = (), retries: int = 5, backoff: float = 0.5) -> None:
        self.notify = tuple(notify)
        self.retries = retries
        self.backoff = backoff
        self.sent: list[dict[str, Any]] = []
        """Alerts this process claimed and sent (newest last; bounded), for the admin API and tests."""
        self.failures = 0
        self._seen: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def check(
        self, budgets: Sequence[tuple[Demand, Meter, BudgetRule]], remaining: Sequence[float], claimer: Any
    ) -> None:
        """After a reservation: thresholds its spend (settled plus in flight) reached."""
        for (demand, meter, rule), left in zip(budgets, remaining, strict=False):
            self._reached(demand, meter, rule, demand.capacity - left, claimer)

    def exhausted(self, demand: Demand, meter: Meter, rule: BudgetRule, claimer: Any) -> None:
        """A request was refused by this budget: it is spent, for practical purposes (the 100 % alert)."""
        self._reached(demand, meter, rule, demand.capacity, claimer)

    def _reached(self, demand: Demand, meter: Meter, rule: BudgetRule, spent: float, claimer: Any) -> None:
        for share in rule.alerts:
            key = f"{demand.key}:alert:{share:g}"
            if spent < share * demand.capacity or key in self._seen:
                continue
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()
            self._seen.add(key)
            alert = _alert(demand, meter, rule, share, spent)
            task = asyncio.get_running_loop().create_task(self._claim_and_send(key, demand, alert, claimer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _claim_and_send(self, key: str, demand: Demand, alert: dict[str, Any], claimer: Any) -> None:
        claim = getattr(claimer, "claim", None)
        if claim is not None and not await claim(key, demand.period or 366 * 86_400):
            return  # another replica sent it
        _log.warning("budget threshold reached", extra={"fields": alert})
        self.sent.append(alert)
        del self.sent[:-1000]
        for target in self.notify:
            await self._post(target, alert)

    async def _post(self, target: BudgetNotify, alert: dict[str, Any]) -> None:
        body = {"text": _slack_text(alert)} if target.format == "slack" else alert
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for attempt in range(self.retries + 1):
            try:
                async with self._session.post(str(target.url), json=body, allow_redirects=False) as response:
                    if response.status < 300:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass  # retried below, with backoff
            await asyncio.sleep(self.backoff * 2**attempt)
        self.failures += 1
        _log.error("a budget alert could not be delivered", extra={"fields": {"budget": alert["budget"]}})

    async def close(self, drain_seconds: float = 5.0) -> None:
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_seconds):
                    await asyncio.gather(*self._tasks, return_exceptions=True)
            for task in self._tasks:
                task.cancel()
        if self._session is not None:
            await self._session.close()


def _alert(demand: Demand, meter: Meter, rule: BudgetRule, share: float, spent: float) -> dict[str, Any]:
    window = demand.key.rpartition(":")[2]
    return {
        "type": "budget.threshold",
        "budget": rule.name,
        "scope": meter.scope,
        "subject": meter.subject,
        "period": rule.period,
        "window": window,
        "threshold": share,
        "amount_usd": str(Decimal(int(demand.capacity)) / _MICRO),
        "spent_usd": str((Decimal(int(spent)) / _MICRO).quantize(Decimal("0.000001"))),
        "mode": rule.mode,
        "at": datetime.now(UTC).isoformat(),
    }


def _slack_text(alert: dict[str, Any]) -> str:
    percent = round(float(alert["threshold"]) * 100)
    return (
        f":warning: {alert['scope']} budget *{alert['budget']}* ({alert['subject']}) reached {percent} %: "
        f"${alert['spent_usd']} of ${alert['amount_usd']} ({alert['period']}, {alert['window']})"
    )
