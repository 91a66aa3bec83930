"""The async SQL engine: SQLite through aiosqlite (embedded default) or PostgreSQL through asyncpg (shared mode),
chosen by URL. ``Database`` owns the engine, tunes SQLite for several processes (WAL, busy timeout, foreign keys)
and counts the statements it runs, so tests can prove the request path issues none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from wardgate.settings import Settings

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


class DatabaseURLError(ValueError):
    pass


def resolve_url(settings: Settings, configured: str | None) -> str:
    """``WARDGATE_DATABASE_URL``, else the config file's ``database_url``, else SQLite in the data directory."""
    return settings.database_url or configured or settings.sql_url


def async_url(url: str) -> URL:
    """The URL with the async driver the gateway uses (``sqlite://`` → aiosqlite, ``postgresql://`` → asyncpg)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseURLError("the database URL could not be parsed") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseURLError(f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql://…")
    return parsed.set(drivername=driver)


def safe_url(url: str) -> str:
    """The URL for logs and messages: never the password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Database:
    """One engine per process; ``statements`` counts every SQL statement it executed."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite}
        if not self.is_sqlite:
            options.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self.statements = 0
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._count)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    def _count(self, *args: Any) -> None:
        self.statements += 1

    @property
    def sqlite_path(self) -> Path | None:
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            return Path(self.url.database)
        return None

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    """Several processes share one file: WAL lets readers run beside a writer, and a writer waits for the lock
    instead of failing at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
