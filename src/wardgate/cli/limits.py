"""Rate-limit options shared by ``wardgate keys``, ``teams`` and ``projects`` (create and update):
``--rpm``, ``--tpm``, ``--tpd``, ``--concurrent`` (a positive number, or ``none`` to remove that limit on update),
``--limit-count input|output|total``, ``--limit-mode audit|enforce``, ``--limit-unavailable open|closed`` and
``--no-limits`` (update: remove every limit). The API replaces an object's whole ``limits`` on update, so
``update`` merges the options into the limits the object has now (read first) and sends the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])
REMOVE = "none"

_NUMBERS = {
    "rpm": ("requests_per_minute", "Requests per minute."),
    "tpm": ("tokens_per_minute", "Tokens per minute."),
    "tpd": ("tokens_per_day", "Tokens per day."),
    "concurrent": ("concurrent", "Requests in flight at once."),
}
_CHOICES = {
    "limit_count": ("count", ("input", "output", "total"), "Which tokens the token limits count (default total)."),
    "limit_mode": ("mode", ("audit", "enforce"), "audit: log would-be refusals, never refuse (default enforce)."),
    "limit_unavailable": ("on_unavailable", ("open", "closed"), "When Redis is down: open (default) or closed."),
}
_SHORT = {"requests_per_minute": "rpm", "tokens_per_minute": "tpm", "tokens_per_day": "tpd"}


class _LimitNumber(click.ParamType[int | str, Any]):
    name = "N|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        text = str(value).strip().lower()
        if text == REMOVE:
            return REMOVE
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a positive whole number (or 'none')", param, ctx)


@dataclass(frozen=True, slots=True)
class LimitChange:
    """What the limit options of one command asked for."""

    values: Mapping[str, Any] = field(default_factory=dict)
    """LimitSet field → new value, or ``REMOVE``."""
    clear: bool = False

    @property
    def empty(self) -> bool:
        return not self.values and not self.clear

    def created(self) -> dict[str, Any] | None:
        """The ``limits`` of a new object (None: the options set none)."""
        if self.clear or any(value == REMOVE for value in self.values.values()):
            raise click.UsageError("--no-limits and 'none' only make sense when updating")
        return dict(self.values) or None

    def applied_to(self, current: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``limits`` an update sends: the current ones (none after ``--no-limits``) with the options applied."""
        limits = {} if self.clear else dict(current or {})
        for name, value in self.values.items():
            if value == REMOVE:
                limits.pop(name, None)
            else:
                limits[name] = value
        return limits


def limit_options(command: F) -> F:
    """Add the limit options to a click command; it receives them as one ``limits: LimitChange`` argument."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(option) for option, (name, _) in _NUMBERS.items()}
        values.update({name: kwargs.pop(option) for option, (name, _, _) in _CHOICES.items()})
        change = LimitChange({k: v for k, v in values.items() if v is not None}, kwargs.pop("no_limits"))
        return command(*args, limits=change, **kwargs)

    decorated: Callable[..., Any] = run
    decorated = click.option("--no-limits", is_flag=True, help="Remove every rate limit (update).")(decorated)
    for option, (_, choices, text) in reversed(_CHOICES.items()):
        flag = "--" + option.replace("_", "-")
        decorated = click.option(flag, option, type=click.Choice(choices), default=None, help=text)(decorated)
    for option, (_, text) in reversed(_NUMBERS.items()):
        decorated = click.option(f"--{option}", option, type=_LimitNumber(), default=None, help=text)(decorated)
    return cast("F", decorated)


def describe(limits: Mapping[str, Any] | None) -> str:
    """One line for tables: ``rpm=600 tpm=200000 mode=audit`` (empty when none)."""
    if not limits:
        return ""
    return " ".join(f"{_SHORT.get(name, name)}={value}" for name, value in limits.items())


def with_described_limits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with ``limits`` shown as :func:`describe` does (for list tables)."""
    return [{**row, "limits": describe(row.get("limits"))} for row in rows]
