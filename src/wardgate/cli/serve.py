"""``wardgate serve``, ``wardgate config check`` and ``wardgate reset-master-key``."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wardgate import __version__
from wardgate.cli.base import main, run_with_database
from wardgate.config.loader import ConfigError, LoadedConfig, load_config_file
from wardgate.settings import Settings

if TYPE_CHECKING:
    from wardgate.storage.database import Database
    from wardgate.storage.meta import MasterKey


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config YAML (default: $WARDGATE_CONFIG, else built-in defaults with a simulated provider).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where embedded data lives (default: $WARDGATE_DATA_DIR or ~/.local/share/wardgate).",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve(config_path: Path | None, host: str, port: int, workers: int, data_dir: Path | None, log_level: str) -> None:
    """Start the gateway."""
    import uvicorn

    from wardgate.app import announce_master_key, create_app
    from wardgate.observability.logging import configure_logging
    from wardgate.observability.metrics_shared import METRICS_DIR_ENV, server_metrics_dir
    from wardgate.storage.meta import ensure_master_key
    from wardgate.storage.migrate import upgrade

    settings = Settings.from_env()
    if config_path is not None:
        settings = replace(settings, config_path=config_path.resolve())
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir.resolve())
    configured_db = _check_or_exit(settings.config_path).config.database_url if settings.config_path else None
    configure_logging(log_level)

    async def prepare(db: Database) -> MasterKey:
        await upgrade(db)
        return await ensure_master_key(db, settings.master_key)

    master = run_with_database(settings, configured_db, prepare)
    if master.generated:
        announce_master_key(master.generated, f"http://{host}:{port}/v1")
    click.echo(f"wardgate {__version__} listening on http://{host}:{port}/v1", err=True)
    if workers > 1:  # each worker builds its app from the environment
        os.environ.update(settings.to_env())
        os.environ["WARDGATE_LOG_LEVEL"] = log_level
    else:  # one process counts alone: never another server's metrics files
        os.environ.pop(METRICS_DIR_ENV, None)
    # several workers share their metrics through a fresh private directory, removed when the server stops
    with server_metrics_dir() if workers > 1 else contextlib.nullcontext():
        uvicorn.run(
            create_app(settings) if workers == 1 else "wardgate.app:create_app_from_env",
            factory=workers > 1,
            workers=workers,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=30,
            server_header=False,
        )


@main.group("config")
def config_group() -> None:
    """Work with config files."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE and print every problem with its line; exit 1 if there are any."""
    loaded = _check_or_exit(file)
    config = loaded.config
    for warning in loaded.warnings:
        click.echo(f"warning: {file}: {warning}", err=True)
    for ref in loaded.credential_refs:  # resolved by the gateway from its vault, not checked here
        where = f"line {ref.line}: " if ref.line else ""
        click.echo(f"{file}: {where}{ref.path}: stored credential {ref.name!r} (resolved when the gateway loads it)")
    click.echo(f"{file}: OK ({len(config.providers)} providers, {len(config.models)} models)")


@main.command("reset-master-key")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def reset_master_key_command(data_dir: Path | None) -> None:
    """Replace the stored master key with a new one and print it once."""
    from wardgate.storage.meta import reset_master_key
    from wardgate.storage.migrate import upgrade

    settings = Settings.from_env()
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir.resolve())
    configured_db = _check_or_exit(settings.config_path).config.database_url if settings.config_path else None

    async def reset(db: Database) -> str:
        await upgrade(db)
        return await reset_master_key(db)

    key = run_with_database(settings, configured_db, reset)
    click.echo(key)
    click.echo("Restart running gateways to use the new key; the old key no longer works after restart.", err=True)


def _check_or_exit(file: Path) -> LoadedConfig:
    try:
        return load_config_file(file)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"{file}: {problem}", err=True)
        click.echo(f"{file}: {len(exc.problems)} problem(s); the config was not accepted.", err=True)
        sys.exit(1)
