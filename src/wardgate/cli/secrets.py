"""``wardgate secrets``: provider credentials kept encrypted by the gateway and referenced from the config as
``${credential:NAME}``.

``set``, ``list`` and ``delete`` go through a running gateway's admin API (``--url`` / ``WARDGATE_URL``, key from
``WARDGATE_ADMIN_KEY`` or ``WARDGATE_MASTER_KEY``). ``set`` reads the secret from stdin or a prompt that does not
echo, never from the command line (argv is visible to every user of the host and lands in shell history).
``generate-key`` prints a new vault master key; ``rotate-master-key`` runs locally against the database, like
``wardgate db upgrade``, and re-wraps every credential under the new master key.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from typing import TYPE_CHECKING, Any

import click

from wardgate.cli.admin_client import AdminClient, connection_options, fail, show
from wardgate.cli.base import main, run_with_database
from wardgate.settings import Settings

if TYPE_CHECKING:
    from wardgate.storage.database import Database

COLUMNS = ("name", "version", "fingerprint", "last4", "key_id", "updated_at", "description")


@main.group("secrets")
def secrets_group() -> None:
    """Provider credentials: stored encrypted (AES-256-GCM), referenced in the config as ${credential:NAME}."""


def _path(name: str) -> str:
    return "/credentials/" + urllib.parse.quote(name, safe="")


def read_secret(name: str) -> str:
    """The secret from stdin (one trailing newline dropped) or, on a terminal, a hidden prompt asked twice."""
    stdin = sys.stdin
    if stdin.isatty():
        value: str = click.prompt(f"Secret for {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = stdin.read().rstrip("\r\n")
    if not value.strip():
        fail("the secret is empty; pipe it on stdin or type it at the prompt")
    return value


@secrets_group.command("set")
@click.argument("name")
@click.option("--description", default=None, help="What the credential is for (shown in lists).")
@connection_options
def secrets_set(name: str, description: str | None, url: str | None, as_json: bool) -> None:
    """Store NAME, or replace its secret (rotation: running gateways switch within a second, no restart).

    The secret is read from stdin (`wardgate secrets set openai < key.txt`) or typed at a hidden prompt."""
    secret = read_secret(name)
    client = AdminClient(url)
    body: dict[str, Any] = {"secret": secret}
    if description is not None:
        body["description"] = description
    if client.request("GET", _path(name), missing_ok=True) is None:
        info = client.post("/credentials", {"name": name, **body})
    else:
        info = client.put(_path(name), body)
    show(info, COLUMNS, as_json=as_json)


@secrets_group.command("list")
@connection_options
def secrets_list(url: str | None, as_json: bool) -> None:
    """Every stored credential: fingerprint and last 4 characters, never the secret."""
    client = AdminClient(url)
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = client.get("/credentials", limit=1000, after=after)
        rows += page["data"]
        if not page["has_more"]:
            break
        after = page["last_id"]
    rows.sort(key=lambda row: str(row["name"]))
    show({"object": "list", "data": rows}, COLUMNS, as_json=as_json, title="credentials")


@secrets_group.command("delete")
@click.argument("name")
@connection_options
def secrets_delete(name: str, url: str | None, as_json: bool) -> None:
    """Delete NAME (refused while the active config references it)."""
    answer = AdminClient(url).delete(_path(name))
    if as_json:
        show(answer, (), as_json=True)
    else:
        click.echo(f"deleted credential {name}")


@secrets_group.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new random vault master key (for WARDGATE_SECRET_KEY)."""
    from wardgate.vault import generate_key

    click.echo(generate_key())
    click.echo("Keep it in your secret store; stored credentials cannot be decrypted without it.", err=True)


@secrets_group.command("rotate-master-key")
def secrets_rotate_master_key() -> None:
    """Re-wrap every stored credential under the current master key.

    Run it with WARDGATE_SECRET_KEY set to the new key and WARDGATE_SECRET_KEY_PREVIOUS to the old one (the
    gateways should already run with both). Afterwards every credential opens with the new key alone and the old
    one can be removed. Uses the database the gateway uses (WARDGATE_DATABASE_URL or the config's database_url)."""
    from wardgate.config.loader import ConfigError, load_config_file
    from wardgate.storage.credentials import rewrap_all
    from wardgate.storage.migrate import upgrade
    from wardgate.vault import VaultError, load_keyring

    settings = Settings.from_env()
    try:
        configured = load_config_file(settings.config_path).config.database_url if settings.config_path else None
        keyring = load_keyring(os.environ, settings.data_dir)
    except (ConfigError, VaultError) as exc:
        fail(str(exc))

    async def work(db: Database) -> int:
        await upgrade(db)
        async with db.engine.begin() as conn:
            return await rewrap_all(conn, keyring)

    try:
        count = run_with_database(settings, configured, work)
    except VaultError as exc:
        fail(f"{exc} (nothing was changed)")
    click.echo(f"re-wrapped {count} credential(s) under master key {keyring.current.key_id}")
    click.echo(
        "Every stored credential now opens with the current key alone: once every gateway runs with it, "
        "remove WARDGATE_SECRET_KEY_PREVIOUS.",
        err=True,
    )
