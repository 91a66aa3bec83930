"""``Authenticator``: who is calling, for the proxy pipeline, the admin API and every other route. No SQL, no I/O
on the common paths: the master key hash is held in memory and virtual keys come from the ``IdentityCache``.

The caller presents one credential, taken from ``Authorization: Bearer``, ``x-api-key`` or ``api-key`` through
``presented_key`` (different values in two headers are refused). In order:

1. the **master key** (SHA-256 compared in constant time) → an org admin (``kind="master"``);
2. a **virtual key** (``wg-…``) → the key's principal from the cache;
3. a **JWT bearer token** (when ``auth.jwt`` is configured) → verified (signature, ``iss``/``aud``/``exp``/``nbf``;
   the verifier caches verified tokens) and mapped to teams and roles (``kind="jwt"``);
4. without any key header, the ``wardgate_session`` cookie through ``session_resolver`` (set by the SSO sign-in).

A person (JWT or session) in exactly one team carries that team's rate limits in ``Principal.limits["team"]`` and
its budget in ``Principal.budgets["team"]`` (from the cache, no SQL); in several teams or none, neither (a key's
principal comes with its limits and budgets built).

A virtual key that is unknown, revoked, disabled or expired gets one answer, 401 ``invalid_api_key`` "Invalid API
key.". Saying "expired" would tell a holder of a revoked key that it was revoked (for a thief: that the theft was
noticed); the key's owner reads ``expires_at`` through the admin API instead.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import Principal, Role
from wardgate.identity.cache import IdentityCache
from wardgate.identity.claims import VerifiedToken
from wardgate.identity.jwt import JwtVerifier, looks_like_jwt, map_claims
from wardgate.identity.oidc import session_token_from_cookies

KEY_HEADERS = ("authorization", "x-api-key", "api-key")
VIRTUAL_KEY_PREFIX = "wg-"
MASTER = Principal(key_id="master", kind="master", org_role=Role.ORG_ADMIN)
SessionResolver = Callable[[str], Awaitable[Principal | None]]
"""Session token (the ``wardgate_session`` cookie value) → the signed-in person, or None when it is not valid."""
_JWT_PRINCIPALS = 10_000


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


def _invalid() -> AuthenticationError:
    return AuthenticationError("Invalid API key.")


class Authenticator:
    """See the module docstring. ``cache`` None: only the master key (and JWTs) authenticate."""

    def __init__(
        self,
        master_key_hash: str,
        cache: IdentityCache | None = None,
        jwt: JwtVerifier | None = None,
        *,
        session_resolver: SessionResolver | None = None,
    ) -> None:
        self._master = master_key_hash
        self.cache = cache
        self.jwt = jwt
        self.session_resolver = session_resolver
        """Consulted with the ``wardgate_session`` cookie when no key header is present (set by SSO sign-in)."""
        self._jwt_principals: dict[int, tuple[VerifiedToken, int, Principal]] = {}

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        key = presented_key(headers)
        if not key:
            return await self._session(headers)
        digest = hash_key(key)
        if hmac.compare_digest(digest, self._master):
            return MASTER
        if key.startswith(VIRTUAL_KEY_PREFIX):
            principal = self.cache.lookup(digest) if self.cache is not None else None
            if principal is None:
                raise _invalid()
            return principal
        if self.jwt is not None and looks_like_jwt(key):
            return self._from_token(await self.jwt.verify(key))
        raise _invalid()

    async def _session(self, headers: Mapping[str, str]) -> Principal:
        resolver = self.session_resolver
        token = session_token_from_cookies(headers.get("cookie")) if resolver is not None else None
        if resolver is None or token is None:
            raise AuthenticationError(
                "Missing API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        principal = await resolver(token)
        if principal is None:
            raise AuthenticationError("The session has expired or was signed out.", code="invalid_session")
        return self._with_team_limits(principal)

    def _with_team_limits(self, principal: Principal) -> Principal:
        """A person's principal with its team's limits and budget, when it is in exactly one team that sets some."""
        team_id, cache = principal.team_id, self.cache
        if cache is None or team_id is None:
            return principal
        limits, budget = cache.team_limits(team_id), cache.team_budget(team_id)
        changes: dict[str, Any] = {}
        if limits is not None and principal.limits.get("team") is not limits:
            changes["limits"] = MappingProxyType({**principal.limits, "team": limits})
        if budget is not None and principal.budgets.get("team") is not budget:
            changes["budgets"] = MappingProxyType({**principal.budgets, "team": budget})
        return dataclasses.replace(principal, **changes) if changes else principal

    def _from_token(self, token: VerifiedToken) -> Principal:
        """The principal of a verified token, mapped once per token object and identity-cache version (the JWT
        verifier hands back the same object for a cached token)."""
        version = self.cache.version if self.cache is not None else 0
        hit = self._jwt_principals.get(id(token))
        if hit is not None and hit[0] is token and hit[1] == version:
            return hit[2]
        principal = self._map(token)
        if len(self._jwt_principals) >= _JWT_PRINCIPALS:
            self._jwt_principals.clear()
        self._jwt_principals[id(token)] = (token, version, principal)
        return principal

    def _map(self, token: VerifiedToken) -> Principal:
        assert self.jwt is not None
        cache = self.cache
        team_ids: Mapping[str, str] = cache.team_ids if cache is not None else MappingProxyType({})
        user = cache.user_by_external_id(token.subject) if cache is not None else None
        if user is not None and user.disabled:
            raise AuthenticationError("This user is disabled.")
        principal = map_claims(token, self.jwt.settings, team_ids, user_id=user.id if user is not None else None)
        return self._with_team_limits(principal)

    async def close(self) -> None:
        if self.jwt is not None:
            await self.jwt.close()
