"""Authentication: every proxy call needs a key, taken from ``Authorization: Bearer``, ``x-api-key`` or ``api-key``
through one code path. Keys are compared by SHA-256 hash in constant time; the plain key is never stored or logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import Handler, Principal, ProxyRequest, ProxyResponse, RequestContext, Stage

KEY_HEADERS = ("authorization", "x-api-key", "api-key")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The one key the client presented; several different keys in different headers are refused."""
    found: str | None = None
    for name in KEY_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("The Authorization header must be 'Bearer <key>'.")
            value = token
        value = value.strip()
        if found is not None and value != found:
            raise AuthenticationError("Different API keys were sent in different headers.")
        found = value
    return found


class KeyVerifier:
    """Verifies presented keys against known key hashes (the master key for now; virtual keys later)."""

    def __init__(self, master_key_hash: str) -> None:
        self._master = master_key_hash.encode()

    def verify(self, headers: Mapping[str, str]) -> Principal:
        key = presented_key(headers)
        if not key:
            raise AuthenticationError(
                "Missing API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        if hmac.compare_digest(hash_key(key).encode(), self._master):
            return Principal(key_id="master", kind="master")
        raise AuthenticationError("Invalid API key.")


def make_authenticate(verifier: KeyVerifier) -> Stage:
    async def authenticate(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        ctx.principal = verifier.verify(ctx.headers)
        return await nxt(ctx, request)

    return authenticate
