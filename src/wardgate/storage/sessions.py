"""Sign-in state in SQL, shared by every replica (the OIDC callback may reach another replica than the one that
started the login, and a session cookie may reach any replica):

- ``SqlPendingLogins``: logins waiting for their callback, in ``login_states`` keyed by the SHA-256 of ``state``.
  ``take`` deletes the row and returns it in one statement (``DELETE … RETURNING``), so a state works once even when
  two replicas receive it at the same moment; a login older than its TTL is refused, and expired rows are purged.
  The row holds the PKCE verifier and the nonce for at most the login TTL (they are useless without the code the
  IdP hands to the browser).
- Sessions in ``sessions``: only ``hash_key(token)`` is stored. ``resolve_session`` answers the signed-in person as a
  ``Principal`` (``kind="session"``; org role and team roles read from ``users`` and ``memberships`` at that moment),
  None when the session is unknown, expired, revoked or its user disabled. ``revoke_session`` is server-side logout.
- ``SessionStore``: the same for the request path, with a small in-process cache (``cache_seconds``, 2 s by
  default) so that a browser's burst of requests costs one lookup. Revocation on this replica drops the entry at
  once; another replica notices within ``cache_seconds``; ``clear_cache`` (called after identity changes) makes
  role changes apply at once on this replica.

Every statement is SQLAlchemy Core with bound parameters. Tokens and states never reach logs or errors.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import ORG_ROLES, TEAM_ROLES, Principal, Role
from wardgate.identity.oidc import LoginStart, new_session_token
from wardgate.storage.database import Database
from wardgate.storage.schema import login_states, memberships, sessions, users

_ROLE_BY_VALUE = {role.value: role for role in Role}


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# --- logins waiting for their callback --------------------------------------------------------------------------


class SqlPendingLogins:
    """``PendingLogins`` for several replicas: ``put`` when the login starts, ``take`` (single use) on the callback.
    ``clock`` is wall-clock seconds (the ``LoginStart.created_at`` clock)."""

    def __init__(self, db: Database, ttl: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self._db, self._ttl, self._clock = db, ttl, clock

    async def put(self, login: LoginStart) -> None:
        data = {
            "nonce": login.nonce,
            "code_verifier": login.code_verifier,
            "created_at": login.created_at,
            "return_to": login.return_to,
        }
        expires = datetime.fromtimestamp(login.created_at + self._ttl, UTC)
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(login_states).where(login_states.c.expires_at < _clock_now(self._clock)))
            await conn.execute(
                insert(login_states).values(
                    state=hash_key(login.state), data=orjson.dumps(data).decode(), expires_at=expires
                )
            )

    async def take(self, state: str) -> LoginStart:
        """The login started with ``state``, deleted in the same statement so that it cannot be used twice."""
        statement = delete(login_states).where(login_states.c.state == hash_key(state)).returning(login_states.c.data)
        async with self._db.engine.begin() as conn:
            data = (await conn.execute(statement)).scalar_one_or_none()
        if data is None:
            raise AuthenticationError("The sign-in attempt is unknown or was already used; start again.")
        stored: dict[str, Any] = orjson.loads(data)
        login = LoginStart(
            state=state,
            nonce=str(stored["nonce"]),
            code_verifier=str(stored["code_verifier"]),
            created_at=float(stored["created_at"]),
            return_to=str(stored["return_to"]),
            authorization_url="",
        )
        if self._clock() - login.created_at > self._ttl:
            raise AuthenticationError("The sign-in attempt has expired; start again.")
        return login


def _clock_now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


# --- sessions ---------------------------------------------------------------------------------------------------


async def create_session(
    conn: AsyncConnection,
    token: str,
    user_id: str,
    expires_at: datetime,
    data: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Store a new session: the token's hash, never the token. ``data``: what the session remembers (no secrets)."""
    await conn.execute(
        insert(sessions).values(
            token_hash=hash_key(token),
            user_id=user_id,
            expires_at=expires_at,
            revoked_at=None,
            data=dict(data or {}),
            created_at=_now(now),
        )
    )


async def resolve_session(conn: AsyncConnection, token: str, *, now: datetime | None = None) -> Principal | None:
    """The signed-in person behind ``token``, or None (unknown, expired, revoked, or the user is disabled)."""
    moment = _now(now)
    query = (
        select(sessions.c.user_id, sessions.c.expires_at, users.c.email, users.c.name, users.c.org_role)
        .join(users, users.c.id == sessions.c.user_id)
        .where(
            sessions.c.token_hash == hash_key(token),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > moment,
            users.c.disabled.is_(False),
        )
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    team_query = select(memberships.c.team_id, memberships.c.role).where(memberships.c.user_id == row.user_id)
    teams: dict[str, Role] = {}
    for team_id, role in (await conn.execute(team_query)).all():
        found = _ROLE_BY_VALUE.get(role)
        if found in TEAM_ROLES:
            teams[team_id] = found
    org_role = _ROLE_BY_VALUE.get(row.org_role or "")
    metadata = {name: value for name, value in (("email", row.email), ("name", row.name)) if value is not None}
    return Principal(
        key_id=f"user:{row.user_id}",
        kind="session",
        org_role=org_role if org_role in ORG_ROLES else None,
        teams=MappingProxyType(teams),
        user_id=row.user_id,
        expires_at=_utc(row.expires_at),
        metadata=MappingProxyType(metadata),
    )


async def revoke_session(conn: AsyncConnection, token: str, *, now: datetime | None = None) -> bool:
    """Server-side logout: True when a live session was revoked (False: unknown or already revoked)."""
    statement = (
        update(sessions)
        .where(sessions.c.token_hash == hash_key(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )
    return bool((await conn.execute(statement)).rowcount)


async def revoke_user_sessions(conn: AsyncConnection, user_id: str, *, now: datetime | None = None) -> int:
    """Sign a person out everywhere; the number of sessions revoked."""
    statement = (
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )
    return int((await conn.execute(statement)).rowcount)


async def purge_expired(conn: AsyncConnection, *, now: datetime | None = None) -> int:
    """Delete expired sessions (revoked or not) and expired pending logins; how many rows went."""
    moment = _now(now)
    gone = (await conn.execute(delete(sessions).where(sessions.c.expires_at < moment))).rowcount
    gone += (await conn.execute(delete(login_states).where(login_states.c.expires_at < moment))).rowcount
    return int(gone)


# --- the request path's view --------------------------------------------------------------------------------------


class SessionStore:
    """Sessions for the gateway: ``create`` at sign-in, ``resolve`` (the authenticator's ``session_resolver``),
    ``revoke`` at logout. ``clock`` is wall-clock seconds (injectable for expiry tests)."""

    def __init__(
        self,
        db: Database,
        *,
        ttl_seconds: int,
        cache_seconds: float = 2.0,
        cache_size: int = 10_000,
        purge_interval: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._db, self.ttl_seconds, self._clock = db, ttl_seconds, clock
        self._cache_seconds, self._cache_size, self._purge_interval = cache_seconds, cache_size, purge_interval
        self._cache: OrderedDict[str, tuple[float, float, Principal | None]] = OrderedDict()
        self._last_purge = 0.0

    def _now(self) -> datetime:
        return _clock_now(self._clock)

    async def create(self, conn: AsyncConnection, user_id: str, data: Mapping[str, Any] | None = None) -> str:
        """A new session for ``user_id`` inside the caller's transaction; returns the token for the cookie."""
        token = new_session_token()
        expires = self._now() + timedelta(seconds=self.ttl_seconds)
        await create_session(conn, token, user_id, expires, data, now=self._now())
        return token

    async def resolve(self, token: str) -> Principal | None:
        """The signed-in person behind ``token`` or None; from the cache when looked up in the last
        ``cache_seconds``."""
        digest, now = hash_key(token), self._clock()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self._cache_seconds:
            return hit[2] if now < hit[1] else None
        async with self._db.engine.connect() as conn:
            principal = await resolve_session(conn, token, now=self._now())
        expires = principal.expires_at.timestamp() if principal is not None and principal.expires_at else 0.0
        if self._cache_seconds > 0:
            self._cache[digest] = (now, expires, principal)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal

    async def revoke(self, token: str) -> bool:
        """Server-side logout: the session stops working on this replica at once (others: ``cache_seconds``)."""
        self._cache.pop(hash_key(token), None)
        async with self._db.engine.begin() as conn:
            return await revoke_session(conn, token, now=self._now())

    def clear_cache(self) -> None:
        """Forget every cached session (after an identity change: roles, memberships, disabled users)."""
        self._cache.clear()

    async def purge_now_and_then(self) -> int:
        """``purge_expired`` at most once per ``purge_interval`` (called from sign-ins); rows deleted."""
        now = self._clock()
        if now - self._last_purge < self._purge_interval:
            return 0
        self._last_purge = now
        async with self._db.engine.begin() as conn:
            return await purge_expired(conn, now=self._now())
