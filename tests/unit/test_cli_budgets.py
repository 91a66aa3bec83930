"""The budget options of the CLI (``wardgate.cli.limits``): parsing, what ``create`` sends, how ``update`` merges
into the budget an object has, and the one-line form tables show."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner

from wardgate.cli.limits import LimitChange, describe_budget, limit_options


@click.command()
@limit_options
def probe(limits: LimitChange) -> None:
    click.echo(json.dumps([dict(limits.budget), limits.no_budget, limits.empty]))


def parsed(*args: str) -> Any:
    result = CliRunner().invoke(probe, list(args))
    assert result.exit_code == 0, result.output
    return tuple(json.loads(result.output))


def test_budget_options_become_part_of_the_change() -> None:
    assert parsed() == ({}, False, True)
    assert parsed("--budget-usd", "12.5", "--budget-period", "daily", "--budget-mode", "audit") == (
        {"amount_usd": 12.5, "period": "daily", "mode": "audit"},
        False,
        False,
    )
    assert parsed("--no-budget") == ({}, True, False)


@pytest.mark.parametrize("args", [["--budget-usd", "0"], ["--budget-usd", "x"], ["--budget-period", "hourly"]])
def test_bad_budget_values_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_create_and_update_bodies() -> None:
    assert LimitChange().created_budget() is None
    assert LimitChange(budget={"amount_usd": 5}).created_budget() == {"amount_usd": 5}
    for unfit in (LimitChange(no_budget=True), LimitChange(budget={"period": "daily"})):
        with pytest.raises(click.UsageError):
            unfit.created_budget()
    current = {"limits": {"concurrent": 2}, "budgets": {"amount_usd": 5, "mode": "audit"}}
    assert LimitChange(budget={"period": "weekly"}).patch(current) == {
        "budgets": {"amount_usd": 5, "mode": "audit", "period": "weekly"}
    }
    assert LimitChange(no_budget=True).patch(current) == {"budgets": {}}
    assert LimitChange({"concurrent": 3}).patch(current) == {"limits": {"concurrent": 3}}
    with pytest.raises(click.UsageError):
        LimitChange(budget={"period": "daily"}).patch({"budgets": {}})


def test_tables_show_one_line() -> None:
    assert describe_budget({}) == ""
    assert describe_budget({"amount_usd": 500.0}) == "$500 monthly"
    assert describe_budget({"amount_usd": 2.5, "period": "daily", "mode": "audit"}) == "$2.5 daily audit"
