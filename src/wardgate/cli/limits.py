"""Rate-limit options shared by ``wardgate keys``, ``teams`` and ``projects`` (create and update):
``--rpm``, ``--tpm``, ``--tpd``, ``--concurrent`` (a positive number, or ``none`` to remove that limit on update),
``--limit-count input|output|total``, ``--limit-mode audit|enforce``, ``--limit-unavailable open|closed`` and
``--no-limits`` (update: remove every limit). The API replaces an object's whole ``limits`` on update, so
``update`` merges the options into the limits the object has now (read first) and sends the result.

The same commands take the object's own budget: ``--budget-usd AMOUNT``, ``--budget-period
daily|weekly|monthly|total`` (default monthly), ``--budget-mode audit|enforce`` and ``--no-budget`` (update: remove
it); an update merges them into the current budget the same way (a new budget needs ``--budget-usd``).
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
_BUDGET = {"budget_usd": "amount_usd", "budget_period": "period", "budget_mode": "mode"}


def _budget(budget: dict[str, Any]) -> dict[str, Any]:
    if "amount_usd" not in budget:
        raise click.UsageError("a budget needs --budget-usd")
    return budget


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
    budget: Mapping[str, Any] = field(default_factory=dict)
    """BudgetSet field (amount_usd, period, mode) → new value."""
    no_budget: bool = False

    @property
    def empty(self) -> bool:
        """Nothing asked: neither the limits nor the budget change."""
        return not self.values and not self.clear and not self.budget_changed

    @property
    def limits_changed(self) -> bool:
        return bool(self.values) or self.clear

    @property
    def budget_changed(self) -> bool:
        return bool(self.budget) or self.no_budget

    def created_budget(self) -> dict[str, Any] | None:
        """The ``budgets`` of a new object (None: the options set none)."""
        if self.no_budget:
            raise click.UsageError("--no-budget only makes sense when updating")
        return _budget(dict(self.budget)) if self.budget else None

    def budget_applied_to(self, current: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``budgets`` an update sends: the current budget (none after ``--no-budget``) with the options."""
        budget = {} if self.no_budget else dict(current or {})
        budget.update(self.budget)
        return _budget(budget) if budget else {}

    def patch(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """The ``limits`` and ``budgets`` an update of the object ``current`` sends (only those that change)."""
        body: dict[str, Any] = {}
        if self.limits_changed:
            body["limits"] = self.applied_to(current.get("limits"))
        if self.budget_changed:
            body["budgets"] = self.budget_applied_to(current.get("budgets"))
        return body

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
        budget = {name: kwargs.pop(option) for option, name in _BUDGET.items()}
        change = LimitChange(
            {k: v for k, v in values.items() if v is not None},
            kwargs.pop("no_limits"),
            {k: v for k, v in budget.items() if v is not None},
            kwargs.pop("no_budget"),
        )
        return command(*args, limits=change, **kwargs)

    decorated: Callable[..., Any] = run
    decorated = click.option("--no-budget", is_flag=True, help="Remove the budget (update).")(decorated)
    decorated = click.option(
        "--budget-mode",
        "budget_mode",
        type=click.Choice(("audit", "enforce")),
        default=None,
        help="audit: alert and log, never refuse (default enforce).",
    )(decorated)
    decorated = click.option(
        "--budget-period",
        "budget_period",
        type=click.Choice(("daily", "weekly", "monthly", "total")),
        default=None,
        help="The budget's window, a UTC calendar period (default monthly).",
    )(decorated)
    decorated = click.option(
        "--budget-usd",
        "budget_usd",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Spend budget in USD per period.",
    )(decorated)
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


def describe_budget(budget: Mapping[str, Any] | None) -> str:
    """One line for tables: ``$500 monthly audit`` (empty when none)."""
    if not budget or "amount_usd" not in budget:
        return ""
    mode = " audit" if budget.get("mode") == "audit" else ""
    return f"${budget['amount_usd']:g} {budget.get('period', 'monthly')}{mode}"


def with_described_limits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with ``limits`` and ``budgets`` shown as :func:`describe` and :func:`describe_budget` do (for tables)."""
    return [
        {**row, "limits": describe(row.get("limits")), "budgets": describe_budget(row.get("budgets"))} for row in rows
    ]
