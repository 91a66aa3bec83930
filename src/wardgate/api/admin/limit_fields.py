"""The ``limits`` and ``budgets`` fields of keys, teams and projects in admin request bodies.

``limits`` is one :class:`~wardgate.config.limits_config.LimitSet`, validated strictly (an unknown field or a
number out of range is a 400 whose ``param`` is ``limits.<field>``) and stored compactly: fields left at their
defaults are dropped, so ``{}`` means "no limits" and a PATCH with ``"limits": {}`` clears them. A PATCH replaces
the whole set (send every limit that should remain). ``budgets`` is one
:class:`~wardgate.config.budgets_config.BudgetSet` (``amount_usd`` required; ``period``, ``alerts``, ``mode``),
validated and stored the same way (``budgets.<field>`` names a bad field); ``{}`` means "no budget" and clears it,
``null`` is refused. Answers and change records show both as stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidatorFunctionWrapHandler, WrapValidator

from wardgate.config.budgets_config import BudgetSet
from wardgate.config.limits_config import LimitSet

Limits = Annotated[
    LimitSet,
    Field(
        description="Rate limits of this object (requests_per_minute, tokens_per_minute, tokens_per_day, "
        "concurrent, count, mode, on_unavailable); {} means none. An update replaces the whole set."
    ),
]


def _budget_or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> BudgetSet | None:
    """``{}`` → None (no budget); ``null`` is refused (send ``{}``); anything else must be a ``BudgetSet``."""
    if value is None:
        raise ValueError("may not be null; send {} for no budget")
    if value == {}:
        return None
    budget: BudgetSet | None = handler(value)
    return budget


Budgets = Annotated[
    BudgetSet | None,
    WrapValidator(_budget_or_none),
    Field(
        description="Spend budget of this object (amount_usd, period daily|weekly|monthly|total, alerts, mode); "
        "{} means none. An update replaces the whole budget."
    ),
]


def stored_limits(limits: LimitSet) -> dict[str, Any]:
    """The compact JSON form kept in the database: only the fields that differ from their defaults."""
    return limits.model_dump(mode="json", exclude_defaults=True)


def stored_budgets(budget: BudgetSet | None) -> dict[str, Any]:
    """The compact JSON form of a budget (``{}``: none): only the fields that differ from their defaults."""
    return budget.model_dump(mode="json", exclude_defaults=True) if budget is not None else {}


def with_stored_limits(values: dict[str, Any], body: BaseModel) -> dict[str, Any]:
    """``values`` (column changes taken from ``body``) with ``limits`` and ``budgets``, when present, in their
    stored forms (a ``budgets`` of None here is a ``{}`` that was sent: null never validates)."""
    limits = getattr(body, "limits", None)
    if "limits" in values and isinstance(limits, LimitSet):
        values["limits"] = stored_limits(limits)
    if "budgets" in values:
        values["budgets"] = stored_budgets(getattr(body, "budgets", None))
    return values
