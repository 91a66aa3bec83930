"""The terminal pipeline handler (``Router``): walk the request's candidates until one answers.

Per request: resolve the model, start the deadline, build the plan (strategy order, content rules, fallbacks),
then at most ``max_attempts`` attempts. Each retry prefers a deployment not tried yet (failing over at once);
when none is left it retries a tried one after full-jitter backoff, at least its ``Retry-After`` — unless that is
longer than ``backoff.max_ms``, which ends that deployment's part in the request. Every retry takes a slot of the
retry budget; a denied slot, a non-retryable error or the deadline ends the request with the last error.
A context-length refusal moves to a larger-context model instead. When the breakers gate out every candidate
before any attempt: 503 ``no_healthy_deployment`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import orjson

from wardgate.config.routing_config import RoutingConfig
from wardgate.core.errors import GatewayError
from wardgate.core.types import ProxyRequest, ProxyResponse, RequestContext
from wardgate.limits.admission import LimitAdmission
from wardgate.limits.ticket import Ticket
from wardgate.routing.attempt import run_attempt
from wardgate.routing.candidates import Plan, Tried, build_plan
from wardgate.routing.deadline import DEADLINE_CODE, Deadline, key_policy
from wardgate.routing.facts import RequestFacts
from wardgate.routing.retry import backoff, classify
from wardgate.routing.state import RoutingState, wall_clock
from wardgate.routing.table import RouteTable
from wardgate.tokens.tap import ask_for_stream_usage, watch_usage
from wardgate.tokens.usage import Usage

UsageListener = Callable[[RequestContext, ProxyRequest, Usage | None, int, BaseException | None], None]
"""``(ctx, request, usage reported or None, streamed output events, error or None)`` when a request is over;
``ctx.attempts[-1]`` is the attempt that served it (or failed last)."""
DEPLOYMENT_HEADER = "x-wardgate-deployment"
COST_HEADER = b"x-wardgate-cost"
"""USD, on whole answers whose model has a price (a stream's cost is known only at its end: see the ledger)."""
ATTEMPTS_HEADER = "x-wardgate-attempts"
_ATTEMPTS = tuple((ATTEMPTS_HEADER.encode(), str(n).encode()) for n in range(11))


class Router:
    """One per config snapshot (``execute`` is the pipeline's terminal handler); ``state`` outlives it."""

    def __init__(
        self,
        table: RouteTable,
        config: RoutingConfig,
        state: RoutingState,
        limits: LimitAdmission | None = None,
        listeners: Sequence[UsageListener] = (),
    ) -> None:
        self.listeners = tuple(listeners)
        """Called once when each request is over, with what it used (``UsageListener``)."""
        self.table = table
        self.state = state
        self.limits = limits
        self._limit_headers = limits is not None and limits.settings.response_headers
        self._max_attempts = config.max_attempts
        self._base = config.backoff.base_ms / 1000
        self._cap = config.backoff.max_ms / 1000
        self._deadline = config.deadline_seconds
        self._headers = config.response_headers

    async def execute(self, ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        state = self.state
        ticket: Ticket | None = None
        try:
            if self.limits is not None and self.limits.budgets is not None:
                target = self.limits.downgrade(ctx, request, lambda name: self.table.get(name) is not None)
                if target is not None:
                    retarget(request, target)
            route = self.table.resolve(request.model)
            principal = ctx.principal
            policy = key_policy(principal.metadata) if principal is not None and principal.metadata else None
            deadline = Deadline.start(self._deadline, ctx.headers, ctx.started, policy)
            facts = RequestFacts(request, ctx, route.ordered[0].upstream_model if route.ordered else None)
            plan = build_plan(self.table, route, facts, state.health, state.rng, state.breakers)
            if self.limits is not None:
                ticket, skip = await self.limits.admit(ctx, request, route, plan.candidates())
                if skip:
                    plan.skip = frozenset(skip)
            hide = ask_for_stream_usage(request)
            state.budget.enter()
            try:
                response = await self._run(ctx, request, plan, deadline, route.name)
            finally:
                state.budget.leave()
        except BaseException as exc:
            self._ended(ctx, request, ticket, None, None, 0, exc)
            if not isinstance(exc, GatewayError):
                raise
            if self._headers:
                _label_error(exc, ctx)
            if self._limit_headers and ticket is not None:
                for name, value in ticket.headers():
                    exc.headers.setdefault(name.decode(), value.decode())
            raise
        served = plan.served.deployment.id if plan.served is not None else None
        watch_usage(
            response,
            lambda usage, events: self._ended(ctx, request, ticket, served, usage, events, None),
            hide_usage_chunk=hide,
        )
        if ticket is not None and self._limit_headers:
            response.headers += ticket.headers()
        if ctx.cost_usd is not None and ctx.cost_known and self._headers:
            response.headers.append((COST_HEADER, str(ctx.cost_usd).encode()))
        if self._headers:
            count = len(ctx.attempts)  # at most max_attempts (≤ 10)
            assert plan.served is not None
            response.headers.append(plan.served.deployment.header)
            response.headers.append(_ATTEMPTS[count])
        return response

    def _ended(
        self,
        ctx: RequestContext,
        request: ProxyRequest,
        ticket: Ticket | None,
        served: str | None,
        usage: Usage | None,
        events: int,
        error: BaseException | None,
    ) -> None:
        """The request is over (answered, streamed to its end, cut, abandoned or failed): settle its limits and
        tell the listeners (spend, …) what it used."""
        if ticket is not None:
            if error is not None:
                ticket.fail()
            else:
                ticket.settle(usage, events, served)
        for listener in self.listeners:
            listener(ctx, request, usage, events, error)
        for listener in self.state.listeners:
            listener(ctx, request, usage, events, error)

    async def _run(
        self, ctx: RequestContext, request: ProxyRequest, plan: Plan, deadline: Deadline, model: str
    ) -> ProxyResponse:
        budget = self.state.budget
        last: GatewayError | None = None
        for number in range(self._max_attempts):
            step = self._choose(plan, number, deadline)
            if step is None:
                break
            retry = number > 0
            if retry and not budget.try_retry():
                break
            entry, wait = step
            try:
                if wait > 0:
                    await asyncio.sleep(wait)
                response = await run_attempt(ctx, request, entry, deadline, self.state)
            except GatewayError as exc:
                last = exc
                if not self._may_continue(plan, entry, exc):
                    raise
            else:
                plan.served = entry
                return response
            finally:
                if retry:
                    budget.done_retry()
        if last is None:
            raise plan.no_healthy(model, wall_clock())
        raise last

    def _choose(self, plan: Plan, number: int, deadline: Deadline) -> tuple[Tried, float] | None:
        """The next attempt: an untried deployment now, else a tried one after its backoff (None: stop)."""
        entry = plan.next_untried(wall_clock())
        if entry is not None:
            return entry, 0.0
        if number == 0:
            return None
        entry = plan.retry_candidate()
        if entry is None:
            return None
        entry.count += 1
        wait = max(backoff(entry.count - 1, self._base, self._cap, self.state.rng), entry.ready - time.perf_counter())
        if not deadline.allows(wait):
            return None
        return entry, wait

    def _may_continue(self, plan: Plan, entry: Tried, error: GatewayError) -> bool:
        """Digest a failed attempt (cool-down, exclusions); whether another attempt may help."""
        now = wall_clock()
        verdict = classify(error, now)
        if verdict.wait:
            self.state.breakers.cool_down(entry.deployment.id, now + verdict.wait)
            entry.ready = time.perf_counter() + verdict.wait
            if verdict.wait > self._cap:
                entry.again = False  # not worth waiting for here; other deployments may still answer
        if error.code == DEADLINE_CODE:
            return False
        if verdict.context:
            plan.context_refused(entry)
            return True
        if not verdict.retry:
            return False
        if not verdict.same_deployment:
            entry.again = False
        return True


def retarget(request: ProxyRequest, model: str) -> None:
    """Send ``request`` to another model (a budget's downgrade): the name routing resolves and the body's."""
    request.model = model
    if request.native is not None:
        native = request.native
        body = {**native.body, "model": model}
        request.native = replace(native, body=body, raw=orjson.dumps(body))
    if request.body:
        request.body = {**request.body, "model": model}
        if request.native is None:
            request.raw = orjson.dumps(request.body)


def _label_error(error: GatewayError, ctx: RequestContext) -> None:
    error.headers[ATTEMPTS_HEADER] = str(len(ctx.attempts))
    if ctx.attempts:
        error.headers[DEPLOYMENT_HEADER] = ctx.attempts[-1].deployment
