"""``Ticket``: one admitted request's reservation, settled exactly once when the request ends — from the usage
the provider reported (a whole body, or a stream's usage event), at its end, on an error, on a client disconnect
or, for a stream nobody finished, when it is collected.

Settlement per bucket: token buckets get back what was reserved beyond the real count (or are charged the excess),
concurrency leases are released, request counts stay. Without reported usage (a cut stream, a disconnect) the
prompt counts in full and the output as one token per streamed event, a lower bound. A request that failed before
any answer gives its tokens back. When another deployment than the reserved one served the request, the reserved
deployment gets its share back and the serving one is charged, so deployment quotas see the real traffic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from wardgate.core.streams import close_quietly
from wardgate.core.types import ProxyResponse, StreamSource
from wardgate.limits.buckets import CONCURRENCY, Decision, Demand, LimitEngine, Settlement
from wardgate.limits.headers import Header, rate_limit_headers
from wardgate.limits.resolve import Amounts, Meter
from wardgate.tokens.usage import StreamUsage, Usage, usage_from_body

Charge = Callable[[str], list[tuple[Demand, Meter]]]
"""A deployment id → its quota demands (empty when it has none)."""


class Ticket:
    __slots__ = ("_charge", "_done", "amounts", "decision", "deployment", "engine", "hide_usage", "lease_id", "taken")

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
        hide_usage: bool = False,
    ) -> None:
        self.engine = engine
        self.decision = decision
        self.taken = taken
        self.amounts = amounts
        self.lease_id = lease_id
        self.deployment = deployment
        """The deployment whose quota the reservation took (None: no deployment quota involved)."""
        self._charge = charge
        self.hide_usage = hide_usage
        self._done = False

    def headers(self) -> list[Header]:
        return rate_limit_headers(self.taken, self.decision.remaining, self.decision.reset)

    def fail(self) -> None:
        """Nothing was served: every reserved token goes back."""
        self._settle(Usage(), None)

    def attach(self, response: ProxyResponse, served: str | None) -> None:
        """Settle from a whole body now, or when the stream ends."""
        if response.stream is None:
            usage = usage_from_body(response.dialect, response.body or b"")
            if usage is None:  # no usage reported: nothing comes back
                amounts = self.amounts
                usage = Usage(amounts.prompt, amounts.output) if amounts is not None else Usage()
            self._settle(usage, served)
            return
        meter = StreamUsage(response.dialect, hide_usage_chunk=self.hide_usage and response.dialect == "openai")
        response.stream = MeteredStream(response.stream, meter, lambda: self._settle(self._streamed(meter), served))

    def _streamed(self, meter: StreamUsage) -> Usage:
        usage = meter.usage
        if usage is not None:
            return usage
        prompt = self.amounts.prompt if self.amounts is not None else 0
        return Usage(prompt, meter.events)

    def _settle(self, usage: Usage, served: str | None) -> None:
        if self._done:
            return
        self._done = True
        settlement = Settlement()
        moved = served is not None and self.deployment is not None and served != self.deployment
        for demand, meter in self.taken:
            if demand.kind == CONCURRENCY:
                settlement.releases.append((demand.key, self.lease_id))
            elif meter.unit == "tokens":
                used = 0 if moved and meter.scope == "deployment" else usage.counted(meter.count)
                settlement.refunds.append((demand, demand.amount - used))
        if moved and served is not None and self._charge is not None:
            for demand, meter in self._charge(served):
                cost = usage.counted(meter.count) if meter.unit == "tokens" else 1
                settlement.refunds.append((demand, -cost))
        if settlement:
            self.engine.settle(settlement, self.decision.local)


class MeteredStream:
    """Relays a stream through a usage meter (which may drop the usage chunk the client did not ask for) and calls
    ``on_end`` exactly once: at the end, on an error, when closed early, or when collected unfinished."""

    __slots__ = ("_ended", "_inner", "_meter", "_on_end")

    def __init__(self, inner: StreamSource, meter: StreamUsage, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._meter = meter
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            while True:
                item = self._meter.feed(await self._inner.__anext__())
                if item is not None:
                    return item
        except BaseException:
            self._end()
            raise

    async def aclose(self) -> None:
        self._end()
        await close_quietly(self._inner)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end()

    def __del__(self) -> None:
        self._end()
