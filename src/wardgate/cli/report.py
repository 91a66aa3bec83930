"""``wardgate report soc2|hipaa-access``: compliance reports read straight from the database the gateway uses (the
same ``--config`` / ``WARDGATE_DATABASE_URL`` / data directory as ``wardgate serve``), written as a Markdown
document and CSV files into ``--output`` (default: the current directory). Prints the paths of the files.

``--from`` and ``--to`` are dates (``2026-11-30``; ``--to`` includes that day) or ISO 8601 times (UTC unless they
say otherwise; ``--to`` then excludes that instant)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wardgate.cli.audit import config_option, data_dir_option, existing_seal_keys, settings_and_database
from wardgate.cli.base import main, run_with_database

if TYPE_CHECKING:
    from wardgate.audit.reports.period import Period
    from wardgate.audit.reports.render import Report
    from wardgate.storage.database import Database

F = TypeVar("F", bound=Callable[..., Any])


@main.group("report")
def report_group() -> None:
    """Compliance reports (SOC 2 evidence, HIPAA access) as Markdown and CSV files."""


def report_options(command: F) -> F:
    """``--from``, ``--to``, ``--output``, ``--config`` and ``--data-dir``."""
    options = [
        click.option("--from", "start", required=True, help="First day (2026-11-01) or time, UTC."),
        click.option("--to", "end", required=True, help="Last day, included (2026-11-30), or end time, excluded."),
        click.option(
            "--output",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(),
            show_default="the current directory",
            help="Directory for the files (created if missing).",
        ),
        config_option,
        data_dir_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@report_group.command("soc2")
@report_options
@click.option("--no-verify", is_flag=True, help="Do not walk the audit trail's hash chain (very large trails).")
def soc2_command(
    start: str, end: str, output: Path, config_path: Path | None, data_dir: Path | None, no_verify: bool
) -> None:
    """SOC 2 evidence: key inventory and rotations, admin changes, access by principal, policy violations,
    provider usage, and the audit trail's integrity."""
    from wardgate.audit.reports.soc2 import build_soc2

    period = _period(start, end)
    settings, _ = settings_and_database(config_path, data_dir)
    keys = None if no_verify else existing_seal_keys(settings.data_dir)
    _run(config_path, data_dir, output, lambda db, now: build_soc2(db, period, now, verify=not no_verify, keys=keys))


@report_group.command("hipaa-access")
@report_options
def hipaa_command(start: str, end: str, output: Path, config_path: Path | None, data_dir: Path | None) -> None:
    """Every request whose prompt was flagged as containing PHI: who sent it, to which model and provider, with
    summaries by principal and by model."""
    from wardgate.audit.reports.hipaa import build_hipaa

    period = _period(start, end)
    _run(config_path, data_dir, output, lambda db, now: build_hipaa(db, period, now))


def _period(start: str, end: str) -> Period:
    from wardgate.audit.reports.period import parse_period

    try:
        return parse_period(start, end)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _run(
    config_path: Path | None,
    data_dir: Path | None,
    output: Path,
    build: Callable[[Database, datetime], Awaitable[Report]],
) -> None:
    from wardgate.audit.reports.render import write_report
    from wardgate.storage.migrate import current, head_revision

    settings, configured = settings_and_database(config_path, data_dir)

    async def work(db: Database) -> Report | str:
        revision = await current(db)
        if revision != head_revision():
            return f"the database is at schema revision {revision or '(none)'}: run `wardgate db upgrade` first"
        return await build(db, datetime.now(UTC))

    report = run_with_database(settings, configured, work)
    if isinstance(report, str):
        raise click.ClickException(report)
    try:
        paths = write_report(report, output)
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    for path in paths:
        click.echo(str(path))
