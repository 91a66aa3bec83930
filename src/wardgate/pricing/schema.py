"""The shipped price catalog (``wardgate/data/prices.yaml``): its strict schema, the cached parse, and how an entry
becomes :class:`~wardgate.pricing.model.ModelPrice` periods.

The file lists, per provider type, the models of that provider's price list. An entry's key is a model id; it also
prices that id's dated snapshots (``claude-sonnet-4-5-20250929``, ``gpt-4o-2024-11-20``, ``…@20250929``,
``…-v1:0``) unless a snapshot has an entry of its own, and the exact ids in ``aliases``. A key or alias ending in
``*`` prices every id that starts with the rest; the shipped file uses none, because a prefix also prices models
released later at the old model's price.
"""

from __future__ import annotations

import datetime
import functools
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wardgate.config.prices_config import (
    Fraction,
    Kind,
    ModelName,
    Price,
    PriceTier,
    ProviderType,
    TokenRates,
)
from wardgate.pricing.model import ZERO, ModelPrice, PricedModel, Rates

_OPTIONAL_RATES = ("cached_input", "cache_write_5m", "cache_write_1h", "reasoning")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Period(TokenRates):
    """Token prices plus what else a price period holds."""

    per_request: Price = ZERO
    per_image: Price = ZERO
    tiers: list[PriceTier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> _Period:
        self._require_input_output("a price")
        thresholds = [tier.above_input_tokens for tier in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must be in ascending order of `above_input_tokens`, each threshold once")
        for name in _OPTIONAL_RATES:  # a tier that forgot a discounted price would silently charge the default
            if getattr(self, name) is not None and any(getattr(tier, name) is None for tier in self.tiers):
                raise ValueError(f"every tier needs `{name}`, as the base price gives one")
        return self


class PricePeriod(_Period):
    """An earlier price of an entry, in effect until the next period's ``effective_from``."""

    effective_from: datetime.date | None = Field(default=None, description="Absent: since the model's release.")


class CatalogEntry(_Period):
    kind: Kind = "chat"
    aliases: list[ModelName] = Field(default_factory=list)
    batch_discount: Fraction | None = Field(default=None, description="Default: the provider section's.")
    effective_from: datetime.date | None = None
    history: list[PricePeriod] = Field(default_factory=list, description="Earlier prices, oldest first.")
    source: str | None = None
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _ordered_history(self) -> CatalogEntry:
        if not self.history:
            return self
        if self.effective_from is None:
            raise ValueError("an entry with `history` needs `effective_from`")
        starts = [period.effective_from for period in self.history]
        if any(start is None for start in starts[1:]):
            raise ValueError("only the oldest history period may omit `effective_from`")
        dated = [start for start in starts if start is not None] + [self.effective_from]
        if dated != sorted(set(dated)):
            raise ValueError("history periods must be oldest first and start before `effective_from`")
        return self


class ProviderSection(_Strict):
    source: str = Field(min_length=1, description="Where these prices come from (a URL).")
    batch_discount: Fraction | None = None
    fallback: list[ProviderType] = Field(
        default_factory=list, description="Price lists consulted for a model this one lacks, in order."
    )
    note: str | None = None
    models: dict[ModelName, CatalogEntry] = Field(default_factory=dict)


class CatalogFile(_Strict):
    version: str = Field(min_length=1)
    checked: datetime.date = Field(description="When the prices were last compared with their sources.")
    providers: dict[ProviderType, ProviderSection]

    @model_validator(mode="after")
    def _consistent(self) -> CatalogFile:
        for provider, section in self.providers.items():
            for target in section.fallback:
                if target == provider or target not in self.providers:
                    raise ValueError(f"{provider}: fallback `{target}` is not another provider of the catalog")
            duplicates = duplicate_names(section.models)
            if duplicates:
                raise ValueError(f"{provider}: model names listed twice: {', '.join(duplicates)}")
        return self


def duplicate_names(models: dict[str, CatalogEntry]) -> list[str]:
    """Keys and aliases that occur more than once (case-insensitively)."""
    seen: set[str] = set()
    duplicates: list[str] = []
    for key, entry in models.items():
        for name in (key, *entry.aliases):
            folded = name.lower()
            if folded in seen:
                duplicates.append(name)
            seen.add(folded)
    return duplicates


@functools.cache
def shipped_catalog() -> CatalogFile:
    """The catalog shipped with the package, parsed and validated once per process."""
    text = resources.files("wardgate").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses it ~7x faster when present
    return parse_catalog(yaml.load(text, Loader=loader))  # noqa: S506 (a safe loader either way)


def parse_catalog(data: Any) -> CatalogFile:
    """Validate catalog data (raises pydantic's ValidationError with every problem)."""
    return CatalogFile.model_validate(data)


def resolve_entry(provider: str, key: str, entry: CatalogEntry, section: ProviderSection | None) -> PricedModel:
    """An entry as price periods, oldest first, each with every default applied."""
    batch = entry.batch_discount if entry.batch_discount is not None else (section.batch_discount if section else None)
    common: dict[str, Any] = {
        "model": key,
        "provider": provider,
        "batch_discount": batch,
        "kind": entry.kind,
        "aliases": tuple(entry.aliases),
        "source": entry.source or (section.source if section else None),
        "note": entry.note,
    }
    periods: list[_Period] = [*entry.history, entry]
    starts = [period.effective_from for period in entry.history] + [entry.effective_from]
    resolved = []
    for index, period in enumerate(periods):
        until = starts[index + 1] if index + 1 < len(starts) else None
        resolved.append(
            ModelPrice(
                rates=resolve_rates(period),
                tiers=tuple((tier.above_input_tokens, resolve_rates(tier)) for tier in period.tiers),
                per_request=period.per_request,
                per_image=period.per_image,
                effective_from=starts[index],
                effective_until=until,
                **common,
            )
        )
    return PricedModel(tuple(resolved))


def resolve_rates(rates: TokenRates) -> Rates:
    """Token rates with the defaults filled in: cached_input and cache_write_5m → input, cache_write_1h →
    cache_write_5m, reasoning → output."""
    if rates.input is None or rates.output is None:
        raise ValueError("a price needs both `input` and `output`")
    write_5m = rates.cache_write_5m if rates.cache_write_5m is not None else rates.input
    return Rates(
        input=rates.input,
        output=rates.output,
        cached_input=rates.cached_input if rates.cached_input is not None else rates.input,
        cache_write_5m=write_5m,
        cache_write_1h=rates.cache_write_1h if rates.cache_write_1h is not None else write_5m,
        reasoning=rates.reasoning if rates.reasoning is not None else rates.output,
    )
