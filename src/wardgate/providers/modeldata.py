"""Model data shipped with the package (``wardgate/data/models.yaml``): output limits by model-id prefix."""

from __future__ import annotations

import functools
from importlib import resources

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
