"""The provider credentials a gateway process holds in memory, and how they stay current without a restart.

:class:`CredentialStore` opens every stored credential at startup (after migrations; the keyring comes from
``WARDGATE_SECRET_KEY`` / ``_FILE`` and ``_PREVIOUS``, or the data directory's ``secret.key`` in embedded mode) and
fills in the config's ``${credential:NAME}`` references whenever a snapshot is built. A background task looks at
the credentials table once a second (id, version, ``updated_at`` and key id of every row: never a secret, and
immune to clock skew between replicas); when anything changed it reloads the decrypted map and, if a secret the
active config uses changed, rebuilds the snapshot and swaps it in (requests in flight keep theirs). So a credential
rotated through any replica reaches every deployment using it within about a second; the replica that took the
write refreshes before answering. A config reload rejected only because a credential was missing is retried when
credentials change.

The store polls through a connection pool of its own, so its background statements are never counted as the
request path's. Decrypted secrets never leave this object except into provider clients: ``repr`` shows counts,
log lines name credentials and key ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.config.loader import ConfigError, LoadedConfig, resolve_credentials
from wardgate.core.errors import GatewayError
from wardgate.storage.credentials import load_all
from wardgate.storage.database import Database
from wardgate.storage.schema import credentials
from wardgate.vault import Keyring, VaultError, load_keyring
from wardgate.vault.keys import ENV_KEY, ENV_KEY_FILE

if TYPE_CHECKING:
    from wardgate.runtime import AppState

POLL_SECONDS = 1.0
_log = logging.getLogger("wardgate.credentials")
_SIGNATURE = select(credentials.c.id, credentials.c.version, credentials.c.updated_at, credentials.c.key_id)
Signature = frozenset[tuple[str, int, str, str]]


async def _signature(conn: AsyncConnection) -> Signature:
    rows = (await conn.execute(_SIGNATURE)).all()
    return frozenset((str(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows)


class CredentialStore:
    """Decrypted credentials by name, the keyring that seals new ones, and the refresh task."""

    def __init__(
        self, db: Database, keyring: Keyring | None, *, keyring_error: str | None = None, interval: float = POLL_SECONDS
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._keyring_error = keyring_error
        self._interval = interval
        self._secrets: dict[str, str] = {}
        self._failures: dict[str, str] = {}
        self._seen: Signature | None = None
        self._applied: dict[str, str | None] = {}
        self._pending: LoadedConfig | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @classmethod
    async def open(
        cls, db: Database, data_dir: Path, env: Mapping[str, str] | None = None, *, interval: float = POLL_SECONDS
    ) -> CredentialStore:
        """The store for the gateway using ``db``: keyring loaded, every credential opened. A keyring that cannot be
        loaded is logged, not fatal: credentials then cannot be stored, and references to stored ones fail to
        resolve with the reason (so a gateway that uses no credentials starts anyway)."""
        env = os.environ if env is None else env
        keyring: Keyring | None = None
        error: str | None = None
        try:
            keyring = load_keyring(env, data_dir)
        except VaultError as exc:
            error = str(exc)
            _log.error("the vault master key could not be loaded", extra={"fields": {"reason": error}})
        if keyring is not None and not db.is_sqlite and not (env.get(ENV_KEY) or env.get(ENV_KEY_FILE)):
            _log.warning(
                "the vault master key comes from the data directory's secret.key; replicas sharing this database "
                f"must all use the same key: set {ENV_KEY} (or {ENV_KEY_FILE}) on every replica"
            )
        own = Database(db.url.render_as_string(hide_password=False), pool_size=1)
        store = cls(own, keyring, keyring_error=error, interval=interval)
        try:
            await store._load()
        except BaseException:
            await own.close()
            raise
        return store

    def __repr__(self) -> str:
        key_id = self._keyring.current.key_id if self._keyring is not None else None
        return (
            f"CredentialStore(credentials={len(self._secrets)}, unavailable={len(self._failures)}, key_id={key_id!r})"
        )

    @property
    def keyring(self) -> Keyring:
        """The keyring new secrets are sealed with; 503 when it could not be loaded."""
        if self._keyring is None:
            raise GatewayError(
                f"The credential vault is not available: {self._keyring_error}",
                status=503,
                code="vault_unavailable",
            )
        return self._keyring

    # --- resolving and applying --------------------------------------------------------------------------------

    def resolve(self, loaded: LoadedConfig) -> LoadedConfig:
        """``loaded`` with its credential references filled in; :class:`ConfigError` naming any it cannot fill."""
        unavailable = {name: f"cannot be opened: {reason}" for name, reason in self._failures.items()}
        return resolve_credentials(loaded, self._secrets, unavailable)

    def apply(self, state: AppState, loaded: LoadedConfig) -> None:
        """Resolve ``loaded`` and make it the active snapshot; :class:`ConfigError` keeps the old one."""
        state.apply(self.resolve(loaded))
        self._applied = self._used(loaded)

    def apply_config(self, state: AppState, loaded: LoadedConfig) -> None:
        """The config watcher's callback: apply a reloaded file. One whose credentials cannot be resolved is
        rejected like a bad file (logged, shown on ``/readyz``) and retried when credentials change."""
        try:
            self.apply(state, loaded)
        except ConfigError as exc:
            self._pending = loaded
            self._reject(state, exc, "config reload rejected; the previous config stays active")
            return
        self._pending = None

    def _used(self, loaded: LoadedConfig) -> dict[str, str | None]:
        return {ref.name: self._secrets.get(ref.name) for ref in loaded.credential_refs}

    @staticmethod
    def _reject(state: AppState, exc: ConfigError, message: str) -> None:
        state.last_reload_error = str(exc)
        _log.error(message, extra={"fields": {"source": exc.source, "problems": [str(p) for p in exc.problems]}})

    # --- loading and refreshing --------------------------------------------------------------------------------

    async def _load(self) -> bool:
        """Reload the decrypted map if the table changed since the last load; True when it did."""
        async with self._db.engine.connect() as conn:
            signature = await _signature(conn)
            if signature == self._seen:
                return False
            failures: dict[str, str] = {}
            if self._keyring is not None:
                secrets = await load_all(conn, self._keyring, failures=failures)
            else:
                secrets = {}
                names = (await conn.execute(select(credentials.c.name))).scalars().all()
                failures = {name: f"the vault master key is not available ({self._keyring_error})" for name in names}
        for name, reason in sorted(failures.items()):
            if self._failures.get(name) != reason:
                _log.error("a stored credential cannot be opened", extra={"fields": {"name": name, "reason": reason}})
        self._secrets, self._failures, self._seen = secrets, failures, signature
        return True

    async def refresh(self, state: AppState) -> bool:
        """Pick up credential changes: reload the map if the table changed; then rebuild the active snapshot if a
        secret it uses changed, and apply a config that was waiting for a credential. True when a snapshot was
        applied."""
        async with self._lock:
            if not await self._load():
                return False
            applied = self._rebuild_active(state)
            if self._pending is None:
                return applied
            try:
                self.apply(state, self._pending)
            except ConfigError as exc:
                state.last_reload_error = str(exc)  # still waiting: keep saying why
                return applied
            self._pending = None
            _log.info("a config that was waiting for credentials was applied")
            return True

    def _rebuild_active(self, state: AppState) -> bool:
        active = state.snapshot.loaded
        used = self._used(active)
        if used == self._applied:
            return False
        changed = sorted(name for name, secret in used.items() if self._applied.get(name) != secret)
        try:
            self.apply(state, active)
        except ConfigError as exc:
            self._reject(state, exc, "credentials changed but the config cannot use them; the old snapshot stays")
            return False
        _log.info("credentials changed; snapshot rebuilt", extra={"fields": {"credentials": changed}})
        return True

    def start(self, state: AppState) -> None:
        """Poll for changes in the background; the current snapshot is taken to hold the current secrets."""
        self._applied = self._used(state.snapshot.loaded)
        self._task = asyncio.create_task(self._run(state), name="credential-refresh")

    async def _run(self, state: AppState) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh(state)
            except Exception:
                if not self._failing:
                    _log.exception("credential refresh failed; the current credentials stay in use")
                self._failing = True
            else:
                if self._failing:
                    _log.info("credential refresh works again")
                self._failing = False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._db.close()


async def open_credentials(db: Database, data_dir: Path, loaded: LoadedConfig) -> tuple[CredentialStore, LoadedConfig]:
    """Startup: the store for ``db`` and ``loaded`` with its references resolved (a :class:`ConfigError` naming a
    missing or unreadable credential fails the start)."""
    store = await CredentialStore.open(db, data_dir)
    try:
        return store, store.resolve(loaded)
    except BaseException:
        await store.close()
        raise
