"""``SpendRecorder``: when a request is over, price what it used and hand one ``SpendRecord`` to the spend ledger.

It is a routing usage listener (``routing.execute.UsageListener``): it runs once per request — answered, streamed
to its end, cut, abandoned by its client or refused — never waits, and never raises into the request. The cost comes
from the snapshot's price book (the shipped catalog plus the config's ``prices``) and the usage the provider
reported; without a report (a cut stream, a client that left) the prompt counts in full and the output as one token
per streamed event. A whole answer's cost is also put on the request context, for the ``x-wardgate-cost`` header.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from wardgate.core.errors import GatewayError
from wardgate.core.types import Principal, ProxyRequest, RequestContext
from wardgate.limits.resolve import agent_of
from wardgate.pricing.catalog import PriceBook
from wardgate.pricing.cost import cost
from wardgate.spend.ledger import SpendLedger
from wardgate.spend.record import SpendRecord
from wardgate.tokens.usage import Usage

_log = logging.getLogger("wardgate.spend")
TAGS_HEADER = "x-wardgate-tags"
_MAX_TAGS = 10
_MAX_TAG = 64


class SpendRecorder:
    def __init__(self, ledger: SpendLedger, agent_header: str = "x-wardgate-agent") -> None:
        self.ledger = ledger
        self.agent_header = agent_header
        self.failures = 0

    def __call__(
        self,
        ctx: RequestContext,
        request: ProxyRequest,
        usage: Usage | None,
        events: int,
        error: BaseException | None,
    ) -> None:
        try:
            self.ledger.record(self.build(ctx, request, usage, events, error))
        except Exception:  # a bug here must never fail the request it describes
            self.failures += 1
            _log.exception("could not record a request's spend", extra={"fields": {"request_id": ctx.request_id}})

    def build(
        self,
        ctx: RequestContext,
        request: ProxyRequest,
        usage: Usage | None,
        events: int,
        error: BaseException | None,
    ) -> SpendRecord:
        attempt = ctx.attempts[-1] if ctx.attempts else None
        if usage is None:
            usage = Usage() if error is not None or attempt is None else Usage(request.prompt_tokens or 0, events)
        price_cost, known = self._price(ctx, attempt.provider if attempt else None, attempt, usage)
        ctx.usage, ctx.cost_usd, ctx.cost_known = usage, price_cost, known
        principal = ctx.principal
        return SpendRecord(
            request_id=ctx.request_id,
            at=datetime.now(UTC),
            **_who(principal, ctx, self.agent_header),
            model=request.model or None,
            provider=attempt.provider if attempt else None,
            deployment=attempt.deployment if attempt else None,
            upstream_model=attempt.deployment_model if attempt else None,
            tags=_tags(ctx.headers.get(TAGS_HEADER)),
            endpoint=request.endpoint.value,
            stream=request.stream,
            status=_status(error),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=price_cost,
            cost_known=known,
        )

    @staticmethod
    def _price(ctx: RequestContext, provider: str | None, attempt: Any, usage: Usage) -> tuple[Decimal, bool]:
        if attempt is None or not (usage.input_tokens or usage.output_tokens):
            return Decimal(0), True
        snapshot = ctx.snapshot
        prices: PriceBook | None = getattr(snapshot, "prices", None)
        client = snapshot.clients.get(provider) if snapshot is not None else None
        if prices is None or client is None:
            return Decimal(0), False
        price = prices.lookup(client.type, attempt.deployment_model, provider_name=provider)
        if price is None:
            return Decimal(0), False
        return cost(price, usage), True


def _who(principal: Principal | None, ctx: RequestContext, agent_header: str) -> dict[str, Any]:
    if principal is None:
        return {}
    metadata = principal.metadata
    app = metadata.get("app")
    return {
        "team_id": principal.team_id,
        "project_id": principal.project_id,
        "key_id": principal.key_id,
        "user_id": principal.user_id,
        "agent": agent_of(principal, ctx.headers, agent_header) if principal.kind != "master" else None,
        "app": app if isinstance(app, str) else principal.service_principal_id,
    }


def _tags(header: str | None) -> tuple[str, ...]:
    """Cost tags a client attaches (``x-wardgate-tags: checkout,experiment-7``): at most 10, each ≤ 64 chars."""
    if not header:
        return ()
    tags = (tag.strip()[:_MAX_TAG] for tag in header.split(","))
    return tuple(sorted({tag for tag in tags if tag}))[:_MAX_TAGS]


def _status(error: BaseException | None) -> int:
    if error is None:
        return 200
    if isinstance(error, GatewayError):
        return error.http_status
    if isinstance(error, asyncio.CancelledError):
        return 499
    return 500
