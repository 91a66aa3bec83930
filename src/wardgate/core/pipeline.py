"""Composition of pipeline stages into one handler (the aiohttp client-middleware shape).

A stage is ``async def stage(ctx, request, next) -> ProxyResponse``. ``compose`` folds the stage list in reverse
into closures once per config snapshot, so a request pays one function call per stage and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from wardgate.core.types import Handler, ProxyRequest, ProxyResponse, RequestContext, Stage


def compose(stages: Sequence[Stage], terminal: Handler) -> Handler:
    """Return a handler that runs ``stages`` outermost first and ``terminal`` last."""
    handler = terminal
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Stage, nxt: Handler) -> Handler:
    async def bound(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        return await stage(ctx, request, nxt)

    bound.__name__ = getattr(stage, "__name__", "stage")
    return bound
