"""JWT bearer tokens on the proxy API: settings, the JWKS key cache, the verifier and its verified-token cache.

A token is checked against the issuer's published keys (JWKS, found through OIDC discovery unless configured):
the header's ``alg`` must be in the configured list of asymmetric algorithms (never ``none``, never HS*: a public
key must not become an HMAC secret), the key is the JWKS entry named by the header's ``kid`` and must fit the
algorithm, then ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` are checked with a bounded leeway (at most 300 s).

Cost on the request path: a token seen before is one SHA-256 and one dict lookup (a bounded LRU whose entries die at
the token's ``exp``); only a new token pays for the signature check. An unknown ``kid`` refetches the JWKS (key
rotation), at most once per ``jwks_min_refresh_seconds``, so a flood of made-up key ids cannot hammer the IdP. The
JWKS is also refreshed when older than ``jwks_max_age_seconds``; a failed refresh keeps the keys already known.
A cached token signed by a key that a refresh removed stops working at that refresh.

Every failure is an ``AuthenticationError`` whose message never contains the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import orjson

from wardgate.core.errors import AuthenticationError
from wardgate.identity.claims import (
    ClaimMapping,
    IdentityProviderError,
    VerifiedToken,
    discover,
    fetch_json,
    identity_from_claims,
    insecure_url_reason,
    new_session,
)
from wardgate.identity.claims import map_claims as map_claims  # re-exported: the mapping step for bearer tokens

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}  # by the algorithm's first two letters
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MAX_CLOCK_SKEW = 300
MAX_TOKEN_LENGTH = 16 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_log = logging.getLogger("wardgate.identity")


@dataclass(frozen=True, kw_only=True)
class JwtSettings(ClaimMapping):
    """JWT bearer tokens accepted on the proxy API (plus the claim mapping fields of ``ClaimMapping``)."""

    issuer: str
    audience: str | Sequence[str]
    jwks_url: str | None = None
    """None: taken from the issuer's ``/.well-known/openid-configuration``."""
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    clock_skew_seconds: int = 60
    required_claims: tuple[str, ...] = ("exp", "iss", "aud")
    jwks_min_refresh_seconds: float = 5.0
    jwks_max_age_seconds: float = 600.0
    http_timeout_seconds: float = 5.0
    cache_size: int = 10_000
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.issuer:
            raise ValueError("issuer must not be empty")
        audience = (self.audience,) if isinstance(self.audience, str) else tuple(self.audience)
        if not audience or not all(isinstance(item, str) and item for item in audience):
            raise ValueError("audience must be a non-empty string or list of strings")
        object.__setattr__(self, "audience", self.audience if isinstance(self.audience, str) else audience)
        refused = [alg for alg in self.algorithms if alg not in ALLOWED_ALGORITHMS]
        if refused or not self.algorithms:
            raise ValueError(f"algorithms must be asymmetric signature algorithms out of {sorted(ALLOWED_ALGORITHMS)}")
        if not 0 <= self.clock_skew_seconds <= MAX_CLOCK_SKEW:
            raise ValueError(f"clock_skew_seconds must be between 0 and {MAX_CLOCK_SKEW}")
        if "exp" not in self.required_claims:
            raise ValueError("required_claims must include exp: a token must expire")
        if self.jwks_min_refresh_seconds < 0 or self.jwks_max_age_seconds <= 0 or self.http_timeout_seconds <= 0:
            raise ValueError("JWKS refresh intervals and the HTTP timeout must be positive")
        if self.cache_size < 0:
            raise ValueError("cache_size must not be negative")
        for what, url in (("issuer", self.issuer), ("jwks_url", self.jwks_url)):
            reason = None if url is None else insecure_url_reason(url, what, self.allow_insecure_http)
            if reason:
                raise ValueError(reason)


def _usable_jwk(jwk: Any) -> dict[str, Any] | None:
    """The public part of a signing key, or None for keys we never use (symmetric, encryption, malformed)."""
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP") or jwk.get("use", "sig") != "sig":
        return None
    if not isinstance(jwk.get("kid", ""), str):
        return None
    return {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}


class JwksCache:
    """The issuer's signing keys by ``kid``, refreshed on an unknown ``kid`` (rate limited) and when stale.

    ``session``: a shared ``aiohttp.ClientSession``; without one a private session is created on first use and
    closed by ``close()``. ``clock`` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        jwks_url: str | None = None,
        *,
        issuer: str | None = None,
        session: aiohttp.ClientSession | None = None,
        min_refresh_interval: float = 5.0,
        max_age: float = 600.0,
        timeout: float = 5.0,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if jwks_url is None and issuer is None:
            raise ValueError("JwksCache needs a jwks_url or an issuer to discover it from")
        self._url, self._issuer = jwks_url, issuer
        self._session, self._owns_session = session, session is None
        self._min_interval, self._max_age, self._timeout = min_refresh_interval, max_age, timeout
        self._allow_http, self._clock = allow_insecure_http, clock
        self._jwks: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple[str, str], jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        """JWKS downloads attempted so far (for tests and metrics)."""

    @classmethod
    def from_settings(cls, settings: JwtSettings, session: aiohttp.ClientSession | None = None) -> JwksCache:
        return cls(
            settings.jwks_url,
            issuer=settings.issuer,
            session=session,
            min_refresh_interval=settings.jwks_min_refresh_seconds,
            max_age=settings.jwks_max_age_seconds,
            timeout=settings.http_timeout_seconds,
            allow_insecure_http=settings.allow_insecure_http,
        )

    def knows(self, kid: str) -> bool:
        """Whether the key ``kid`` was in the last JWKS fetched ("" for a key without ``kid``)."""
        return kid in self._jwks

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._jwks)

    async def get_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The verification key for a token header's ``kid`` and (already allowed) ``alg``."""
        fetched = self._fetched_at
        if fetched is None or (self._clock() - fetched >= self._max_age and not self._lock.locked()):
            await self.refresh()  # first use, or stale (a refresh already running keeps serving the known keys)
        jwk = self._find(kid)
        if jwk is None:
            await self.refresh()  # maybe the IdP rotated its keys; rate limited
            jwk = self._find(kid)
        if jwk is None:
            if not self._jwks:
                raise AuthenticationError(
                    "The identity provider's signing keys could not be loaded.", code="identity_provider_unavailable"
                )
            raise AuthenticationError("The token's signing key is not known.")
        return self._key(jwk, alg)

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self._jwks.get(kid)
        if "" in self._jwks:
            return self._jwks[""]
        return next(iter(self._jwks.values())) if len(self._jwks) == 1 else None  # no kid: only a lone key fits

    def _key(self, jwk: dict[str, Any], alg: str) -> jwt.PyJWK:
        kid = jwk.get("kid", "")
        key = self._keys.get((kid, alg))
        if key is None:
            if jwk.get("alg", alg) != alg or _KEY_TYPE.get(alg[:2]) != jwk.get("kty"):
                raise AuthenticationError("The token's signing algorithm does not match its key.")
            try:
                key = jwt.PyJWK(jwk, algorithm=alg)
            except jwt.PyJWTError:
                raise AuthenticationError("The token's signing key is not usable.") from None
            self._keys[(kid, alg)] = key
        return key

    async def refresh(self) -> bool:
        """Download the JWKS now unless a download was attempted less than ``min_refresh_interval`` ago.
        True when new keys were installed; a failure is logged and keeps the known keys."""
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return False
            self._attempted_at = now
            try:
                keys = await self._download()
            except IdentityProviderError as error:
                _log.warning("JWKS refresh failed: %s", error, extra={"fields": {"issuer": self._issuer}})
                return False
            removed = set(self._jwks) - set(keys)
            if removed:
                _log.info("JWKS keys removed by the identity provider", extra={"fields": {"kids": sorted(removed)}})
            self._jwks, self._keys, self._fetched_at = keys, {}, now
            return True

    async def _download(self) -> dict[str, dict[str, Any]]:
        if self._session is None:
            self._session = new_session()
        if self._url is None:
            assert self._issuer is not None
            document = await discover(self._session, self._issuer, self._timeout)
            url = document.get("jwks_uri")
            if not isinstance(url, str):
                raise IdentityProviderError("the OIDC discovery document has no jwks_uri")
            reason = insecure_url_reason(url, "the jwks_uri", self._allow_http)
            if reason:
                raise IdentityProviderError(reason)
            self._url = url
        self.fetch_count += 1
        document = await fetch_json(self._session, self._url, self._timeout, "the JWKS endpoint")
        raw = document.get("keys")
        if not isinstance(raw, list):
            raise IdentityProviderError("the JWKS document has no keys list")
        keys = {jwk.get("kid", ""): jwk for jwk in map(_usable_jwk, raw) if jwk is not None}
        if not keys:
            raise IdentityProviderError("the JWKS document has no usable signing key")
        return keys

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not yet valid."),
    (jwt.InvalidAudienceError, "The token's audience is not accepted."),
    (jwt.InvalidIssuerError, "The token's issuer is not accepted."),
    (jwt.InvalidSignatureError, "The token's signature is invalid."),
    (jwt.InvalidAlgorithmError, "The token's signing algorithm is not accepted."),
    (jwt.InvalidIssuedAtError, "The token's issue time is invalid."),
    (jwt.InvalidKeyError, "The token's signing key is not usable."),
)


def _reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The token lacks the required claim '{error.claim}'."  # a name from our settings, not the token
    for kind, message in _REASONS:
        if isinstance(error, kind):
            return message
    return "The token is malformed."


class _TokenCache:
    """Verified tokens by SHA-256 of the token: bounded LRU, an entry dies at the token's ``exp``."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._items: OrderedDict[bytes, tuple[VerifiedToken, str]] = OrderedDict()
        self._size, self._clock = size, clock

    def get(self, digest: bytes) -> tuple[VerifiedToken, str] | None:
        entry = self._items.get(digest)
        if entry is None:
            return None
        if entry[0].expires_at <= self._clock():
            del self._items[digest]
            return None
        self._items.move_to_end(digest)
        return entry

    def put(self, digest: bytes, token: VerifiedToken, kid: str) -> None:
        if self._size == 0 or token.expires_at <= self._clock():
            return
        self._items[digest] = (token, kid)
        self._items.move_to_end(digest)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class JwtVerifier:
    """Verifies bearer tokens against ``settings``. ``clock`` is wall-clock seconds for the token cache."""

    def __init__(
        self,
        settings: JwtSettings,
        *,
        jwks: JwksCache | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.jwks = jwks if jwks is not None else JwksCache.from_settings(settings, session)
        self._require = sorted({*settings.required_claims, "exp"})
        self._cache = _TokenCache(settings.cache_size, clock)

    async def verify(self, token: str) -> VerifiedToken:
        """The identity in ``token``; ``AuthenticationError`` when it is not acceptable."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("The token is too large.")
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._cache.get(digest)
        if hit is not None and self.jwks.knows(hit[1]):
            return hit[0]
        claims, kid = await self.decode(token)
        verified = identity_from_claims(claims, self.settings)
        self._cache.put(digest, verified, kid)
        return verified

    async def decode(self, token: str, *, audience: str | Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
        """All verified claims and the signing key's ``kid`` (uncached). ``audience`` overrides the settings'
        (an OIDC ID token's audience is the client id)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("The token is too large.")
        header = _header(token) if _COMPACT_JWS.fullmatch(token) else None
        kid = header.get("kid") if header is not None else None
        if header is None or not isinstance(kid, str | None):
            raise AuthenticationError("The token is malformed.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.algorithms:
            raise AuthenticationError("The token's signing algorithm is not accepted.")
        key = await self.jwks.get_key(kid, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.settings.audience if audience is None else audience,
                issuer=self.settings.issuer,
                leeway=self.settings.clock_skew_seconds,
                options={"require": self._require, "verify_signature": True, "strict_aud": False},
            )
        except jwt.PyJWTError as error:
            raise AuthenticationError(_reason(error)) from None
        return claims, key.key_id or ""

    @property
    def cached_tokens(self) -> int:
        return len(self._cache)

    async def close(self) -> None:
        await self.jwks.close()


def _header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWS (three dot-separated segments), or None when it has no such shape."""
    head, dot, rest = token.partition(".")
    if not dot or rest.count(".") != 1 or not _SEGMENT.fullmatch(head):
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def looks_like_jwt(value: str) -> bool:
    """Whether ``value`` is shaped like a JWT (three base64url segments, a JSON header with ``alg``), so the
    authenticate stage can tell bearer tokens from ``wg-…`` virtual keys. Shape only: ``verify`` decides validity.
    Costs a few microseconds; test the ``wg-`` prefix first."""
    if len(value) > MAX_TOKEN_LENGTH or not value.startswith("ey"):  # '{"' in base64url
        return False
    header = _header(value)
    return header is not None and isinstance(header.get("alg"), str) and value.split(".", 2)[1] != ""
