"""The ``limits`` and ``budgets`` fields of keys, teams and projects in admin request bodies.

``limits`` is one :class:`~wardgate.config.limits_config.LimitSet`, validated strictly (an unknown field or a
number out of range is a 400 whose ``param`` is ``limits.<field>``) and stored compactly: fields left at their
defaults are dropped, so ``{}`` means "no limits" and a PATCH with ``"limits": {}`` clears them. A PATCH replaces
the whole set (send every limit that should remain). ``budgets`` is a JSON object kept as given until budgets
define its shape. Answers and change records show both as stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from wardgate.config.limits_config import LimitSet

Limits = Annotated[
    LimitSet,
    Field(
        description="Rate limits of this object (requests_per_minute, tokens_per_minute, tokens_per_day, "
        "concurrent, count, mode, on_unavailable); {} means none. An update replaces the whole set."
    ),
]
Budgets = Annotated[dict[str, Any], Field(description="Budgets of this object (a JSON object, stored as given).")]


def stored_limits(limits: LimitSet) -> dict[str, Any]:
    """The compact JSON form kept in the database: only the fields that differ from their defaults."""
    return limits.model_dump(mode="json", exclude_defaults=True)


def with_stored_limits(values: dict[str, Any], body: BaseModel) -> dict[str, Any]:
    """``values`` (column changes taken from ``body``) with ``limits``, when present, in its stored form."""
    limits = getattr(body, "limits", None)
    if "limits" in values and isinstance(limits, LimitSet):
        values["limits"] = stored_limits(limits)
    return values
