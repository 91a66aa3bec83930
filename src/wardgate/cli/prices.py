"""``wardgate prices list [--provider TYPE]`` and ``wardgate prices show MODEL [--provider TYPE]``: the prices a
gateway charges, from the shipped catalog with the ``prices`` section of the config file (``--config``, else
``$WARDGATE_CONFIG``) applied. Prices are USD per million tokens; ``--json`` prints exact decimal strings.

Only the ``prices`` section is read, so the command works on a machine without the providers' secrets; the gateway
itself validates the whole file.
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from wardgate.cli.base import main
from wardgate.config.prices_config import PROVIDER_TYPES, PricesConfig

if TYPE_CHECKING:
    from wardgate.pricing import ModelPrice, PriceBook, PricedModel

_LIST_COLUMNS = ("Provider", "Model", "Kind", "Input", "Cached", "Write 5m/1h", "Output", "Long context", "Batch")


def _config_option(command: Any) -> Any:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="WARDGATE_CONFIG",
        default=None,
        help="Apply the `prices` section of this config file (default: $WARDGATE_CONFIG).",
    )(command)


@main.group("prices")
def prices_group() -> None:
    """Model prices: the shipped catalog with the config's corrections (USD per million tokens)."""


@prices_group.command("list")
@click.option("--provider", type=click.Choice(PROVIDER_TYPES), default=None, help="Only this provider type's list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (prices as exact decimal strings).")
@_config_option
def list_prices(provider: str | None, as_json: bool, config_path: Path | None) -> None:
    """List every priced model and its current price."""
    book = _book(config_path)
    today = datetime.datetime.now(datetime.UTC).date()
    prices = [priced.at(today) for priced in book.entries(provider)]
    if as_json:
        click.echo(json.dumps(_envelope(book, models=[price.as_dict() for price in prices]), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Model prices, USD per million tokens (catalog {book.version}, checked {book.checked})")
    for column in _LIST_COLUMNS:
        numeric = column in ("Input", "Cached", "Output")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column in ("Provider", "Model"))
    for price in prices:
        table.add_row(*_row(price))
    Console().print(table)


@prices_group.command("show")
@click.argument("model")
@click.option(
    "--provider", type=click.Choice(PROVIDER_TYPES), default=None, help="Price it as this provider type does."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (prices as exact decimal strings).")
@_config_option
def show_price(model: str, provider: str | None, as_json: bool, config_path: Path | None) -> None:
    """Show everything about MODEL's price: tiers, cache prices, batch discount, earlier prices, source."""
    book = _book(config_path)
    if provider is not None:
        priced = book.priced(provider, model)
        matches = [] if priced is None else [priced]
    else:
        matches = book.find(model)
    if not matches:
        where = f" on {provider}" if provider else ""
        _fail(f"no price for `{model}`{where}; see `wardgate prices list`")
    today = datetime.datetime.now(datetime.UTC).date()
    if as_json:
        shown = [_with_history(priced, today) for priced in matches]
        click.echo(json.dumps(_envelope(book, query=model, models=shown), indent=2))
        return
    from rich.console import Console

    console = Console()
    for priced in matches:
        console.print(_detail(priced, today))


def _book(config_path: Path | None) -> PriceBook:
    from wardgate.pricing import PriceBook, PriceConfigError

    overrides = _overrides(config_path) if config_path is not None else None
    try:
        return PriceBook.load(overrides)
    except PriceConfigError as exc:
        _fail("\n".join(f"{config_path}: {problem}" for problem in exc.problems))


def _overrides(path: Path) -> PricesConfig | None:
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"{path}: cannot read: {exc.strerror}")
    except yaml.YAMLError as exc:
        _fail(f"{path}: invalid YAML: {getattr(exc, 'problem', None) or exc}")
    section = data.get("prices") if isinstance(data, dict) else None
    if section is None:
        return None
    try:
        return PricesConfig.model_validate(section)
    except ValidationError as exc:
        lines = [
            f"{path}: prices.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        _fail("\n".join(lines))


def _fail(message: str) -> NoReturn:
    """Each line of ``message`` as an error on stderr, then exit status 1 (never a traceback)."""
    click.echo("\n".join(f"error: {line}" for line in message.splitlines()), err=True)
    sys.exit(1)


def _envelope(book: PriceBook, **fields: Any) -> dict[str, Any]:
    checked = book.checked.isoformat() if book.checked else None
    return {"catalog_version": book.version, "checked": checked, **fields}


def _with_history(priced: PricedModel, today: datetime.date) -> dict[str, Any]:
    current = priced.at(today)
    return current.as_dict() | {"history": [p.as_dict() for p in priced.periods if p is not current]}


def money(value: Decimal) -> str:
    """A price for people: plain notation, at least two decimals (2.5 → 2.50, 0.075 → 0.075)."""
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _tiers(price: ModelPrice) -> str:
    """Long-context tiers in one line: ``> 200K: 6.00 / 22.50`` (input / output)."""
    return "; ".join(
        f"> {_tokens(threshold)}: {money(rates.input)} / {money(rates.output)}" for threshold, rates in price.tiers
    )


def _tokens(count: int) -> str:
    return f"{count // 1000}K" if count % 1000 == 0 else str(count)


def _row(price: ModelPrice) -> tuple[str, ...]:
    rates = price.rates
    writes = (
        "" if rates.cache_write_5m == rates.input else f"{money(rates.cache_write_5m)}/{money(rates.cache_write_1h)}"
    )
    return (
        price.provider,
        price.model,
        price.kind,
        money(rates.input),
        "" if rates.cached_input == rates.input else money(rates.cached_input),
        writes,
        money(rates.output),
        _tiers(price),
        "" if price.batch_discount is None else f"-{price.batch_discount * 100:.0f}%",
    )


def _detail(priced: PricedModel, today: datetime.date) -> Any:
    from rich.table import Table

    price = priced.at(today)
    rates = price.rates
    table = Table(title=f"{price.model} ({price.provider}), USD per million tokens", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows: list[tuple[str, str]] = [
        ("aliases", ", ".join(price.aliases)),
        ("kind", price.kind),
        ("input", money(rates.input)),
        ("cached input (read)", money(rates.cached_input)),
        ("cache write 5m / 1h", f"{money(rates.cache_write_5m)} / {money(rates.cache_write_1h)}"),
        ("output", money(rates.output)),
        ("reasoning", money(rates.reasoning)),
        ("per request / per image", f"{money(price.per_request)} / {money(price.per_image)}"),
        ("long context", _tiers(price)),
        ("batch", "none" if price.batch_discount is None else f"{price.batch_discount * 100:.0f} % off"),
        ("effective", _period(price)),
        ("source", price.source or ""),
        ("note", price.note or ""),
    ]
    rows += [(f"earlier ({_period(p)})", _summary(p)) for p in priced.periods if p is not price]
    for field, value in rows:
        if value:
            table.add_row(field, value)
    return table


def _period(price: ModelPrice) -> str:
    start = price.effective_from.isoformat() if price.effective_from else "release"
    return f"{start} to {price.effective_until.isoformat()}" if price.effective_until else f"since {start}"


def _summary(price: ModelPrice) -> str:
    rates = price.rates
    text = f"input {money(rates.input)}, cached {money(rates.cached_input)}, output {money(rates.output)}"
    return f"{text}; long context {_tiers(price)}" if price.tiers else text
