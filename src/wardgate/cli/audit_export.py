"""``wardgate audit export``: the audit trail's records over a time range, read straight from the database the
gateway uses (``WARDGATE_DATABASE_URL``, the ``database_url`` of ``--config``, or the SQLite file of
``--data-dir``), like ``wardgate audit verify``.

``--format jsonl`` (the default) writes each record exactly as the trail stored it, one per line (the SHA-256 of a
line is the row's ``record_hash``), as the ``file`` sink does; ``--format csv`` writes one row per record with
columns for the main fields and JSON text for nested ones (attempts, latency, decisions, before/after, content).
A record retention purged comes out as a stub (``"purged": true``). Records are in chain order (oldest first) and
are streamed: memory use does not grow with the range. ``--output FILE`` writes ``FILE.part`` and renames it
when complete, so a failed export never leaves a file that looks whole.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from wardgate.cli.audit import audit, config_option, data_dir_option, settings_and_database
from wardgate.cli.base import run_with_database

if TYPE_CHECKING:
    from wardgate.storage.database import Database

PARTITION = 1000
CSV_COLUMNS = (
    "id",
    "kind",
    "at",
    "request_id",
    "team_id",
    "key_id",
    "user_id",
    "project_id",
    "principal_kind",
    "app",
    "agent",
    "client_address",
    "user_agent",
    "dialect",
    "endpoint",
    "model",
    "stream",
    "status",
    "error",
    "provider",
    "deployment",
    "upstream_model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cost_known",
    "cache_hit",
    "flags",
    "actor_kind",
    "actor_id",
    "action",
    "object_kind",
    "object_id",
    "attempts",
    "latency_ms",
    "decisions",
    "before",
    "after",
    "content",
    "purged",
)
"""The CSV's columns, in order (request and admin records share them; a column a record has not is empty)."""
_NESTED = ("attempts", "latency_ms", "decisions", "before", "after", "content")


@audit.command("export")
@click.option("--since", default=None, help="Start: ISO time or 7d, 24h (default: the trail's beginning).")
@click.option("--until", default=None, help="End (exclusive): ISO time or 7d, 24h (default: now).")
@click.option("--team", "teams", multiple=True, help="Only this team (id or name; repeat for several).")
@click.option("--kind", type=click.Choice(["request", "admin"]), default=None, help="Only request or admin records.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: stdout.")
@click.option("--no-content", is_flag=True, help="Leave prompt and response content out.")
@config_option
@data_dir_option
def export(
    since: str | None,
    until: str | None,
    teams: tuple[str, ...],
    kind: str | None,
    fmt: str,
    output: Path | None,
    no_content: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Export audit records (oldest first) as JSON lines or CSV."""
    start, end = _range(since, until)
    settings, configured = settings_and_database(config_path, data_dir)
    target = output.with_name(output.name + ".part") if output is not None else None
    try:
        with _opened(target) as out:
            count = run_with_database(
                settings,
                configured,
                lambda db: write_export(db, out, start, end, teams, kind, fmt, content=not no_content),
            )
        if output is not None and target is not None:
            os.replace(target, output)
    finally:
        if target is not None:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
    click.echo(f"{count} audit records exported" + (f" to {output}" if output else ""), err=True)


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    from wardgate.spend.query import parse_time

    times: list[datetime | None] = []
    for name, text in (("--since", since), ("--until", until)):
        try:
            times.append(parse_time(text) if text else None)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    if times[0] is not None and times[1] is not None and times[0] >= times[1]:
        raise click.BadParameter("must be before --until", param_hint="--since")
    return times[0], times[1]


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise click.FileError(str(path), exc.strerror) from None
    with handle:
        yield handle


async def write_export(
    db: Database,
    out: IO[str],
    since: datetime | None,
    until: datetime | None,
    teams: tuple[str, ...],
    kind: str | None,
    fmt: str,
    *,
    content: bool = True,
) -> int:
    """Stream the selected records to ``out``; returns how many."""
    from sqlalchemy import select

    from wardgate.audit.sinks import AuditRow, record_text
    from wardgate.spend.export import to_csv
    from wardgate.storage.keys import find_teams
    from wardgate.storage.schema import audit_log

    query = select(audit_log).order_by(audit_log.c.seq)
    count = 0
    async with db.engine.connect() as conn:
        if teams:
            ids = {found for ref in teams for found in (await find_teams(conn, ref) or [ref])}
            query = query.where(audit_log.c.team_id.in_(sorted(ids)))
        if kind is not None:
            query = query.where(audit_log.c.kind == kind)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        result = await conn.stream(query.execution_options(yield_per=PARTITION))
        async for partition in result.mappings().partitions(PARTITION):
            if fmt == "jsonl":
                out.write("".join(record_text(AuditRow.of(row), content) + "\n" for row in partition))
            else:
                text = to_csv(CSV_COLUMNS, [csv_row(row, content) for row in partition])
                out.write(text if count == 0 else text.split("\r\n", 1)[1])
            count += len(partition)
    if fmt == "csv" and count == 0:
        out.write(to_csv(CSV_COLUMNS, []))
    return count


def csv_row(row: Mapping[Any, Any], content: bool = True) -> dict[str, Any]:
    """One ``audit_log`` row as a CSV line's cells: the index columns, the record's main fields, nested ones as
    JSON text."""
    from wardgate.audit.sinks import iso

    record: dict[str, Any] = orjson.loads(row["record"]) if row["record"] is not None else {}
    principal, client = record.get("principal") or {}, record.get("client") or {}
    usage, actor, target = record.get("usage") or {}, record.get("actor") or {}, record.get("object") or {}
    answered = (record.get("attempts") or [{}])[-1]
    cells: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "at": iso(row["at"]),
        "request_id": row["request_id"],
        "team_id": row["team_id"],
        "key_id": row["key_id"],
        "user_id": row["user_id"],
        "model": row["model"],
        "status": row["status"],
        "flags": row["flags"].split(",") if row["flags"] else None,
        "project_id": principal.get("project_id"),
        "principal_kind": principal.get("kind"),
        "app": principal.get("app"),
        "agent": principal.get("agent"),
        "client_address": client.get("address"),
        "user_agent": client.get("user_agent"),
        "provider": answered.get("provider"),
        "deployment": answered.get("deployment"),
        "upstream_model": answered.get("model"),
        "input_tokens": usage.get("input"),
        "output_tokens": usage.get("output"),
        "cached_tokens": usage.get("cached"),
        "reasoning_tokens": usage.get("reasoning"),
        "cache_write_tokens": usage.get("cache_write"),
        "actor_kind": actor.get("kind"),
        "actor_id": actor.get("id"),
        "object_kind": target.get("kind"),
        "object_id": target.get("id"),
        "purged": row["record"] is None,
    }
    for name in ("dialect", "endpoint", "stream", "cost_usd", "cost_known", "cache_hit", "action", "error"):
        cells[name] = record.get(name)
    for name in (*_NESTED, "error"):
        value = record.get(name)
        if isinstance(value, dict | list) and (content or name != "content"):
            cells[name] = orjson.dumps(value).decode()
        elif name in _NESTED:
            cells[name] = None
    return cells
