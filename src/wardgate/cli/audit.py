"""``wardgate audit verify|export``: the audit trail, read straight from the database the gateway uses (the same
``--config`` / ``WARDGATE_DATABASE_URL`` / data directory as ``wardgate serve``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wardgate.cli.base import main, run_with_database
from wardgate.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from wardgate.audit.chain import SealKey
    from wardgate.audit.verify import Report
    from wardgate.storage.database import Database


@main.group("audit")
def audit() -> None:
    """The audit trail: verify its hash chain, export it."""


def settings_and_database(config_path: Path | None, data_dir: Path | None) -> tuple[Settings, str | None]:
    """The settings and configured database URL ``wardgate serve`` would use with these options."""
    from wardgate.config.loader import ConfigError, load_config_file

    settings = Settings.from_env()
    if config_path is not None:
        settings = replace(settings, config_path=config_path.resolve())
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir.resolve())
    configured = None
    if settings.config_path is not None:
        try:
            configured = load_config_file(settings.config_path).config.database_url
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    return settings, configured


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The gateway's config (for its database_url); default $WARDGATE_CONFIG.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The gateway's data directory (embedded database, vault key); default $WARDGATE_DATA_DIR.",
)


def existing_seal_keys(data_dir: Path) -> Callable[[str], SealKey | None] | None:
    """The seal keys from the vault key the gateway uses, if one is configured or in the data directory (reading
    the trail never creates a vault key); None, with a warning, otherwise."""
    from wardgate.audit.chain import seal_keys
    from wardgate.vault import VaultError, load_keyring
    from wardgate.vault.keyfile import KEY_FILE_NAME
    from wardgate.vault.keys import ENV_KEY, ENV_KEY_FILE

    if not (os.environ.get(ENV_KEY) or os.environ.get(ENV_KEY_FILE) or (data_dir / KEY_FILE_NAME).exists()):
        click.echo("warning: no vault key: the audit seals' HMACs are not checked", err=True)
        return None
    try:
        return seal_keys(load_keyring(os.environ, data_dir))
    except VaultError as exc:
        click.echo(f"warning: the audit seals' HMACs are not checked: {exc}", err=True)
        return None


@audit.command("verify")
@config_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Check the hash chain and its seals; exit 1 and say where if any row was edited, deleted or reordered."""
    from wardgate.audit.verify import summary, verify

    settings, configured = settings_and_database(config_path, data_dir)
    keys = existing_seal_keys(settings.data_dir)

    async def work(db: Database) -> Report:
        return await verify(db, keys)

    report = run_with_database(settings, configured, work)
    if as_json:
        click.echo(json.dumps(summary(report), indent=2))
    else:
        _print(report)
    sys.exit(0 if report.ok else 1)


def _print(report: Report) -> None:
    span = f"seq {report.first_seq}..{report.last_seq}" if report.rows else "no rows"
    click.echo(
        f"audit trail: {report.rows} rows ({span}), {report.purged} purged by retention, "
        f"{report.seals} seals ({report.seals_verified} HMAC-verified)"
    )
    if report.ok:
        click.echo("OK: the chain is intact")
        return
    click.echo(f"TAMPERED: {len(report.problems)} problem(s)")
    for problem in report.problems:
        click.echo(f"  {problem.line()}")
