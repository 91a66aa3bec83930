"""``wardgate spend report|export``: the spend ledger through a running gateway's admin API.

``report`` sums requests, tokens and cost per group (``--by team,model``; add ``day``/``hour``/``minute`` for a
time series) over ``--since`` (default 7d) to ``--until`` (default now), as a table with a total line, CSV or JSON.
``export`` writes the ledger rows themselves (one per request) as CSV or JSON lines, page by page. Times are ISO
8601 or relative to now (``7d``, ``24h``, ``30m``); filters (``--team``, ``--model``, … ``--tag``) may repeat.
Costs are exact decimal text in CSV and JSON; the table rounds them to 4 decimals.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import click

from wardgate.cli.admin_client import DEFAULT_URL, AdminClient
from wardgate.cli.base import main

F = TypeVar("F", bound=Callable[..., Any])
FILTERS = ("team", "project", "key", "user", "agent", "app", "model", "provider", "tag")
TABLE_SUMS = (
    ("requests", "requests"),
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cached_input_tokens", "cached"),
    ("reasoning_tokens", "reasoning"),
    ("cost_usd", "cost (USD)"),
)


def query_options(command: F) -> F:
    """``--since``, ``--until``, the filters and ``--url``; the command receives them as ``query`` and ``client``."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        query = {"since": kwargs.pop("since"), "until": kwargs.pop("until")}
        query.update({name: list(kwargs.pop(name)) or None for name in FILTERS})
        return command(*args, query=query, client=AdminClient(kwargs.pop("url")), **kwargs)

    decorated: Callable[..., Any] = run
    for name in reversed(FILTERS):
        decorated = click.option(f"--{name}", multiple=True, help=f"Only this {name} (repeat for several).")(decorated)
    decorated = click.option("--until", default=None, help="End (exclusive); default now.")(decorated)
    decorated = click.option("--since", default="7d", show_default=True, help="Start: ISO time or 7d, 24h.")(decorated)
    decorated = click.option("--url", default=None, help=f"Gateway URL (default: $WARDGATE_URL or {DEFAULT_URL}).")(
        decorated
    )
    return cast("F", decorated)


@main.group("spend")
def spend_group() -> None:
    """Spend: reports and exports of the ledger."""


@spend_group.command("report")
@click.option("--by", "group_by", default=None, help="Group by, e.g. team or team,model or team,day.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@query_options
def report(group_by: str | None, fmt: str, query: dict[str, Any], client: AdminClient) -> None:
    """Spend per group with totals."""
    if fmt == "csv":
        from wardgate.spend.export import report_csv

        click.echo(report_csv(client.get("/spend", group_by=group_by, **query)), nl=False)
        return
    document = client.get("/spend", group_by=group_by, **query)
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    _table(document)


@spend_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--page-size", default=5000, show_default=True, type=click.IntRange(1, 10_000))
@query_options
def export(fmt: str, page_size: int, query: dict[str, Any], client: AdminClient) -> None:
    """Every ledger row of the range (one per request), oldest first, to stdout."""
    from wardgate.spend.export import ROW_COLUMNS, to_csv

    after: str | None = None
    first = True
    while True:
        page = client.get("/spend/records", limit=page_size, after=after, **query)
        if fmt == "csv":
            text = to_csv(ROW_COLUMNS, page["data"])
            click.echo(text if first else text.split("\r\n", 1)[1], nl=False)
        else:
            for row in page["data"]:
                click.echo(json.dumps(row, sort_keys=True))
        first, after = False, page["next_after"]
        if not page["has_more"]:
            return


def _table(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    dims = list(document["group_by"])
    title = f"Spend from {_when(document['since']) or 'the start'} to {_when(document['until']) or 'now'}"
    table = Table(title=title, show_footer=bool(dims and document["data"]))
    totals = document["totals"]
    for i, dim in enumerate(dims):
        table.add_column(dim, footer="total" if i == 0 else "")
    for name, label in TABLE_SUMS:
        table.add_column(label, justify="right", footer=_number(name, totals[name]))
    for group in document["data"] if dims else [totals]:
        cells = [_label(group, dim) for dim in dims]
        table.add_row(*cells, *(_number(name, group[name]) for name, _ in TABLE_SUMS))
    Console().print(table)
    if totals["unpriced_requests"]:
        click.echo(f"{totals['unpriced_requests']} requests had no known price (counted at $0).", err=True)
    if not document["data"]:
        click.echo("No spend in this range.", err=True)


def _when(text: str | None, unit: str = "minute") -> str | None:
    """An ISO time from the API, shortened for a table (UTC)."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.strftime({"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}.get(unit, "%Y-%m-%d %H:%M") + " UTC")


def _label(group: dict[str, Any], dim: str) -> str:
    value, name = group.get(dim), group.get(f"{dim}_name")
    if value is None:
        return "-"
    if dim in ("minute", "hour", "day"):
        return _when(value, dim) or ""
    return f"{name} ({value})" if name and name != value else str(value)


def _number(name: str, value: Any) -> str:
    if name == "cost_usd":
        return f"{Decimal(value):,.4f}"
    return f"{int(value):,}"
