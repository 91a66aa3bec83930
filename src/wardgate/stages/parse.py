"""Parse the request body with the inbound dialect's parser. Runs after authentication, so a client without a valid
key is told only that; everything after this stage sees a parsed, validated request."""

from __future__ import annotations

from wardgate.core.types import Handler, ProxyRequest, ProxyResponse, RequestContext


async def parse(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
    request.parse()
    if request.pending is not None:
        await request.resolve(ctx)
    return await nxt(ctx, request)
