"""The terminal pipeline handler: try the alias's deployments in order until one answers.

A failure that another deployment could avoid (``retryable``) moves on to the next deployment; a stream counts as
answered only once its first event has arrived, so a stream that breaks before its first byte fails over too.
When every deployment fails, the last error is raised.
"""

from __future__ import annotations

import time

from wardgate.core.errors import GatewayError
from wardgate.core.streams import peek_first
from wardgate.core.types import Attempt, ProxyRequest, ProxyResponse, RequestContext
from wardgate.routing.table import RouteTable


async def execute(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
    routes: RouteTable = ctx.snapshot.routes
    route = routes.resolve(request.model)
    last_error: GatewayError | None = None
    for deployment in route.deployments:
        client = deployment.client
        attempt = Attempt(client.name, deployment.upstream_model, started=time.perf_counter())
        ctx.attempts.append(attempt)
        try:
            response = await client.invoke(ctx, request, deployment.target)
            if response.stream is not None:
                response.stream = await peek_first(response.stream)
        except GatewayError as exc:
            attempt.status = exc.http_status
            attempt.error = exc.code
            attempt.finished = time.perf_counter()
            last_error = exc
            if not exc.retryable:
                raise
            continue
        attempt.status = response.status
        attempt.first_byte = time.perf_counter()
        return response
    assert last_error is not None  # a route always has at least one deployment
    raise last_error
