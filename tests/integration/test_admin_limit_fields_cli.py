"""Rate limits from the command line against a real gateway process: ``teams``, ``projects`` and ``keys``
``create``/``update`` with ``--rpm``/``--tpm``/``--tpd``/``--concurrent``/``--limit-mode``, an update changing only
the limits it names (``none`` removes one, ``--no-limits`` all), ``show`` printing them, and API refusals (a value
the API rejects) as one line on stderr."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from gateway_process import GatewayProcess
from test_admin_org_cli import Cli, cli_env, ok_json

from wardgate.cli import main


@pytest.fixture(scope="module")
def limits_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway on its embedded SQLite for the module (the API is tested on both backends in unit tests)."""
    process = GatewayProcess(tmp_path_factory.mktemp("limits-cli"), None).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def in_process(limits_gateway: GatewayProcess) -> Cli:
    """``wardgate …`` through click's runner, over HTTP to the gateway."""
    runner, env = CliRunner(), cli_env(limits_gateway)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = runner.invoke(main, list(args), env=env)
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)

    return run


def test_team_limits_round_trip(in_process: Cli) -> None:
    wardgate = in_process
    team = ok_json(wardgate("teams", "create", "limited", "--tpm", "200000", "--limit-mode", "audit", "--json"))
    assert team["limits"] == {"tokens_per_minute": 200_000, "mode": "audit"}
    table = wardgate("teams", "list")
    assert table.returncode == 0 and "tpm=200000 mode=audit" in table.stdout

    changed = ok_json(wardgate("teams", "update", "limited", "--rpm", "600", "--json"))
    assert changed["limits"] == {"tokens_per_minute": 200_000, "mode": "audit", "requests_per_minute": 600}
    changed = ok_json(wardgate("teams", "update", "limited", "--tpm", "none", "--limit-mode", "enforce", "--json"))
    assert changed["limits"] == {"requests_per_minute": 600}
    shown = wardgate("teams", "show", "limited")
    assert shown.returncode == 0 and "requests_per_minute" in shown.stdout
    cleared = ok_json(wardgate("teams", "update", "limited", "--no-limits", "--json"))
    assert cleared["limits"] == {}

    nothing = wardgate("teams", "update", "limited")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    refused = wardgate("teams", "create", "other", "--no-limits")
    assert refused.returncode == 2 and "only make sense when updating" in refused.stderr


def test_project_and_key_limits(in_process: Cli) -> None:
    wardgate = in_process
    team = ok_json(wardgate("teams", "create", "keyed", "--json"))
    project = ok_json(wardgate("projects", "create", "--team", "keyed", "bots", "--concurrent", "3", "--json"))
    assert project["limits"] == {"concurrent": 3}
    renamed = ok_json(wardgate("projects", "update", project["id"], "--name", "bots2", "--tpd", "1000", "--json"))
    assert (renamed["name"], renamed["limits"]) == ("bots2", {"concurrent": 3, "tokens_per_day": 1000})
    assert "tokens_per_day" in wardgate("projects", "show", project["id"]).stdout
    assert "tpd=1000 concurrent=3" in wardgate("projects", "list", "--team", team["id"]).stdout

    key = ok_json(wardgate("keys", "create", "--team", "keyed", "--rpm", "60", "--limit-count", "input", "--json"))
    assert key["limits"] == {"requests_per_minute": 60, "count": "input"}
    updated = ok_json(wardgate("keys", "update", key["id"], "--tpm", "5000", "--json"))
    assert updated["limits"] == {"requests_per_minute": 60, "count": "input", "tokens_per_minute": 5000}
    shown = wardgate("keys", "show", key["id"])
    assert shown.returncode == 0 and "tokens_per_minute" in shown.stdout
    cleared = ok_json(wardgate("keys", "update", key["id"], "--no-limits", "--json"))
    assert cleared["limits"] == {}

    too_big = wardgate("keys", "update", key["id"], "--rpm", str(10**13))
    assert (
        too_big.returncode == 1 and too_big.stderr.startswith("error: 400:") and "requests_per_minute" in too_big.stderr
    )
