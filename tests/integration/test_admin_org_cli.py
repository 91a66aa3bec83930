"""The organisation CLI (``wardgate teams|projects|users|members|service-principals``) against a real gateway
process on SQLite and PostgreSQL: tables on the terminal, ``--json``, team names resolved to ids, and API errors as
one line on stderr with exit status 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from gateway_process import GatewayProcess

from wardgate.cli import main

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway on its embedded SQLite for the module (the admin API itself is tested on both backends in
    ``tests/unit/api/admin``); each test works on its own team names."""
    process = GatewayProcess(tmp_path_factory.mktemp("org-cli"), None).start()
    try:
        yield process
    finally:
        process.stop()


def cli_env(gateway: GatewayProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
    env.update(WARDGATE_URL=gateway.url, WARDGATE_ADMIN_KEY=str(gateway.master_key), COLUMNS="200")
    return env


@pytest.fixture
def wardgate(gateway: GatewayProcess) -> Cli:
    """``python -m wardgate …`` in a subprocess, exactly as a person runs it."""
    env = cli_env(gateway)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wardgate", *args], capture_output=True, text=True, timeout=60, env=env
        )

    return run


@pytest.fixture
def in_process(gateway: GatewayProcess) -> Cli:
    """The same commands through click's runner (no interpreter start per command), still over HTTP."""
    runner = CliRunner()
    env = cli_env(gateway)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = runner.invoke(main, list(args), env=env)
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)

    return run


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_teams_from_the_command_line(wardgate: Cli) -> None:
    created = wardgate("teams", "create", "platform")
    assert created.returncode == 0, created.stderr
    assert "platform" in created.stdout and "team_" in created.stdout

    again = wardgate("teams", "create", "platform")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.startswith("error: 409:") and "platform" in again.stderr

    table = wardgate("teams", "list")
    assert table.returncode == 0 and "platform" in table.stdout and "Teams" in table.stdout
    listed = ok_json(wardgate("teams", "list", "--json"))
    assert "platform" in [t["name"] for t in listed["data"]]


def test_the_structure_of_a_team(in_process: Cli) -> None:
    wardgate = in_process
    team = ok_json(wardgate("teams", "create", "search", "--json"))
    assert ok_json(wardgate("teams", "show", "search", "--json")) == team
    assert ok_json(wardgate("teams", "show", team["id"], "--json")) == team
    unknown = wardgate("teams", "show", "nope")
    assert unknown.returncode == 1 and "no team named 'nope'" in unknown.stderr
    shown = wardgate("teams", "show", "search")
    assert shown.returncode == 0 and "created_at" in shown.stdout and team["id"] in shown.stdout
    project = ok_json(wardgate("projects", "create", "--team", "search", "chatbot", "--json"))
    assert (project["team_id"], project["name"]) == (team["id"], "chatbot")
    projects = ok_json(wardgate("projects", "list", "--team", team["id"], "--json"))
    assert projects["data"] == [project]

    user = ok_json(wardgate("users", "create", "--email", "ann@example.com", "--org-role", "auditor", "--json"))
    assert (user["email"], user["org_role"]) == ("ann@example.com", "auditor")
    member = ok_json(
        wardgate("members", "add", "--team", "search", "--user", "ann@example.com", "--role", "member", "--json")
    )
    assert (member["user_id"], member["team_id"], member["role"]) == (user["id"], team["id"], "member")
    members = wardgate("members", "list", "--team", "search")
    assert members.returncode == 0 and "ann@example.com" in members.stdout

    bot = ok_json(
        wardgate("service-principals", "create", "--team", "search", "support-bot", "--kind", "agent", "--json")
    )
    assert (bot["name"], bot["kind"], bot["team_id"]) == ("support-bot", "agent", team["id"])
    assert "support-bot" in wardgate("service-principals", "list", "--team", "search").stdout

    refused = wardgate("teams", "delete", "search")
    assert refused.returncode == 1 and "409" in refused.stderr and "1 projects" in refused.stderr

    removed = wardgate("members", "remove", "--team", "search", "--user", user["id"])
    assert removed.returncode == 0 and f"Removed {user['id']}" in removed.stdout
    ok_json(wardgate("teams", "create", "short-lived", "--json"))
    assert wardgate("teams", "delete", "short-lived").stdout.startswith("Deleted team team_")
    assert "short-lived" not in wardgate("teams", "list").stdout
