"""OIDC sign-in for people: the authorization code flow with PKCE (S256, RFC 7636) and a nonce, plus the helpers
for the session cookie that follows. No web framework here; the admin/UI routes drive it:

1. ``login = client.start_login(return_to)``; ``pending.put(login)``; redirect the browser to
   ``login.authorization_url``.
2. On the callback: ``state, code = parse_callback(query)``; ``login = pending.take(state)`` (single use, expires
   after 10 minutes); ``identity = await client.finish_login(login, code)``; create a server-side session (store the
   SHA-256 of ``new_session_token()``), send ``session_cookie_header(...)`` and redirect to ``login.return_to``.

``PendingLogins`` lives in one process's memory: several replicas need a shared (SQL-backed) store, because the
callback may reach another replica than the one that started the login.

The ID token is verified with the ``JwtVerifier`` machinery (issuer, audience = client id, signature from the
issuer's JWKS, bounded clock skew), then its ``nonce`` must match the login's. ``return_to`` must be a path on this
site (open-redirect protection). Secrets (client secret, code verifier, tokens) never reach messages, logs or reprs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson

from wardgate.core.errors import AuthenticationError, InvalidRequestError
from wardgate.identity.claims import (
    ClaimMapping,
    IdentityProviderError,
    VerifiedToken,
    discover,
    identity_from_claims,
    insecure_url_reason,
    new_session,
    read_bounded,
)
from wardgate.identity.jwt import JwksCache, JwtSettings, JwtVerifier

SESSION_COOKIE = "wardgate_session"
SESSION_PREFIX = "wgs_"
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name, not a secret)
CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105
TOKEN_AUTH_METHODS = (CLIENT_SECRET_BASIC, CLIENT_SECRET_POST)
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_log = logging.getLogger("wardgate.identity")


@dataclass(frozen=True, kw_only=True)
class OidcSettings(ClaimMapping):
    """Sign-in with an OpenID Provider (plus the claim mapping fields of ``ClaimMapping``)."""

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    """For confidential clients; None for a public client (PKCE only)."""
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    token_auth_method: str = CLIENT_SECRET_BASIC
    """How the client secret is sent to the token endpoint: client_secret_basic or client_secret_post."""
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    clock_skew_seconds: int = 60
    login_ttl_seconds: int = 600
    http_timeout_seconds: float = 10.0
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        if self.token_auth_method not in TOKEN_AUTH_METHODS:
            raise ValueError(f"token_auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}")
        if self.login_ttl_seconds <= 0:
            raise ValueError("login_ttl_seconds must be positive")
        reason = insecure_url_reason(self.redirect_uri, "redirect_uri", self.allow_insecure_http)
        if reason:
            raise ValueError(reason)
        self.jwt_settings("https://placeholder.invalid/jwks")  # the shared checks (issuer, algorithms, clock skew)

    def jwt_settings(self, jwks_url: str) -> JwtSettings:
        """Settings that verify this client's ID tokens (audience = the client id, nothing cached)."""
        mapping = {item.name: getattr(self, item.name) for item in fields(ClaimMapping) if item.init}
        return JwtSettings(
            **mapping,
            issuer=self.issuer,
            audience=self.client_id,
            jwks_url=jwks_url,
            algorithms=self.algorithms,
            clock_skew_seconds=self.clock_skew_seconds,
            required_claims=("exp", "iss", "aud", "iat", "sub"),
            http_timeout_seconds=self.http_timeout_seconds,
            cache_size=0,
            allow_insecure_http=self.allow_insecure_http,
        )


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What discovery told us about the OpenID Provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True, slots=True)
class LoginStart:
    """One sign-in in progress; the caller keeps it server-side, keyed by ``state``, until the callback."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    created_at: float
    return_to: str
    authorization_url: str = field(repr=False)


def safe_return_to(value: str | None) -> str:
    """``value`` when it is a path on this site, "/" when absent; anything that could leave the site is refused."""
    if not value:
        return "/"
    bad = (
        len(value) > 2048
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)
    )
    parts = urlsplit(value)
    if bad or parts.scheme or parts.netloc:
        raise InvalidRequestError("return_to must be a path on this site, such as /ui/keys.", param="return_to")
    return value


def _error_code(value: object) -> str:
    """An OAuth error code fit to show (its registry values are lower-case words); anything else is "error"."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else "error"


def parse_callback(query: Mapping[str, str]) -> tuple[str, str]:
    """``(state, code)`` from the redirect back from the provider; its ``error`` becomes an ``AuthenticationError``."""
    if "error" in query:
        raise AuthenticationError(f"The identity provider did not sign you in ({_error_code(query['error'])}).")
    state, code = query.get("state"), query.get("code")
    if not state or not code or len(state) > 512 or len(code) > 4096:
        raise AuthenticationError("The sign-in callback lacks a valid state or code.")
    return state, code


class PendingLogins:
    """Logins waiting for their callback, in this process's memory: single use, expiring after ``ttl`` seconds,
    at most ``max_size`` (the oldest go first). Several replicas need a shared store instead."""

    def __init__(self, ttl: float = 600.0, max_size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._items: OrderedDict[str, LoginStart] = OrderedDict()
        self._ttl, self._max_size, self._clock = ttl, max_size, clock

    def put(self, login: LoginStart) -> None:
        self._purge()
        self._items[login.state] = login
        while len(self._items) > self._max_size:
            self._items.popitem(last=False)

    def take(self, state: str) -> LoginStart:
        """The login started with ``state``, removed so that it cannot be used twice."""
        login = self._items.pop(state, None)
        if login is None:
            raise AuthenticationError("The sign-in attempt is unknown or was already used; start again.")
        if self._clock() - login.created_at > self._ttl:
            raise AuthenticationError("The sign-in attempt has expired; start again.")
        return login

    def _purge(self) -> None:
        cutoff = self._clock() - self._ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.created_at >= cutoff:
                return
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


class OidcClient:
    """One relying party. ``discover()`` once (at startup or on first sign-in), then ``start_login`` and
    ``finish_login`` per sign-in. ``session``: a shared aiohttp session; without one a private one is created and
    closed by ``close()``. ``clock`` is wall-clock seconds."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._session, self._owns_session = session, session is None
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._verifier: JwtVerifier | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session()
        return self._session

    @property
    def metadata(self) -> ProviderMetadata | None:
        return self._metadata

    async def discover(self) -> ProviderMetadata:
        """Read the provider's discovery document (its ``issuer`` must equal the configured one)."""
        settings = self.settings
        try:
            document = await discover(self._http(), settings.issuer, settings.http_timeout_seconds)
            metadata = _metadata(document, settings.allow_insecure_http)
        except IdentityProviderError as error:
            _log.warning("OIDC discovery failed: %s", error, extra={"fields": {"issuer": settings.issuer}})
            raise AuthenticationError(
                f"The identity provider is not usable: {error}.", code="identity_provider_unavailable"
            ) from None
        id_settings = settings.jwt_settings(metadata.jwks_uri)
        self._metadata = metadata
        self._verifier = JwtVerifier(id_settings, jwks=JwksCache.from_settings(id_settings, self._http()))
        return metadata

    def start_login(self, return_to: str | None = None) -> LoginStart:
        """A new sign-in: the authorization URL to redirect to, and the secrets to keep until the callback."""
        if self._metadata is None:
            raise RuntimeError("OidcClient.discover() must run before start_login()")
        target = safe_return_to(return_to)
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": _s256(verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        endpoint = self._metadata.authorization_endpoint
        url = endpoint + ("&" if urlsplit(endpoint).query else "?") + query
        return LoginStart(state, nonce, verifier, self._clock(), target, url)

    async def finish_login(self, pending: LoginStart, code: str) -> VerifiedToken:
        """Exchange ``code`` for tokens and return the verified identity of the ID token."""
        if self._clock() - pending.created_at > self.settings.login_ttl_seconds:
            raise AuthenticationError("The sign-in attempt has expired; start again.")
        if not code or len(code) > 4096:
            raise AuthenticationError("The sign-in callback lacks a valid state or code.")
        if self._metadata is None or self._verifier is None:
            await self.discover()
        assert self._metadata is not None and self._verifier is not None
        answer = await self._exchange(self._metadata.token_endpoint, pending, code)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise AuthenticationError("The identity provider returned no ID token.")
        claims, _ = await self._verifier.decode(id_token)
        self._check_id_claims(claims, pending)
        return identity_from_claims(claims, self.settings)

    def _check_id_claims(self, claims: Mapping[str, Any], pending: LoginStart) -> None:
        """OIDC Core §3.1.3.7: the nonce is this login's, ``azp`` (needed with several audiences) is us."""
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), pending.nonce.encode()):
            raise AuthenticationError("The ID token does not belong to this sign-in attempt (nonce mismatch).")
        audience, azp = claims.get("aud"), claims.get("azp")
        several = isinstance(audience, list) and len(audience) > 1
        if (several or azp is not None) and azp != self.settings.client_id:
            raise AuthenticationError("The ID token was issued to another client (azp).")

    async def _exchange(self, endpoint: str, pending: LoginStart, code: str) -> dict[str, Any]:
        """The token request (RFC 6749 §4.1.3) with the PKCE verifier; client authentication as configured."""
        settings = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        headers = {"Accept": "application/json"}
        if settings.client_secret is None or settings.token_auth_method == CLIENT_SECRET_POST:
            form["client_id"] = settings.client_id
            if settings.client_secret is not None:
                form["client_secret"] = settings.client_secret
        else:  # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding
            pair = f"{quote(settings.client_id, safe='')}:{quote(settings.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        try:
            async with (
                asyncio.timeout(settings.http_timeout_seconds),
                self._http().post(endpoint, data=form, allow_redirects=False, headers=headers) as response,
            ):
                status, body = response.status, await read_bounded(response)
        except TimeoutError:
            raise AuthenticationError("The identity provider did not answer in time.") from None
        except (aiohttp.ClientError, OSError):
            raise AuthenticationError("The identity provider could not be reached.") from None
        except IdentityProviderError:
            raise AuthenticationError("The identity provider's token answer is too large.") from None
        return _token_answer(status, body)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def _token_answer(status: int, body: bytes) -> dict[str, Any]:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if status != 200:
        code = _error_code(answer.get("error") if isinstance(answer, dict) else None)
        _log.info("OIDC token request refused", extra={"fields": {"status": status, "error": code}})
        raise AuthenticationError(f"The identity provider refused the sign-in ({code}).")
    if not isinstance(answer, dict):
        raise AuthenticationError("The identity provider's token answer is not valid JSON.")
    return answer


def _metadata(document: Mapping[str, Any], allow_insecure_http: bool) -> ProviderMetadata:
    values: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise IdentityProviderError(f"the discovery document has no {name}")
        reason = insecure_url_reason(value, f"the {name}", allow_insecure_http)
        if reason:
            raise IdentityProviderError(reason)
        values[name] = value
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise IdentityProviderError("the provider does not support PKCE with S256")
    return ProviderMetadata(issuer=str(document["issuer"]), **values)


def new_session_token() -> str:
    """A new session token: 256 random bits, prefixed ``wgs_``. Store only its SHA-256 (``core.keys.hash_key``)."""
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def session_cookie_header(token: str, max_age: int, secure: bool = True, *, name: str = SESSION_COOKIE) -> str:
    """The ``Set-Cookie`` value that hands the session to the browser: HttpOnly, Secure, SameSite=Lax, Path=/."""
    if not _COOKIE_VALUE.fullmatch(token):
        raise ValueError("the session token has characters a cookie cannot carry")
    if max_age < 0:
        raise ValueError("max_age must not be negative")
    return "; ".join([f"{name}={token}", f"Max-Age={max_age}", "Path=/", "HttpOnly", *_secure(secure), "SameSite=Lax"])


def clear_session_cookie_header(secure: bool = True, *, name: str = SESSION_COOKIE) -> str:
    """The ``Set-Cookie`` value that removes the session cookie (sign-out)."""
    expired = ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
    return "; ".join([f"{name}=", *expired, "Path=/", "HttpOnly", *_secure(secure), "SameSite=Lax"])


def _secure(secure: bool) -> list[str]:
    return ["Secure"] if secure else []


def session_token_from_cookies(cookie_header: str | None, *, name: str = SESSION_COOKIE) -> str | None:
    """The session token in a request's ``Cookie`` header, or None (only well-formed ``wgs_`` tokens)."""
    for part in (cookie_header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value.startswith(SESSION_PREFIX) and _COOKIE_VALUE.fullmatch(value):
            return value
    return None
