"""``FakeOidc``: a fake OpenID Provider for tests, a real aiohttp server with the ``FakeServer`` lifecycle
(``start``/``stop``, ``async with``, ``run_in_thread``, ``url``; its issuer is its URL unless given).

Routes (requests are recorded; ``hits`` counts them per path):
  GET  /.well-known/openid-configuration  discovery
  GET  /jwks                               the current signing keys and the previous ones until ``drop_old_keys``
  GET  /authorize                          signs in the configured user without asking: 302 to
                                           ``redirect_uri?code=…&state=…``, remembering PKCE challenge, nonce, client
  POST /token                              authorization_code grant: client authentication (Basic or form), the PKCE
                                           ``code_verifier`` against the challenge; answers ``id_token`` +
                                           ``access_token`` (OAuth error bodies otherwise)

Test helpers: ``issue_token`` (any claims, lifetime, ``kid``, audience, ``nbf``, RS256 / ES256 / ``none``),
``rotate_keys``, ``drop_old_keys``, ``set_user``, ``public_key_pem``. Keys are generated once per server with
``cryptography`` (RSA 2048 and EC P-256). Needs ``PyJWT[crypto]``.

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.storage`` or ``wardgate.identity``: it stands in
for a real provider and knows nothing about the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from yarl import URL

from wardgate.testing.recording import RecordedRequest
from wardgate.testing.responses import json_response
from wardgate.testing.server import FakeServer

CODE_LIFETIME = 60.0


@dataclass(frozen=True)
class FakeUser:
    """Who ``/authorize`` signs in; its claims go into the ID token."""

    sub: str = "alice"
    email: str | None = "alice@example.com"
    groups: tuple[str, ...] = ("platform",)
    roles: tuple[str, ...] = ("gateway-user",)
    name: str = "Alice Example"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.sub, "name": self.name, "groups": list(self.groups)}
        claims["roles"] = list(self.roles)
        if self.email is not None:
            claims.update(email=self.email, email_verified=True)
        return {**claims, **self.extra}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True)
class _Grant:
    """What ``/authorize`` remembered for one code."""

    client_id: str
    redirect_uri: str
    code_challenge: str | None
    nonce: str | None
    scope: str
    user: FakeUser
    issued_at: float


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


class FakeOidc(FakeServer):
    """A fake OpenID Provider. ``client_secret=None`` makes the client public (PKCE only); ``redirect_uris=None``
    accepts any redirect URI. ``login_error`` (e.g. "access_denied") makes ``/authorize`` refuse sign-ins."""

    def __init__(
        self,
        *,
        client_id: str = "wardgate-test",
        client_secret: str | None = "fake-client-secret",  # noqa: S107 (a throwaway test credential)
        redirect_uris: Iterable[str] | None = None,
        issuer: str | None = None,
        user: FakeUser | None = None,
        require_pkce: bool = True,
        id_token_lifetime: int = 300,
        max_recorded: int = 1000,
    ) -> None:
        super().__init__(None, max_recorded)
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = None if redirect_uris is None else set(redirect_uris)
        self.user = user or FakeUser()
        self.require_pkce, self.id_token_lifetime = require_pkce, id_token_lifetime
        self.login_error: str | None = None
        self.last_client_auth: str | None = None
        """How the last token request authenticated: client_secret_basic, client_secret_post or none."""
        self.hits: Counter[str] = Counter()
        self._issuer = issuer
        self._lock = threading.Lock()
        self._rotations = 1
        self._rsa = SigningKey("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self._ec = SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))
        self._published: list[SigningKey] = [self._rsa, self._ec]
        self._every_key: dict[str, SigningKey] = {key.kid: key for key in self._published}
        self._grants: dict[str, _Grant] = {}

    # ---------------------------------------------------------------------------------------- helpers

    @property
    def issuer(self) -> str:
        return self._issuer if self._issuer is not None else self.url

    @property
    def current_kid(self) -> str:
        return self._rsa.kid

    @property
    def published_kids(self) -> list[str]:
        with self._lock:
            return [key.kid for key in self._published]

    @property
    def jwks_requests(self) -> int:
        return self.hits["/jwks"]

    def set_user(
        self, sub: str, email: str | None = None, groups: Iterable[str] = (), roles: Iterable[str] = (), **extra: Any
    ) -> None:
        """The user the next ``/authorize`` signs in (``extra``: more ID-token claims)."""
        self.user = FakeUser(sub, email, tuple(groups), tuple(roles), extra=dict(extra))

    def rotate_keys(self) -> str:
        """A new RSA signing key becomes current; the old one stays in the JWKS until ``drop_old_keys``."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self._lock:
            self._rotations += 1
            self._rsa = SigningKey(f"rsa-{self._rotations}", "RS256", key)
            self._published.append(self._rsa)
            self._every_key[self._rsa.kid] = self._rsa
            return self._rsa.kid

    def drop_old_keys(self) -> None:
        """Publish only the current keys. Dropped keys can still sign (``issue_token(kid=...)``), for tests."""
        with self._lock:
            self._published = [self._rsa, self._ec]

    def public_key_pem(self, kid: str | None = None) -> bytes:
        key = self._every_key[kid or self.current_kid]
        return key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def issue_token(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        expires_in: float = 300,
        kid: str | None = None,
        audience: str | list[str] | None = None,
        not_before: float | None = None,
        algorithm: str = "RS256",
        issued_at: float | None = None,
    ) -> str:
        """A signed token: ``iss`` (this issuer), ``sub`` (the user), ``aud`` (``audience``, default the client id),
        ``iat``, ``exp`` (``expires_in`` from now), ``nbf`` (``not_before`` seconds from now, when given), then
        ``claims`` on top (a ``None`` value removes that claim). ``kid``: sign with that key (also a dropped one);
        a kid this fake never had signs with the current key but names the unknown kid in the header.
        ``algorithm``: RS256, ES256, or "none" (unsigned, for attack tests)."""
        now = time.time() if issued_at is None else issued_at
        payload: dict[str, Any] = {"iss": self.issuer, "sub": self.user.sub, "aud": audience or self.client_id}
        payload.update(iat=int(now), exp=int(time.time() + expires_in))
        if not_before is not None:
            payload["nbf"] = int(time.time() + not_before)
        payload.update(claims or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        if algorithm == "none":
            return jwt.encode(payload, "", algorithm="none", headers={"kid": kid or self.current_kid})
        key = self._signing_key(kid, algorithm)
        return jwt.encode(payload, key.private, algorithm=algorithm, headers={"kid": kid or key.kid})

    def _signing_key(self, kid: str | None, algorithm: str) -> SigningKey:
        with self._lock:
            key = self._every_key.get(kid or "") or (self._ec if algorithm == "ES256" else self._rsa)
        if key.algorithm != algorithm:
            raise ValueError(f"key {key.kid} signs {key.algorithm}, not {algorithm}")
        return key

    # ----------------------------------------------------------------------------------------- routes

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _record(self, request: web.Request) -> bytes:
        raw = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, None))
        self.hits[request.path] += 1
        return raw

    async def _discovery(self, request: web.Request) -> web.Response:
        await self._record(request)
        base = self.url
        return json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "jwks_uri": base + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "scopes_supported": ["openid", "email", "profile"],
                "grant_types_supported": ["authorization_code"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        await self._record(request)
        with self._lock:
            keys = [key.jwk() for key in self._published]
        return json_response({"keys": keys})

    async def _authorize(self, request: web.Request) -> web.Response:
        await self._record(request)
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", "Unknown client_id.")  # never redirect for an unknown client
        if not redirect_uri or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris):
            return _oauth_error("invalid_request", "redirect_uri is not registered.")
        state = query.get("state")

        def back(**params: str) -> web.Response:
            location = URL(redirect_uri).update_query({**params, **({"state": state} if state else {})})
            return web.Response(status=302, headers={"Location": str(location)})

        challenge = query.get("code_challenge")
        if self.login_error:
            return back(error=self.login_error)
        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "openid" not in query.get("scope", "").split():
            return back(error="invalid_scope")
        if (challenge is None and self.require_pkce) or (challenge and query.get("code_challenge_method") != "S256"):
            return back(error="invalid_request", error_description="PKCE with S256 is required.")
        code = secrets.token_urlsafe(24)
        if len(self._grants) >= 1000:  # bounded: forget the oldest unused code
            self._grants.pop(next(iter(self._grants)))
        self._grants[code] = _Grant(
            self.client_id, redirect_uri, challenge, query.get("nonce"), query.get("scope", ""), self.user, time.time()
        )
        return back(code=code)

    def _client_auth(self, request: web.Request, form: Mapping[str, str]) -> str | None:
        """The authenticated client id, or None (and ``last_client_auth`` says how it authenticated)."""
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except ValueError:
                return None
            client_id, secret, method = unquote(client_id), unquote(secret), "client_secret_basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            method = "client_secret_post" if secret else "none"
        self.last_client_auth = method
        if client_id != self.client_id:
            return None
        if self.client_secret is not None and not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return None
        return client_id

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await self._record(request)).decode(), keep_blank_values=True))
        client_id = self._client_auth(request, form)
        if client_id is None:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "Only authorization_code is supported.")
        grant = self._grants.pop(form.get("code", ""), None)  # a code is single use, also when the request fails
        if grant is None or time.time() - grant.issued_at > CODE_LIFETIME:
            return _oauth_error("invalid_grant", "The code is invalid, expired or already used.")
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return _oauth_error("invalid_grant", "The code was issued to another client or redirect_uri.")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not hmac.compare_digest(_s256(verifier), grant.code_challenge):
                return _oauth_error("invalid_grant", "PKCE verification failed.")
        claims = {"auth_time": int(grant.issued_at), "azp": client_id, **grant.user.claims(), "nonce": grant.nonce}
        id_token = self.issue_token(claims, expires_in=self.id_token_lifetime)
        return json_response(
            {
                "access_token": "fake-at-" + secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": self.id_token_lifetime,
                "id_token": id_token,
                "scope": grant.scope,
            }
        )

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return json_response({"error": "not_found"}, 404)

    def reset(self) -> None:
        """Also forget codes and hit counters (keys and user stay)."""
        super().reset()
        self.hits.clear()
        self._grants.clear()
        self.last_client_auth = None
