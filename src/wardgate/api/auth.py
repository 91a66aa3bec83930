"""Sign-in for people (``auth.oidc``): plain ASGI handlers under ``/auth/``.

``GET /auth/login?return_to=/path``
    Starts the authorization code flow with PKCE: the pending login (state, nonce, verifier) goes to the shared
    SQL store, the browser is redirected (302) to the identity provider. ``return_to`` must be a path on this site.
    The ``wardgate_login`` cookie (the state, Path = the callback's) binds the sign-in to this browser.
``GET /auth/callback?state=…&code=…``
    Checks that binding (login CSRF), takes the pending login (single use), exchanges the code (with the PKCE
    verifier), verifies the ID token, upserts the user (``external_id`` = the user claim, by default ``sub``),
    applies the claim mapping when ``sync_memberships`` is on (``storage.sso`` says exactly what is overwritten),
    creates a server-side session, sets the cookie (HttpOnly, Secure unless ``cookie_secure: false``,
    SameSite=Lax) and redirects to ``return_to``.
``POST /auth/logout``
    Revokes the session server-side (a replayed cookie no longer works) and clears the cookie; CSRF-checked
    (``api.csrf``). Answers 200 JSON, or 303 to ``return_to`` when one is given.
``GET /auth/session``
    Who is signed in (user, email, org role, teams, expiry), or 401.

Every answer is ``Cache-Control: no-store``. Tokens, codes, states and the client secret never reach a response,
a log line or an error message. See ``docs/sso.md``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from wardgate.api.csrf import CsrfGuard
from wardgate.api.proxy import RequestIds, Scope, request_headers
from wardgate.api.render import Receive, Send, send_error, send_json
from wardgate.config.auth_config import OidcConfig
from wardgate.core.errors import (
    AuthenticationError,
    GatewayError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from wardgate.core.types import Principal
from wardgate.identity.claims import VerifiedToken, map_claims
from wardgate.identity.oidc import (
    OidcClient,
    OidcSettings,
    clear_session_cookie_header,
    parse_callback,
    safe_return_to,
    session_cookie_header,
    session_token_from_cookies,
)
from wardgate.runtime import AppState
from wardgate.storage.database import Database
from wardgate.storage.sessions import SessionStore, SqlPendingLogins
from wardgate.storage.sso import apply_sso_grants, sign_in_user, team_ids_by_name

_log = logging.getLogger("wardgate.auth")
Headers = list[tuple[bytes, bytes]]
NO_STORE: Headers = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
MAX_QUERY = 8192
LOGIN_COOKIE = "wardgate_login"
"""Binds a sign-in to the browser that started it (its value is the login's ``state``), against login CSRF: an
attacker's callback URL, opened in a victim's browser, must not sign the victim in as the attacker."""


def _query(scope: Scope) -> dict[str, str]:
    """The query string as a dict; a parameter given twice is refused (no guessing which one counts)."""
    raw: bytes = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY:
        raise InvalidRequestError("The query string is too long.")
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        raise InvalidRequestError("A query parameter was given more than once.")
    return query


def _cookie_header(scope: Scope) -> str | None:
    """Every ``Cookie`` header joined (HTTP/2 clients may split them)."""
    values = [value.decode("latin-1") for name, value in scope["headers"] if name == b"cookie"]
    return "; ".join(values) if values else None


def _cookie(scope: Scope, wanted: str) -> str | None:
    for part in (_cookie_header(scope) or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == wanted and value:
            return value
    return None


async def _redirect(send: Send, location: str, headers: Headers, status: int = 302) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"location", location.encode()), (b"content-length", b"0"), *NO_STORE, *headers],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def whoami(principal: Principal) -> dict[str, Any]:
    """The body of ``GET /auth/session``."""
    return {
        "object": "session",
        "user_id": principal.user_id,
        "email": principal.metadata.get("email"),
        "name": principal.metadata.get("name"),
        "org_role": principal.org_role.value if principal.org_role is not None else None,
        "teams": {team_id: role.value for team_id, role in principal.teams.items()},
        "expires_at": principal.expires_at.isoformat() if principal.expires_at is not None else None,
    }


class SsoRoutes:
    """The ``/auth/*`` routes (see the module docstring); ``on_identity_change`` runs after a sign-in changed a
    user, an org role or memberships (the identity caches refresh)."""

    def __init__(
        self,
        config: OidcConfig,
        client: OidcClient,
        pending: SqlPendingLogins,
        sessions: SessionStore,
        db: Database,
        *,
        request_id: Callable[[dict[str, str]], str],
        on_identity_change: Callable[[], Awaitable[None]],
    ) -> None:
        self.config, self.client, self.pending, self.sessions = config, client, pending, sessions
        self._db, self._request_id, self._on_identity_change = db, request_id, on_identity_change
        self.csrf = CsrfGuard([config.public_origin])
        self._callback_path = urlsplit(config.redirect_uri).path
        self._routes: dict[str, tuple[str, Callable[[Scope, Send, Headers, str], Awaitable[None]]]] = {
            "/auth/login": ("GET", self._login),
            "/auth/callback": ("GET", self._callback),
            "/auth/logout": ("POST", self._logout),
            "/auth/session": ("GET", self._session),
        }

    @property
    def settings(self) -> OidcSettings:
        return self.client.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = self._request_id(request_headers(scope))
        headers: Headers = [(b"x-request-id", rid.encode()), *NO_STORE]
        try:
            route = self._routes.get(scope["path"])
            if route is None:
                raise NotFoundError(f"Unknown request URL: {scope['method']} {scope['path']}.", code="unknown_url")
            method, handler = route
            if scope["method"] != method:
                message = f"Method {scope['method']} is not allowed on {scope['path']}."
                raise GatewayError(message, status=405, code="method_not_allowed", headers={"allow": method})
            await handler(scope, send, headers, rid)
        except GatewayError as error:
            if error.http_status >= 500 or scope["path"] == "/auth/callback":
                level = logging.WARNING if error.http_status >= 500 else logging.INFO
                _log.log(
                    level, "sign-in route refused", extra={"fields": {"path": scope["path"], "error": error.message}}
                )
            await send_error(send, error, headers)
        except Exception as exc:  # only the type: a database error's text would carry the bound values
            fields = {"path": scope["path"], "request_id": rid, "error": type(exc).__name__}
            _log.error("sign-in route failed", extra={"fields": fields})
            await send_error(send, InternalError(), headers)

    async def _login(self, scope: Scope, send: Send, headers: Headers, rid: str) -> None:
        return_to = safe_return_to(_query(scope).get("return_to"))
        if self.client.metadata is None:
            try:
                await self.client.discover()
            except AuthenticationError as error:
                raise GatewayError(error.message, status=503, code="identity_provider_unavailable") from None
        login = self.client.start_login(return_to)
        await self.pending.put(login)
        binding = self._login_cookie(login.state, self.settings.login_ttl_seconds)
        await _redirect(send, login.authorization_url, [*headers, binding])

    def _login_cookie(self, value: str, max_age: int) -> tuple[bytes, bytes]:
        secure = ["Secure"] if self.config.cookie_secure else []
        attributes = [f"{LOGIN_COOKIE}={value}", f"Max-Age={max_age}", f"Path={self._callback_path}", "HttpOnly"]
        return b"set-cookie", "; ".join([*attributes, *secure, "SameSite=Lax"]).encode()

    async def _callback(self, scope: Scope, send: Send, headers: Headers, rid: str) -> None:
        state, code = parse_callback(_query(scope))
        bound = _cookie(scope, LOGIN_COOKIE)
        if bound is None or not hmac.compare_digest(bound.encode(), state.encode()):
            raise AuthenticationError(
                "This sign-in was not started in this browser, or a newer one replaced it; start again.",
                code="login_not_bound",
            )
        login = await self.pending.take(state)
        identity = await self.client.finish_login(login, code)
        token, changed = await self._sign_in(identity, rid)
        old = session_token_from_cookies(_cookie_header(scope))
        if old is not None:  # a session that was in the browser before this sign-in ends with it
            await self.sessions.revoke(old)
        if changed:
            await self._on_identity_change()
        await self.sessions.purge_now_and_then()
        cookie = session_cookie_header(token, self.sessions.ttl_seconds, self.config.cookie_secure)
        cookies = [(b"set-cookie", cookie.encode()), self._login_cookie("", 0)]
        await _redirect(send, login.return_to, [*headers, *cookies])

    async def _sign_in(self, identity: VerifiedToken, rid: str) -> tuple[str, bool]:
        """Upsert the user, sync grants, create the session, in one transaction: (session token, anything
        changed that caches must see)."""
        name = identity.claims.get("name")
        async with self._db.engine.begin() as conn:
            user, changed = await sign_in_user(
                conn, identity.subject, identity.email, name if isinstance(name, str) else None, request_id=rid
            )
            if user["disabled"]:
                raise PermissionDeniedError("This user is disabled; ask an administrator.", code="user_disabled")
            if self.config.sync_memberships:
                team_ids = await team_ids_by_name(conn, identity.teams)
                mapped = map_claims(identity, self.settings, team_ids, user_id=user["id"], kind="session")
                grants = await apply_sso_grants(conn, user, mapped.org_role, mapped.teams, request_id=rid)
                changed = changed or grants > 0
            data = {"issuer": identity.issuer, "subject": identity.subject, "request_id": rid}
            token = await self.sessions.create(conn, user["id"], data)
        _log.info("signed in", extra={"fields": {"user_id": user["id"], "request_id": rid}})
        return token, changed

    async def _logout(self, scope: Scope, send: Send, headers: Headers, rid: str) -> None:
        self.csrf.check(scope)
        query = _query(scope)
        return_to = safe_return_to(query["return_to"]) if "return_to" in query else None
        token = session_token_from_cookies(_cookie_header(scope))
        revoked = await self.sessions.revoke(token) if token is not None else False
        if revoked:
            _log.info("signed out", extra={"fields": {"request_id": rid}})
        clear = (b"set-cookie", clear_session_cookie_header(self.config.cookie_secure).encode())
        if return_to is not None:
            await _redirect(send, return_to, [*headers, clear], status=303)
            return
        body = orjson.dumps({"object": "logout", "signed_out": True})
        await send_json(send, 200, body, [*headers, clear])

    async def _session(self, scope: Scope, send: Send, headers: Headers, rid: str) -> None:
        token = session_token_from_cookies(_cookie_header(scope))
        principal = await self.sessions.resolve(token) if token is not None else None
        if principal is None:
            raise AuthenticationError("Not signed in.", code="not_signed_in")
        await send_json(send, 200, orjson.dumps(whoami(principal)), headers)

    async def close(self) -> None:
        await self.client.close()


def build_sso(
    config: OidcConfig,
    db: Database,
    *,
    request_id: RequestIds | Callable[[dict[str, str]], str],
    on_identity_change: Callable[[], Awaitable[None]],
) -> SsoRoutes:
    """The ``/auth/*`` routes for ``config``, with SQL-backed pending logins and sessions. No I/O: the provider's
    discovery document is read on the first sign-in."""
    settings = OidcSettings(**config.settings_fields())
    return SsoRoutes(
        config,
        OidcClient(settings),
        SqlPendingLogins(db, ttl=settings.login_ttl_seconds),
        SessionStore(db, ttl_seconds=config.session_ttl_seconds),
        db,
        request_id=request_id,
        on_identity_change=on_identity_change,
    )


def open_sso(
    config: OidcConfig | None, state: AppState, request_id: Callable[[dict[str, str]], str]
) -> SsoRoutes | None:
    """The ``/auth/*`` routes when ``auth.oidc`` is configured (changes need a restart), plugged in: sessions
    authenticate through ``state.authenticator.session_resolver``, and identity changes clear the session cache."""
    if config is None or state.db is None:
        return None
    sso = build_sso(config, state.db, request_id=request_id, on_identity_change=state.identity_changed)
    state.authenticator.session_resolver = sso.sessions.resolve

    async def forget_cached_sessions() -> None:
        sso.sessions.clear_cache()

    state.identity_listeners.append(forget_cached_sessions)
    return sso
