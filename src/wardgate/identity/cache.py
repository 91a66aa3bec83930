"""``IdentityCache``: the in-memory identity index the request path reads with dict lookups only — virtual keys by
``key_hash``, team names → ids, users by external id (for JWT claim mapping), and the rate limits and budgets of
teams and projects.

Each key's ``Principal`` is built here, its ``limits`` and ``budgets`` included: ``{"key"|"team"|"project":
LimitSet}`` for the key's own limits, its team's and its project's, only those that set a limit, and likewise
``{"key"|"team"|"project": BudgetSet}``. Stored values are parsed once per change; a value that no longer validates
is logged once and ignored (never an authentication failure). A change to a team's or project's limits or budget
rebuilds the principals of that team's or project's keys in the same refresh.

``start(db)`` loads everything; a background task then polls for rows whose ``updated_at`` is at least the newest
``updated_at`` seen minus ``overlap`` (so commits with equal or slightly skewed timestamps, or that committed late,
are never missed; rows re-read unchanged are kept as they are), and reloads everything every ``full_interval`` (which
also drops deleted teams, projects and users; keys are never deleted: revocation is an update). ``refresh()`` runs an
incremental refresh at once; concurrent calls coalesce into refreshes that start after the call. Every admin write
must set ``updated_at`` to the commit time (UTC).

Validity is decided at lookup time: a key is valid iff enabled, not revoked and not expired, so expiry needs no
refresh. A failing database keeps the last good index (fail static), counts the failure and logs it; the request
path never sees the error. Revocation bound: ``poll_interval`` (1 s) plus one query, or a Redis notification
(``identity.notify``) in shared mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.config.budgets_config import BudgetSet
from wardgate.config.limits_config import LimitSet
from wardgate.core.types import TEAM_ROLES, Principal, Role
from wardgate.storage.database import Database
from wardgate.storage.schema import projects, teams, users, virtual_keys

_log = logging.getLogger("wardgate.identity")
_KEY_COLUMNS = (
    virtual_keys.c.id,
    virtual_keys.c.key_hash,
    virtual_keys.c.name,
    virtual_keys.c.team_id,
    virtual_keys.c.project_id,
    virtual_keys.c.user_id,
    virtual_keys.c.service_principal_id,
    virtual_keys.c.role,
    virtual_keys.c.allowed_models,
    virtual_keys.c.expires_at,
    virtual_keys.c.enabled,
    virtual_keys.c.revoked_at,
    virtual_keys.c.rotated_to,
    virtual_keys.c.limits,
    virtual_keys.c.budgets,
    virtual_keys.c.metadata,
    virtual_keys.c.updated_at,
)
_KEYS = select(*_KEY_COLUMNS)
_TEAMS = select(teams.c.id, teams.c.name, teams.c.limits, teams.c.budgets, teams.c.updated_at)
_PROJECTS = select(projects.c.id, projects.c.limits, projects.c.budgets, projects.c.updated_at)
_USERS = select(users.c.id, users.c.external_id, users.c.disabled, users.c.updated_at)
_NEVER = float("inf")
_NO_LIMITS: Mapping[str, LimitSet] = MappingProxyType({})
_NO_BUDGETS: Mapping[str, BudgetSet] = MappingProxyType({})
_EMPTY: Mapping[str, Any] = MappingProxyType({})
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _stored(value: Any) -> Any:
    """A stored JSON value as read, made read-only when it is an object."""
    return MappingProxyType(dict(value)) if isinstance(value, dict) else value


def _parse(model: type[M], stored: Any, owner: str, what: str) -> M | None:
    """``stored`` as a ``model``, or None when empty. A value that does not validate (written by an older or newer
    gateway, or by hand) is logged and ignored: it must never break authentication. Callers parse each stored value
    once per change, so the warning is not repeated."""
    if not stored:
        return None
    try:
        return model.model_validate(dict(stored) if isinstance(stored, Mapping) else stored)
    except Exception as error:  # any bad value, whatever pydantic makes of it
        _log.warning(
            f"stored {what} are not valid; ignoring them",
            extra={"fields": {"object": owner, "error": f"{type(error).__name__}: {error}"}},
        )
        return None


def parse_limits(stored: Any, owner: str) -> LimitSet | None:
    """The ``LimitSet`` a stored ``limits`` value describes, or None when it sets no limit (or is not valid)."""
    limits = _parse(LimitSet, stored, owner, "limits")
    return None if limits is None or limits.empty else limits


def parse_budget(stored: Any, owner: str) -> BudgetSet | None:
    """The ``BudgetSet`` a stored ``budgets`` value describes, or None when it is ``{}`` (or is not valid)."""
    return _parse(BudgetSet, stored, owner, "budgets")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One virtual key as stored (never the secret)."""

    id: str
    key_hash: str
    name: str
    team_id: str
    project_id: str | None
    user_id: str | None
    service_principal_id: str | None
    role: str
    allowed_models: tuple[str, ...] | None
    expires_at: datetime | None
    enabled: bool
    revoked_at: datetime | None
    rotated_to: str | None
    metadata: Mapping[str, Any]
    updated_at: datetime
    limits: Any
    """The key's own ``limits`` as stored (normally a JSON object; parsed by the cache)."""
    budgets: Any = None
    """The key's own ``budgets`` as stored (likewise)."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> KeyRecord:
        models = row.allowed_models
        return cls(
            id=row.id,
            key_hash=row.key_hash,
            name=row.name,
            team_id=row.team_id,
            project_id=row.project_id,
            user_id=row.user_id,
            service_principal_id=row.service_principal_id,
            role=row.role,
            allowed_models=tuple(str(m) for m in models) if isinstance(models, list) else None,
            expires_at=_utc(row.expires_at),
            enabled=bool(row.enabled),
            revoked_at=_utc(row.revoked_at),
            rotated_to=row.rotated_to,
            metadata=MappingProxyType(dict(row.metadata or {})),
            updated_at=_utc(row.updated_at) or datetime.min.replace(tzinfo=UTC),
            limits=_stored(row.limits),
            budgets=_stored(row.budgets),
        )

    def principal(
        self, limits: Mapping[str, LimitSet] = _NO_LIMITS, budgets: Mapping[str, BudgetSet] = _NO_BUDGETS
    ) -> Principal | None:
        """The principal this key stands for, or None when it can never authenticate (disabled, revoked, or a
        stored role that is not a team role). ``limits``, ``budgets``: the parsed ones that apply, by scope."""
        if not self.enabled or self.revoked_at is not None or self.role not in TEAM_ROLES:
            return None
        return Principal(
            key_id=self.id,
            kind="key",
            teams=MappingProxyType({self.team_id: Role(self.role)}),
            project_id=self.project_id,
            user_id=self.user_id,
            service_principal_id=self.service_principal_id,
            allowed_models=frozenset(self.allowed_models) if self.allowed_models is not None else None,
            expires_at=self.expires_at,
            metadata=self.metadata,
            limits=limits,
            budgets=budgets,
        )


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    external_id: str | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    record: KeyRecord
    principal: Principal | None
    expires: float
    """Unix time of expiry (``inf`` when none): compared with ``time.time()`` on every lookup."""
    limits: LimitSet | None
    """The key's own limits, parsed (None: none set, or not valid)."""
    budget: BudgetSet | None = None
    """The key's own budget, parsed (likewise)."""


class _LimitIndex(Generic[T]):
    """The parsed ``column`` (limits or budgets) of one kind of object (teams or projects) by id, only those that set
    one. Each stored value is parsed once per change; ``apply`` says whose parsed values changed."""

    def __init__(self, kind: str, column: str, parse: Callable[[Any, str], T | None]) -> None:
        self.kind, self.column, self._parse = kind, column, parse
        self.stored: dict[str, Any] = {}
        self.parsed: dict[str, T] = {}

    def apply(self, rows: list[Row[Any]], full: bool) -> set[str]:
        """Take ``(id, column)`` rows (a full load also drops the ids it did not see); the ids whose values changed."""
        if not rows and not full:
            return set()
        stored = {} if full else dict(self.stored)
        parsed = {} if full else dict(self.parsed)
        for row in rows:
            value = _stored(getattr(row, self.column))
            if row.id in self.stored and self.stored[row.id] == value:
                stored[row.id] = self.stored[row.id]
                if row.id in self.parsed:
                    parsed[row.id] = self.parsed[row.id]
                continue
            stored[row.id] = value
            found = self._parse(value, f"{self.kind} {row.id}")
            if found is None:
                parsed.pop(row.id, None)
            else:
                parsed[row.id] = found
        changed = {i for i in parsed.keys() | self.parsed.keys() if parsed.get(i) != self.parsed.get(i)}
        self.stored, self.parsed = stored, parsed  # replaced, never mutated: readers never see half a refresh
        return changed


class IdentityCache:
    """See the module docstring. ``clock`` is wall-clock seconds (injectable for expiry tests)."""

    def __init__(
        self,
        *,
        poll_interval: float = 1.0,
        overlap: float = 5.0,
        full_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.poll_interval, self.overlap, self.full_interval = poll_interval, overlap, full_interval
        self._clock = clock
        self._db: Database | None = None
        self._keys: dict[str, _KeyEntry] = {}
        self._team_ids: dict[str, str] = {}
        self._team_names: dict[str, str] = {}
        self._users: dict[str, UserRecord] = {}
        self._user_ext: dict[str, str] = {}
        self._team_limits = _LimitIndex("team", "limits", parse_limits)
        self._project_limits = _LimitIndex("project", "limits", parse_limits)
        self._team_budgets = _LimitIndex("team", "budgets", parse_budget)
        self._project_budgets = _LimitIndex("project", "budgets", parse_budget)
        self._marks: dict[str, datetime | None] = {"keys": None, "teams": None, "projects": None, "users": None}
        self._lock = asyncio.Lock()
        self._started_refreshes = 0
        self._last_full = 0.0
        self._task: asyncio.Task[None] | None = None
        self.version = 0
        """Bumped whenever team names, team limits or budgets, or users change (caches derived from them check it)."""
        self.refreshes = 0
        self.failures = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------------------------- the request path

    def lookup(self, key_hash: str) -> Principal | None:
        """The principal of a valid key, or None (unknown, revoked, disabled or expired). Dict lookups only."""
        entry = self._keys.get(key_hash)
        if entry is None or entry.expires <= self._clock():
            return None
        return entry.principal

    def record(self, key_hash: str) -> KeyRecord | None:
        """The stored key, valid or not (for diagnostics and tests)."""
        entry = self._keys.get(key_hash)
        return entry.record if entry is not None else None

    @property
    def team_ids(self) -> Mapping[str, str]:
        """Team name → team id (read-only view; replaced, never mutated, on change)."""
        return self._team_ids

    def team_limits(self, team_id: str) -> LimitSet | None:
        """The team's parsed limits, or None when it sets none. A dict lookup."""
        return self._team_limits.parsed.get(team_id)

    def team_budget(self, team_id: str) -> BudgetSet | None:
        """The team's parsed budget, or None when it sets none. A dict lookup."""
        return self._team_budgets.parsed.get(team_id)

    def object_budgets(self) -> list[tuple[str, str, BudgetSet]]:
        """(scope, id, budget) of every key, team and project that carries its own budget (for seeding counters)."""
        found: list[tuple[str, str, BudgetSet]] = [
            ("key", entry.record.id, entry.budget) for entry in self._keys.values() if entry.budget is not None
        ]
        found += [("team", team, budget) for team, budget in self._team_budgets.parsed.items()]
        found += [("project", project, budget) for project, budget in self._project_budgets.parsed.items()]
        return found

    def user_by_external_id(self, external_id: str) -> UserRecord | None:
        user_id = self._user_ext.get(external_id)
        return self._users.get(user_id) if user_id is not None else None

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self, db: Database) -> None:
        """Load everything (errors propagate: a gateway must not start without its keys), then poll."""
        self._db = db
        async with self._lock:
            self._started_refreshes += 1
            await self._load(full=True)
        if self.poll_interval > 0:
            self._task = asyncio.create_task(self._poll(), name="identity-cache-poll")

    async def close(self) -> None:
        """Stop polling; the index stays readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self, *, full: bool = False) -> bool:
        """Refresh now; True when it succeeded (or a refresh that started after this call did). Never raises."""
        ticket = self._started_refreshes
        async with self._lock:
            if self._started_refreshes > ticket and not full:
                return self.last_error is None  # one that started after our call just finished
            self._started_refreshes += 1
            try:
                await self._load(full=full or self._clock() - self._last_full >= self.full_interval)
            except Exception as error:  # fail static: keep serving the last good index
                self._failed(error)
                return False
        if self.last_error is not None:
            _log.info("identity cache refresh recovered", extra={"fields": {"failures": self.failures}})
            self.last_error = None
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self.refresh()

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        first = self.last_error is None
        self.last_error = f"{type(error).__name__}: {error}"
        if first:  # once per outage, not once per poll
            _log.warning(
                "identity cache refresh failed; serving the last loaded keys",
                extra={"fields": {"error": self.last_error}},
            )

    # ----------------------------------------------------------------------------------------------- loading

    def _since(self, kind: str, full: bool) -> datetime | None:
        mark = self._marks[kind]
        return None if full or mark is None else mark - timedelta(seconds=self.overlap)

    async def _load(self, *, full: bool) -> None:
        assert self._db is not None, "start() first"
        started = self._clock()
        async with self._db.engine.connect() as conn:
            key_rows = await _rows(conn, _KEYS, virtual_keys.c.updated_at, self._since("keys", full))
            team_rows = await _rows(conn, _TEAMS, teams.c.updated_at, self._since("teams", full))
            project_rows = await _rows(conn, _PROJECTS, projects.c.updated_at, self._since("projects", full))
            user_rows = await _rows(conn, _USERS, users.c.updated_at, self._since("users", full))
        limited_teams = self._team_limits.apply(team_rows, full) | self._team_budgets.apply(team_rows, full)
        limited_projects = self._project_limits.apply(project_rows, full) | self._project_budgets.apply(
            project_rows, full
        )
        self._mark("projects", project_rows)
        self._apply_keys(key_rows, full)
        self._rebuild_principals(limited_teams, limited_projects)
        changed = self._apply_teams(team_rows, full) or bool(limited_teams)
        changed = self._apply_users(user_rows, full) or changed
        if changed:
            self.version += 1
        if full:
            self._last_full = started
        self.refreshes += 1

    def _apply_keys(self, rows: list[Row[Any]], full: bool) -> None:
        keys = {} if full else self._keys
        fresh: dict[str, _KeyEntry] = {}
        for row in rows:
            record = KeyRecord.from_row(row)
            old = self._keys.get(record.key_hash)
            if old is not None and old.record == record:
                fresh[record.key_hash] = old  # unchanged: keep the principal (its identity keys derived caches)
                continue
            same = old is not None and old.record.limits == record.limits
            own = old.limits if old is not None and same else parse_limits(record.limits, f"key {record.id}")
            same = old is not None and old.record.budgets == record.budgets
            budget = old.budget if old is not None and same else parse_budget(record.budgets, f"key {record.id}")
            fresh[record.key_hash] = self._entry(record, own, budget)
        self._mark("keys", rows)
        if full:
            self._keys = fresh
        elif any(keys.get(h) is not e for h, e in fresh.items()):
            self._keys = {**keys, **fresh}  # copy on write: a lookup never sees a half-applied refresh

    def _entry(self, record: KeyRecord, own: LimitSet | None, budget: BudgetSet | None) -> _KeyEntry:
        expires = record.expires_at.timestamp() if record.expires_at is not None else _NEVER
        limits = _by_scope(record, own, self._team_limits, self._project_limits)
        budgets = _by_scope(record, budget, self._team_budgets, self._project_budgets)
        return _KeyEntry(record, record.principal(limits, budgets), expires, own, budget)

    def _rebuild_principals(self, team_ids: set[str], project_ids: set[str]) -> None:
        """New principals for the keys of teams and projects whose limits changed (copy on write)."""
        if not team_ids and not project_ids:
            return
        stale = [
            entry
            for entry in self._keys.values()
            if entry.record.team_id in team_ids or entry.record.project_id in project_ids
        ]
        if stale:
            rebuilt = {e.record.key_hash: self._entry(e.record, e.limits, e.budget) for e in stale}
            self._keys = {**self._keys, **rebuilt}

    def _apply_teams(self, rows: list[Row[Any]], full: bool) -> bool:
        names = {} if full else dict(self._team_names)
        for row in rows:
            names[row.id] = row.name
        self._mark("teams", rows)
        if names == self._team_names:
            return False
        self._team_names = names
        self._team_ids = {name: team_id for team_id, name in names.items()}
        return True

    def _apply_users(self, rows: list[Row[Any]], full: bool) -> bool:
        found = {} if full else dict(self._users)
        external = {} if full else dict(self._user_ext)
        for row in rows:
            old = found.get(row.id)
            if old is not None and old.external_id is not None and external.get(old.external_id) == row.id:
                del external[old.external_id]
            found[row.id] = UserRecord(row.id, row.external_id, bool(row.disabled))
            if row.external_id:
                external[row.external_id] = row.id
        self._mark("users", rows)
        if found == self._users and external == self._user_ext:
            return False
        self._users, self._user_ext = found, external
        return True

    def _mark(self, kind: str, rows: list[Row[Any]]) -> None:
        """The newest ``updated_at`` seen: the database's clock (the writers'), never ours."""
        for row in rows:
            moment, mark = _utc(row.updated_at), self._marks[kind]
            if moment is not None and (mark is None or moment > mark):
                self._marks[kind] = moment


def _by_scope(record: KeyRecord, own: T | None, team: _LimitIndex[T], project: _LimitIndex[T]) -> Mapping[str, T]:
    """What ``Principal.limits`` (or ``budgets``) holds for a key: its own, its team's and its project's, if set."""
    found = {"key": own, "team": team.parsed.get(record.team_id)}
    if record.project_id is not None:
        found["project"] = project.parsed.get(record.project_id)
    values = {scope: value for scope, value in found.items() if value is not None}
    return MappingProxyType(values) if values else _EMPTY


async def _rows(conn: AsyncConnection, query: Select[Any], column: Any, since: datetime | None) -> list[Row[Any]]:
    if since is not None:
        query = query.where(column >= since)
    return list((await conn.execute(query)).all())
