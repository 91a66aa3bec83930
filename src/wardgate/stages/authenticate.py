"""Authentication stage: sets ``ctx.principal`` from the ``Authenticator`` (master key, virtual key from the
in-memory identity cache, JWT bearer token, or a sign-in session), or refuses with 401 before anything else runs.
The key is never stored or logged; see ``wardgate.identity.authenticator`` for the order and the messages.
"""

from __future__ import annotations

from wardgate.core.types import Handler, ProxyRequest, ProxyResponse, RequestContext, Stage
from wardgate.identity.authenticator import KEY_HEADERS, Authenticator, presented_key

__all__ = ["KEY_HEADERS", "make_authenticate", "presented_key"]


def make_authenticate(authenticator: Authenticator) -> Stage:
    verify = authenticator.authenticate

    async def authenticate(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        ctx.principal = await verify(ctx.headers)
        return await nxt(ctx, request)

    return authenticate
