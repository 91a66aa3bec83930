"""``VertexTokenSource``: a service-account key exchanged for short-lived OAuth access tokens (Vertex AI).

The OAuth 2.0 JWT-bearer flow for service accounts
(https://developers.google.com/identity/protocols/oauth2/service-account#httprest): sign an RS256 JWT
(``iss`` = the account's email, ``scope`` = cloud-platform, ``aud`` = the key's ``token_uri``, one hour of
validity), POST it form-encoded with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` to the token URL,
receive ``{"access_token", "expires_in", "token_type": "Bearer"}``. The token is cached until shortly before it
expires; concurrent callers share one refresh (an ``asyncio.Lock``).

The HTTP call is injected (``post_form(url, fields) -> (status, body)``) so this module does no I/O itself and is
testable without a network. Neither the private key nor a token ever appears in ``repr``, logs or error messages.
Needs ``PyJWT[crypto]`` (imported when a source is built).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from wardgate.core.errors import UpstreamStatusError, UpstreamUnavailableError

PostForm = Callable[[str, Mapping[str, str]], Awaitable[tuple[int, bytes]]]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
ASSERTION_LIFETIME = 3600  # Google accepts at most one hour
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")


class VertexTokenSource:
    """Access tokens for one service account. ``await source.headers()`` → ``{"Authorization": "Bearer …"}``."""

    def __init__(
        self,
        service_account: Mapping[str, Any],
        post_form: PostForm,
        *,
        token_url: str | None = None,
        scope: str = CLOUD_PLATFORM_SCOPE,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        email = service_account.get("client_email")
        private_key = service_account.get("private_key")
        token_uri = service_account.get("token_uri") or DEFAULT_TOKEN_URI
        if not isinstance(email, str) or "@" not in email:
            raise ValueError("the service account key has no client_email")
        if not isinstance(private_key, str) or not private_key:
            raise ValueError("the service account key has no private_key")
        if not isinstance(token_uri, str) or not token_uri.startswith("https://"):
            raise ValueError("the service account key's token_uri must be an https URL")
        key_id = service_account.get("private_key_id")
        self.client_email = email
        self._key = _load_rsa_key(private_key)
        self._key_id = key_id if isinstance(key_id, str) and key_id else None
        self._audience = token_uri
        self._token_url = token_url or token_uri
        self._scope = scope
        self._post = post_form
        self._margin = refresh_margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"VertexTokenSource(client_email={self.client_email!r})"

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        """A valid access token, refreshed once for all concurrent callers when it nears expiry."""
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()
            if token is None:
                token = await self._refresh()
            return token

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after the upstream rejected it): the next call refreshes."""
        self._token = None
        self._refresh_at = 0.0

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    def assertion(self, now: float) -> str:
        """The signed JWT sent to the token endpoint."""
        import jwt  # PyJWT[crypto]; imported here so the rest of the package works without it

        issued = int(now)
        claims = {
            "iss": self.client_email,
            "scope": self._scope,
            "aud": self._audience,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._key_id} if self._key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def _refresh(self) -> str:
        now = self._clock()
        fields = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion(now)}
        status, body = await self._post(self._token_url, fields)
        if status != 200:
            raise _token_error(status, body)
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        token = parsed.get("access_token") if isinstance(parsed, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamStatusError(
                "the provider's token service sent an unusable answer", code="upstream_auth_failed"
            )
        lifetime = parsed.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 3600.0
        self._token = token
        # Refresh ``refresh_margin`` before expiry, but never use less than half a (short) token's life.
        self._refresh_at = now + max(seconds - self._margin, seconds / 2)
        self.refreshes += 1
        return token


def _load_rsa_key(pem: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("the service account private_key is not a valid PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the service account private_key must be an RSA key")
    return key


def _token_error(status: int, body: bytes) -> Exception:
    """Never echo the body: only the OAuth error code (``invalid_grant`` …) when it has the expected shape."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    code = parsed.get("error") if isinstance(parsed, dict) else None
    detail = f" ({code})" if isinstance(code, str) and _OAUTH_ERROR.fullmatch(code) else ""
    if status == 429 or status >= 500:
        return UpstreamUnavailableError(f"the provider's token service is unavailable (HTTP {status})")
    return UpstreamStatusError(
        f"the gateway's service account was refused by the token service{detail}; contact the gateway operator",
        code="upstream_auth_failed",
    )
