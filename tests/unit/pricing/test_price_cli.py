"""``wardgate prices list | show``: the shipped catalog with the config file's ``prices`` section applied, as a
table or exact JSON; unknown models and bad config files are one clear error and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wardgate.cli import main
from wardgate.cli.prices import money

CONFIG = """
providers: []
prices:
  provider_factors: {anthropic: 0.5}
  models:
    gpt-4o: {input: 2.25}
    llama-local:
      provider: openai_compatible
      gpu_hour_usd: 4
      tokens_per_second: 2500
  deployments:
    - {model: prod-4o, price_model: gpt-4o}
"""


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["prices", *args], env={"WARDGATE_CONFIG": "", **(env or {})})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "wardgate.yaml"
    path.write_text(CONFIG)
    return path


def test_list_shows_the_catalog() -> None:
    result = run("list", "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert "gpt-4o" in result.output and "claude" not in result.output


def test_list_json_is_exact(config: Path) -> None:
    result = run("list", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["catalog_version"] and data["checked"]
    by_name = {(m["provider"], m["model"]): m for m in data["models"]}
    assert by_name[("openai", "gpt-4o")]["input"] == "2.25"
    assert by_name[("openai_compatible", "llama-local")]["output"] == "0.444444"
    assert by_name[("anthropic", "claude-haiku-4-5")]["input"] == "0.50"  # $1 x the 0.5 factor


def test_show_details_and_history() -> None:
    result = run("show", "o3", "--json")
    assert result.exit_code == 0, result.output
    (o3,) = json.loads(result.output)["models"]
    assert (o3["input"], o3["effective_from"]) == ("2.0", "2025-06-10")
    assert [period["input"] for period in o3["history"]] == ["10.0"]
    table = run("show", "claude-sonnet-4-5-20250929")
    assert table.exit_code == 0 and "claude-sonnet-4-5" in table.output and "> 200K: 6.00 / 22.50" in table.output


def test_show_uses_the_config_from_the_environment(config: Path) -> None:
    result = run("show", "prod-4o", "--provider", "azure_openai", "--json", env={"WARDGATE_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["models"][0]["input"] == "2.25"


def test_show_lists_every_price_list_with_the_model() -> None:
    result = run("show", "gpt-4o", "--json")
    providers = [m["provider"] for m in json.loads(result.output)["models"]]
    assert providers == ["openai"]  # azure and simulated reach it through their fallback, not a list of their own


def test_unknown_model_is_an_error() -> None:
    result = run("show", "gpt-17")
    assert result.exit_code == 1 and "no price for `gpt-17`" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prices: {models: {mine: {input: 1, output: 1}}}", "prices.models.mine: not in the price catalog"),
        ("prices: {models: {gpt-4o: {input: cheap}}}", "prices.models.gpt-4o.input"),
        ("prices: [", "invalid YAML"),
    ],
)
def test_bad_config_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run("list", "--config", str(path))
    assert result.exit_code == 1 and message in result.output


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    result = run("list", "--config", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1 and "cannot read" in result.output


def test_money_format() -> None:
    assert [money(__import__("decimal").Decimal(v)) for v in ("2.5", "10", "0.075", "0", "1E+1")] == [
        "2.50",
        "10.00",
        "0.075",
        "0.00",
        "10.00",
    ]
