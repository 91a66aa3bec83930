"""The resolved price of one model: frozen values the request path reads, built once per price book."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Rates:
    """Token prices in USD per million tokens, every default already applied."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    reasoning: Decimal

    def scaled(self, factor: Decimal) -> Rates:
        return Rates(
            self.input * factor,
            self.output * factor,
            self.cached_input * factor,
            self.cache_write_5m * factor,
            self.cache_write_1h * factor,
            self.reasoning * factor,
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "cached_input": str(self.cached_input),
            "cache_write_5m": str(self.cache_write_5m),
            "cache_write_1h": str(self.cache_write_1h),
            "reasoning": str(self.reasoning),
        }


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices for one period: base token rates, long-context tiers, per-request and per-image prices
    and the batch discount. ``provider`` is the price list it comes from (a provider type), ``model`` its name
    there."""

    model: str
    provider: str
    rates: Rates
    tiers: tuple[tuple[int, Rates], ...] = ()
    """(above_input_tokens, rates), ascending: a request whose input exceeds a threshold is priced at its rates."""
    per_request: Decimal = ZERO
    per_image: Decimal = ZERO
    batch_discount: Decimal | None = None
    """The share a batch request saves (0.5 = half price); None: the model has no batch price."""
    kind: str = "chat"
    effective_from: datetime.date | None = None
    effective_until: datetime.date | None = None
    """The first day of the next period (exclusive); None: still in effect."""
    aliases: tuple[str, ...] = ()
    source: str | None = None
    note: str | None = None

    def rates_for(self, input_tokens: int) -> Rates:
        """The rates for a request with this many input tokens (cached and written ones included)."""
        rates = self.rates
        for threshold, tier in self.tiers:
            if input_tokens <= threshold:
                break
            rates = tier
        return rates

    def scaled(self, factor: Decimal) -> ModelPrice:
        """Every price multiplied by ``factor`` (a negotiated discount or surcharge)."""
        if factor == ONE:
            return self
        return replace(
            self,
            rates=self.rates.scaled(factor),
            tiers=tuple((threshold, rates.scaled(factor)) for threshold, rates in self.tiers),
            per_request=self.per_request * factor,
            per_image=self.per_image * factor,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (prices as exact decimal strings)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "kind": self.kind,
            **self.rates.as_dict(),
            "tiers": [{"above_input_tokens": threshold, **rates.as_dict()} for threshold, rates in self.tiers],
            "per_request": str(self.per_request),
            "per_image": str(self.per_image),
            "batch_discount": None if self.batch_discount is None else str(self.batch_discount),
            "effective_from": None if self.effective_from is None else self.effective_from.isoformat(),
            "effective_until": None if self.effective_until is None else self.effective_until.isoformat(),
            "aliases": list(self.aliases),
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class PricedModel:
    """A model's price periods, oldest first; the oldest also prices any earlier day."""

    periods: tuple[ModelPrice, ...]

    @property
    def current(self) -> ModelPrice:
        return self.periods[-1]

    def at(self, day: datetime.date | None = None) -> ModelPrice:
        """The period in effect on ``day`` (default: today, UTC)."""
        periods = self.periods
        if len(periods) == 1:
            return periods[0]
        day = day or datetime.datetime.now(datetime.UTC).date()
        for period in reversed(periods):
            if period.effective_from is None or period.effective_from <= day:
                return period
        return periods[0]

    def scaled(self, factor: Decimal) -> PricedModel:
        if factor == ONE:
            return self
        return PricedModel(tuple(period.scaled(factor) for period in self.periods))
