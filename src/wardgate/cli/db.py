"""``wardgate db upgrade`` and ``wardgate db current``: the schema migrations the gateway also applies at start."""

from __future__ import annotations

import click

from wardgate.cli.base import main, run_with_database
from wardgate.settings import Settings
from wardgate.storage.database import Database, resolve_url, safe_url


@main.group("db")
def db_group() -> None:
    """Database schema (SQLite or PostgreSQL, from WARDGATE_DATABASE_URL or the config's database_url)."""


def _configured() -> tuple[Settings, str | None]:
    from wardgate.config.loader import load_config_file

    settings = Settings.from_env()
    configured = load_config_file(settings.config_path).config.database_url if settings.config_path else None
    return settings, configured


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (safe while other replicas start: it takes a lock)."""
    from wardgate.storage.migrate import upgrade

    settings, configured = _configured()

    async def work(db: Database) -> str | None:
        return await upgrade(db)

    revision = run_with_database(settings, configured, work)
    click.echo(f"{safe_url(resolve_url(settings, configured))}: at revision {revision}")


@db_group.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    from wardgate.storage.migrate import current, head_revision

    settings, configured = _configured()

    async def work(db: Database) -> str | None:
        return await current(db)

    revision = run_with_database(settings, configured, work)
    head = head_revision()
    state = "up to date" if revision == head else "needs `wardgate db upgrade`"
    click.echo(f"current: {revision or '(empty database)'}  head: {head}  ({state})")
