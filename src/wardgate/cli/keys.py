"""``wardgate keys create|list|show|update|revoke|rotate``: virtual keys through a running gateway's admin API.

A new key's secret (create, rotate) goes to stdout alone, so ``KEY=$(wardgate keys create …)`` captures it; what
was made and the warning that the secret is not shown again go to stderr. ``--json`` prints the whole answer.
Durations are a number with an optional unit: ``45s``, ``15m``, ``12h``, ``30d``, ``2w`` (no unit: seconds).
``create`` and ``update`` take the rate-limit options of ``cli.limits`` (``--rpm``, ``--tpm``, ``--tpd``,
``--concurrent``, ``--limit-mode`` …) and budget options (``--budget-usd``, ``--budget-period``, ``--budget-mode``,
``--no-budget``); ``show`` prints the key's limits and budget.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from wardgate.cli.admin_client import AdminClient, connection_options, show
from wardgate.cli.base import main
from wardgate.cli.limits import LimitChange, limit_options

COLUMNS = ("id", "name", "prefix", "team_id", "role", "allowed_models", "status", "expires_at")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
NOT_SHOWN_AGAIN = "Copy the key now: it is not shown again (the gateway keeps only its hash)."


def parse_duration(text: str) -> int:
    """Seconds in ``30d`` / ``12h`` / ``15m`` / ``45s`` / ``2w`` / ``90``; ``ValueError`` otherwise."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 12h, 15m, 45s)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _models(value: str | None) -> list[str] | None:
    if value is None:
        return None
    models = [name.strip() for name in value.split(",") if name.strip()]
    if not models:
        raise click.BadParameter("name at least one model", param_hint="--models")
    return models


@main.group("keys")
def keys_group() -> None:
    """Virtual keys: create (the secret is shown once), list, show, update, revoke, rotate."""


@keys_group.command("create")
@click.option("--team", required=True, help="Team id or name.")
@click.option("--models", default=None, help="Comma-separated models (aliases too) the key may call; default: all.")
@click.option("--name", default=None, help="A name for the key (default: its display prefix).")
@click.option("--role", type=click.Choice(["member", "team_admin", "viewer"]), default="member", show_default=True)
@click.option("--expires-in", default=None, callback=_duration, help="Lifetime, e.g. 30d, 12h, 15m.")
@click.option("--project", default=None, help="Project id.")
@click.option("--user", default=None, help="Owner's user id (team admins only).")
@click.option("--service-principal", default=None, help="Service principal id (the app or agent using the key).")
@limit_options
@connection_options
def create(
    team: str,
    models: str | None,
    name: str | None,
    role: str,
    expires_in: int | None,
    project: str | None,
    user: str | None,
    service_principal: str | None,
    url: str | None,
    as_json: bool,
    limits: LimitChange,
) -> None:
    """Create a key and print its secret once."""
    body: dict[str, Any] = {"team": team, "role": role}
    optional = {
        "allowed_models": _models(models),
        "name": name,
        "expires_in": expires_in,
        "project_id": project,
        "user_id": user,
        "service_principal_id": service_principal,
        "limits": limits.created(),
        "budgets": limits.created_budget(),
    }
    body.update({field: value for field, value in optional.items() if value is not None})
    created = AdminClient(url).post("/keys", body)
    _print_secret(created, as_json, f"Created key {created['id']} ({_describe(created)}).")


@keys_group.command("list")
@click.option("--team", default=None, help="Only this team (id or name).")
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@connection_options
def list_keys(team: str | None, show_all: bool, url: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    client = AdminClient(url)
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = client.get("/keys", team=team, revoked=None if show_all else "false", limit=1000, after=after)
        rows += page["data"]
        after = page["last_id"]
        if not page["has_more"]:
            break
    show({"object": "list", "data": rows}, COLUMNS, as_json=as_json, title="Keys")


@keys_group.command("show")
@click.argument("key_id")
@connection_options
def show_key(key_id: str, url: str | None, as_json: bool) -> None:
    """Show one key."""
    _show_one(AdminClient(url).get(f"/keys/{key_id}"), as_json)


@keys_group.command("update")
@click.argument("key_id")
@click.option("--models", default=None, help="Comma-separated models the key may call.")
@click.option("--all-models", is_flag=True, help="Let the key call every model.")
@click.option("--name", default=None)
@click.option("--role", type=click.Choice(["member", "team_admin", "viewer"]), default=None)
@click.option("--expires-in", default=None, callback=_duration, help="New lifetime from now, e.g. 30d.")
@click.option("--no-expiry", is_flag=True, help="The key never expires.")
@click.option("--enable/--disable", "enabled", default=None, help="Switch the key on or off.")
@limit_options
@connection_options
def update(
    key_id: str,
    models: str | None,
    all_models: bool,
    name: str | None,
    role: str | None,
    expires_in: int | None,
    no_expiry: bool,
    enabled: bool | None,
    url: str | None,
    as_json: bool,
    limits: LimitChange,
) -> None:
    """Change some of a key's settings (limit options change only the limits they name)."""
    if models is not None and all_models:
        raise click.UsageError("give --models or --all-models, not both")
    if expires_in is not None and no_expiry:
        raise click.UsageError("give --expires-in or --no-expiry, not both")
    body: dict[str, Any] = {
        field: value
        for field, value in {
            "allowed_models": _models(models),
            "name": name,
            "role": role,
            "expires_in": expires_in,
            "enabled": enabled,
        }.items()
        if value is not None
    }
    if all_models:
        body["allowed_models"] = None
    if no_expiry:
        body["expires_at"] = None
    client = AdminClient(url)
    if not limits.empty:
        body.update(limits.patch(client.get(f"/keys/{key_id}")))
    if not body:
        raise click.UsageError("nothing to change")
    _show_one(client.patch(f"/keys/{key_id}", body), as_json)


@keys_group.command("revoke")
@click.argument("key_id")
@connection_options
def revoke(key_id: str, url: str | None, as_json: bool) -> None:
    """Revoke a key for good (every replica stops accepting it within 2 s)."""
    revoked = AdminClient(url).post(f"/keys/{key_id}/revoke")
    if as_json:
        click.echo(json.dumps(revoked, indent=2, sort_keys=True))
        return
    click.echo(f"Revoked key {revoked['id']} ({revoked['name']}) at {revoked['revoked_at']}.")


@keys_group.command("rotate")
@click.argument("key_id")
@click.option("--grace", default="0", callback=_duration, show_default=True, help="How long the old key keeps working.")
@connection_options
def rotate(key_id: str, grace: int, url: str | None, as_json: bool) -> None:
    """Replace a key with a new one of the same settings and print the new secret once."""
    rotated = AdminClient(url).post(f"/keys/{key_id}/rotate", {"grace_seconds": grace})
    old = rotated["rotated_from"]
    until = "stops now" if old["status"] == "expired" else f"keeps working until {old['expires_at']}"
    _print_secret(rotated, as_json, f"Rotated key {old['id']} to {rotated['id']}; the old key {until}.")


def _describe(key: dict[str, Any]) -> str:
    models = ", ".join(key["allowed_models"]) if key["allowed_models"] is not None else "every model"
    expiry = f"expires {key['expires_at']}" if key["expires_at"] else "no expiry"
    return f"team {key['team_id']}, role {key['role']}, {models}, {expiry}"


def _print_secret(answer: dict[str, Any], as_json: bool, summary: str) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2, sort_keys=True))
    else:
        click.echo(summary, err=True)
        click.echo(answer["key"])
    click.echo(NOT_SHOWN_AGAIN, err=True)


def _show_one(key: dict[str, Any], as_json: bool) -> None:
    if as_json:
        show(key, (), as_json=True)
        return
    show([{"field": name, "value": value} for name, value in key.items()], ("field", "value"), as_json=False)
