"""How CLI commands talk to a running gateway's admin API: base URL from ``--url`` or ``WARDGATE_URL`` (default
http://127.0.0.1:4000), credentials from ``WARDGATE_ADMIN_KEY`` (else ``WARDGATE_MASTER_KEY``); answers printed as
tables on a terminal (rich) or as JSON with ``--json``. Errors are one line on stderr and exit status 1."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

DEFAULT_URL = "http://127.0.0.1:4000"
F = TypeVar("F", bound=Callable[..., Any])


class AdminClient:
    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("WARDGATE_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            fail(f"the gateway URL must start with http:// or https://, got {self.url!r}")
        self.key = key or os.environ.get("WARDGATE_ADMIN_KEY") or os.environ.get("WARDGATE_MASTER_KEY")
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        """The decoded answer; an error is one line on stderr and exit status 1 (with ``missing_ok``, a 404 is
        ``None``)."""
        url = f"{self.url}/admin/v1{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            fail(_error_message(exc))
        except urllib.error.URLError as exc:
            fail(f"cannot reach the gateway at {self.url}: {exc.reason}")
        return json.loads(raw) if raw else None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        return f"{exc.code}: {error['message']}"
    except Exception:
        return f"{exc.code}: {exc.reason}"


def fail(message: str) -> Any:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def connection_options(command: F) -> F:
    """``--url`` and ``--json`` on every admin command; the command receives ``client`` and ``as_json``."""
    command = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")(command)
    return click.option("--url", default=None, help="Gateway URL (default: $WARDGATE_URL or " + DEFAULT_URL + ").")(
        command
    )


def show(data: Any, columns: Sequence[str], *, as_json: bool, title: str | None = None) -> None:
    """A list envelope, a list or one object: JSON, or a table with these columns."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    rows: Iterable[dict[str, Any]]
    if isinstance(data, dict) and data.get("object") == "list":
        rows = data.get("data", [])
    elif isinstance(data, list):
        rows = data
    else:
        rows = [data]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
