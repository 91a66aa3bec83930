"""The ``wardgate`` click group every command module attaches to, and helpers they share."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from wardgate import __version__
from wardgate.settings import Settings

T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """wardgate: one governed, OpenAI-compatible endpoint for all of your LLM providers."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"wardgate {__version__}")


def run_with_database(settings: Settings, configured: str | None, work: Callable[..., Awaitable[T]]) -> T:
    """Open the database the gateway would use, run ``work(db)`` and close it; a connection problem is one clear
    line on stderr and exit status 1, never a traceback."""
    from wardgate.storage.database import Database, DatabaseURLError, resolve_url, safe_url

    url = resolve_url(settings, configured)

    async def run() -> T:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DatabaseURLError as exc:
        click.echo(f"error: {exc}", err=True)
    except (OSError, ConnectionError) as exc:
        click.echo(f"error: cannot reach the database at {safe_url(url)}: {exc.strerror or exc}", err=True)
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite")):
            click.echo(f"error: database {safe_url(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        else:
            raise
    sys.exit(1)
