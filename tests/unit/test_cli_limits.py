"""The rate-limit options of the CLI (``wardgate.cli.limits``): parsing, what ``create`` sends, how ``update``
merges into the limits an object has, and the one-line form tables show. The commands themselves run against a
real gateway in ``tests/integration/test_admin_limit_fields_cli.py``."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner

from wardgate.cli.limits import REMOVE, LimitChange, describe, limit_options


@click.command()
@limit_options
def probe(limits: LimitChange) -> None:
    click.echo(json.dumps([dict(limits.values), limits.clear]))


def parsed(*args: str) -> Any:
    result = CliRunner().invoke(probe, list(args))
    assert result.exit_code == 0, result.output
    values, clear = json.loads(result.output)
    return values, clear


def test_options_become_one_limit_change() -> None:
    assert parsed() == ({}, False)
    assert parsed("--rpm", "600", "--tpm", "200000", "--limit-mode", "audit") == (
        {"requests_per_minute": 600, "tokens_per_minute": 200_000, "mode": "audit"},
        False,
    )
    assert parsed("--tpd", "none", "--concurrent", "4", "--limit-count", "input", "--limit-unavailable", "closed") == (
        {"tokens_per_day": REMOVE, "concurrent": 4, "count": "input", "on_unavailable": "closed"},
        False,
    )
    assert parsed("--no-limits") == ({}, True)


@pytest.mark.parametrize("args", [["--rpm", "0"], ["--tpm", "-5"], ["--tpd", "lots"], ["--limit-mode", "block"]])
def test_bad_values_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_create_and_update_bodies() -> None:
    assert LimitChange().empty and LimitChange().created() is None
    assert LimitChange({"requests_per_minute": 5}).created() == {"requests_per_minute": 5}
    for unfit in (LimitChange(clear=True), LimitChange({"concurrent": REMOVE})):
        with pytest.raises(click.UsageError):
            unfit.created()

    current = {"requests_per_minute": 5, "tokens_per_day": 9, "mode": "audit"}
    change = LimitChange({"tokens_per_day": REMOVE, "concurrent": 2})
    assert change.applied_to(current) == {"requests_per_minute": 5, "mode": "audit", "concurrent": 2}
    assert change.applied_to(None) == {"concurrent": 2}
    assert LimitChange({"concurrent": 2}, clear=True).applied_to(current) == {"concurrent": 2}
    assert LimitChange(clear=True).applied_to(current) == {}
    assert current == {"requests_per_minute": 5, "tokens_per_day": 9, "mode": "audit"}  # not modified


def test_describe() -> None:
    assert describe({}) == describe(None) == ""
    limits = {"requests_per_minute": 600, "tokens_per_minute": 2000, "concurrent": 3, "mode": "audit"}
    assert describe(limits) == "rpm=600 tpm=2000 concurrent=3 mode=audit"
