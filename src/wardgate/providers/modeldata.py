"""Model data shipped with the package (``wardgate/data/models.yaml``), by model-id prefix: output limits, and
profiles (context window; tools, vision and JSON schema support)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@functools.cache
def _max_output_table() -> tuple[int, tuple[tuple[str, int], ...]]:
    text = resources.files("wardgate").joinpath("data/models.yaml").read_text(encoding="utf-8")
    table: dict[str, int] = dict(yaml.safe_load(text)["max_output_tokens"])
    default = table.pop("default")
    return default, tuple(sorted(table.items(), key=lambda item: -len(item[0])))


@functools.lru_cache(maxsize=4096)
def max_output_tokens(model: str) -> int:
    """The documented output limit for ``model`` (longest matching prefix), else the table's default."""
    default, prefixes = _max_output_table()
    for prefix, limit in prefixes:
        if model.startswith(prefix):
            return limit
    return default


CAPABILITIES = ("tools", "vision", "json_schema")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a model accepts (``profiles`` in models.yaml)."""

    context: int | None
    lacks: frozenset[str]
    """Capabilities of ``CAPABILITIES`` the model does not have."""


@functools.cache
def _profiles() -> tuple[tuple[str, ModelProfile], ...]:
    text = resources.files("wardgate").joinpath("data/models.yaml").read_text(encoding="utf-8")
    table: dict[str, dict[str, Any]] = yaml.safe_load(text).get("profiles", {})
    profiles = [
        (prefix, ModelProfile(entry.get("context"), frozenset(c for c in CAPABILITIES if entry.get(c) is False)))
        for prefix, entry in table.items()
    ]
    return tuple(sorted(profiles, key=lambda item: -len(item[0])))


@functools.lru_cache(maxsize=4096)
def model_profile(model: str) -> ModelProfile | None:
    """The profile of ``model`` (longest matching prefix), or None for a model the data does not know."""
    for prefix, profile in _profiles():
        if model.startswith(prefix):
            return profile
    return None
