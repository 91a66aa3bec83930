"""One attempt against one deployment: invoke it under what is left of the deadline, wait for a stream's first
event (so a stream that fails before its first byte can still fail over), and record the outcome — in
``ctx.attempts``, in the deployment's health (a stream's when it ends) and on the breaker board.

The board hears one outcome per attempt: success when the answer (or a stream's first event) arrived, failure when
the deployment was at fault (a retryable error, an exhausted quota); a stream that breaks later reports a
failure too. Errors that are the request's own (400, 404, …) and the request's own deadline count for nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from wardgate.core.errors import GatewayError
from wardgate.core.streams import close_quietly, peek_first
from wardgate.core.types import Attempt, ProxyRequest, ProxyResponse, RequestContext, StreamSource
from wardgate.routing.candidates import Tried
from wardgate.routing.deadline import DEADLINE_CODE, Deadline, exceeded
from wardgate.routing.health import DeploymentHealth, HealthRegistry
from wardgate.routing.retry import deployment_fault
from wardgate.routing.state import RoutingState, wall_clock
from wardgate.routing.table import Deployment


async def run_attempt(
    ctx: RequestContext, request: ProxyRequest, entry: Tried, deadline: Deadline, state: RoutingState
) -> ProxyResponse:
    deployment = entry.deployment
    started = time.perf_counter()
    attempt = Attempt(
        deployment.client.name,
        deployment.upstream_model,
        started=started,
        deployment=deployment.id,
        route=entry.group.route.name,
    )
    ctx.attempts.append(attempt)
    trace = ctx.trace
    if trace is not None:  # the attempt's span context goes upstream (W3C traceparent)
        ctx.upstream_headers = trace.attempt_started(attempt, deployment.client)
    health = state.health.begin(deployment.id)
    try:
        response = await _invoke(ctx, request, deployment, deadline)
    except GatewayError as exc:
        attempt.status, attempt.error, attempt.finished = exc.http_status, exc.code, time.perf_counter()
        fault = exc.code != DEADLINE_CODE and deployment_fault(exc)
        HealthRegistry.end(health, status=exc.http_status, error=exc.code or "error", fault=fault)
        if exc.code != DEADLINE_CODE:
            state.breakers.record(deployment.id, not fault, wall_clock())
        raise
    except BaseException:  # the client left (cancelled), or a bug
        attempt.finished = time.perf_counter()
        HealthRegistry.abandon(health)
        raise
    arrived = time.perf_counter()
    attempt.status, attempt.first_byte = response.status, arrived
    if trace is not None:
        trace.attempt_answered(attempt, response)
    state.breakers.record(deployment.id, True, wall_clock())
    if response.stream is None:
        attempt.finished = arrived
        HealthRegistry.end(health, status=response.status, ttft=arrived - started, duration=arrived - started)
    else:
        response.stream = TrackedStream(response.stream, _stream_end(attempt, health, deployment, state))
    return response


async def _invoke(
    ctx: RequestContext, request: ProxyRequest, deployment: Deployment, deadline: Deadline
) -> ProxyResponse:
    left = deadline.remaining()
    if left is None:
        return await _call(ctx, request, deployment)
    if left <= 0:
        raise exceeded()
    try:
        async with asyncio.timeout(left) as scope:
            return await _call(ctx, request, deployment)
    except TimeoutError:
        if scope.expired():
            raise exceeded() from None
        raise


async def _call(ctx: RequestContext, request: ProxyRequest, deployment: Deployment) -> ProxyResponse:
    response = await deployment.client.invoke(ctx, request, deployment.target)
    if response.stream is not None:
        response.stream = await peek_first(response.stream)
    return response


def _stream_end(
    attempt: Attempt, health: DeploymentHealth, deployment: Deployment, state: RoutingState
) -> Callable[[BaseException | None, bool], None]:
    def ended(error: BaseException | None, completed: bool) -> None:
        now = time.perf_counter()
        attempt.finished = now
        ttft = (attempt.first_byte or now) - attempt.started
        if completed:
            HealthRegistry.end(health, status=attempt.status, ttft=ttft, duration=now - attempt.started)
        elif isinstance(error, GatewayError):
            attempt.error = error.code
            fault = deployment_fault(error)
            HealthRegistry.end(health, status=attempt.status, error=error.code or "error", fault=fault)
            if fault:
                state.breakers.record(deployment.id, False, wall_clock())
        else:
            HealthRegistry.abandon(health)

    return ended


class TrackedStream:
    """Relays a stream and calls ``on_end(error, completed)`` exactly once: at its end, when it breaks, when it is
    closed early, or — for a stream nobody iterated or closed — when it is collected, so in-flight counts never
    leak."""

    __slots__ = ("_ended", "_inner", "_on_end")

    def __init__(self, inner: StreamSource, on_end: Callable[[BaseException | None, bool], None]) -> None:
        self._inner = inner
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._end(None, True)
            raise
        except BaseException as exc:
            self._end(exc, False)
            raise

    async def aclose(self) -> None:
        self._end(None, False)
        await close_quietly(self._inner)

    def _end(self, error: BaseException | None, completed: bool) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(error, completed)

    def __del__(self) -> None:
        if not self._ended:
            self._end(None, False)
