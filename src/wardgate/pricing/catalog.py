"""The price book: the shipped catalog plus the config's ``prices`` section, and the lookup from (provider type,
upstream model) to a :class:`ModelPrice`.

How a model finds its price, first match wins:

1. an explicit ``price_model`` (what the operator says prices this deployment), else a ``prices.deployments``
   mapping for the model (on its provider name, else its provider type, else any provider), names the entry;
2. the provider type's own price list, then its fallbacks (``azure_openai`` → ``openai``, ``vertex_ai`` →
   ``gemini``; an explicit price model may also name any other list's entry);
3. in each list: the exact id or an alias, then the id without a snapshot suffix (``-20250929``, ``-2024-11-20``,
   ``@20250929``, ``-001``, ``-latest``, ``-v1:0``), then the same without a Bedrock inference-profile prefix
   (``us.``, ``eu.``, ``apac.``, ``global.`` …), then the longest ``*`` prefix entry.

Ids compare case-insensitively. A model nothing prices has no price (None): the caller decides what an unpriced
request means; the gateway never invents one. The first lookup of a (provider type, model, …) resolves and caches
the entry (a bounded dict), so later lookups are one dict read.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal

from wardgate.config.prices_config import PriceMapping, PricesConfig
from wardgate.pricing.model import ONE, ModelPrice, PricedModel
from wardgate.pricing.overrides import Sections, build_sections
from wardgate.pricing.schema import shipped_catalog

_SNAPSHOT = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{3}|latest))?(?:-v\d+(?::\d+)?)?$")
_PROFILE = re.compile(r"^(?:global|us|us-gov|eu|apac|jp|au|ca)\.")
_RESOURCE = re.compile(r"^(?:publishers/[^/]+/)?models/")
_CACHE_SIZE = 4096

CacheKey = tuple[str, str, str | None, str | None]


class PriceConfigError(ValueError):
    """The config's ``prices`` section cannot be applied; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _Index:
    """One provider type's price list: exact names (keys and aliases) and ``*`` prefixes, longest first."""

    __slots__ = ("models", "names", "prefixes")

    def __init__(self, models: Mapping[str, PricedModel]) -> None:
        self.models = dict(models)
        self.names: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        for key, priced in models.items():
            for name in (key, *priced.current.aliases):
                folded = name.lower()
                if folded.endswith("*"):
                    prefixes.append((folded[:-1], key))
                else:
                    self.names.setdefault(folded, key)
        self.prefixes = tuple(sorted(prefixes, key=lambda item: -len(item[0])))

    def match(self, candidates: list[str]) -> PricedModel | None:
        """The entry for the first candidate name listed exactly, else for the longest ``*`` prefix of any."""
        for candidate in candidates:
            key = self.names.get(candidate)
            if key is not None:
                return self.models[key]
        for candidate in candidates:
            for prefix, key in self.prefixes:
                if candidate.startswith(prefix):
                    return self.models[key]
        return None


class PriceBook:
    """Prices for every model the catalog and the config know; build one per config snapshot with :meth:`load`."""

    __slots__ = ("_cache", "_factors", "_fallbacks", "_indexes", "_mappings", "checked", "version")

    def __init__(
        self,
        sections: Sections,
        *,
        fallbacks: Mapping[str, tuple[str, ...]] | None = None,
        mappings: list[PriceMapping] | None = None,
        provider_factors: Mapping[str, Decimal] | None = None,
        version: str = "",
        checked: datetime.date | None = None,
    ) -> None:
        self._indexes = {provider: _Index(models) for provider, models in sections.items()}
        self._fallbacks = dict(fallbacks or {})
        self._factors = dict(provider_factors or {})
        self._mappings: dict[str, list[PriceMapping]] = {}
        for mapping in mappings or ():
            self._mappings.setdefault(mapping.model.lower(), []).append(mapping)
        self._cache: dict[CacheKey, PricedModel | None] = {}
        self.version = version
        self.checked = checked

    @classmethod
    def load(cls, overrides: PricesConfig | None = None) -> PriceBook:
        """The shipped catalog (parsed once per process) with ``overrides`` applied. Raises
        :class:`PriceConfigError` naming every problem (an unknown model without a provider, a mapping to a price
        that does not exist, …)."""
        sections, fallbacks, problems = build_sections(overrides)
        catalog = shipped_catalog()
        book = cls(
            sections,
            fallbacks=fallbacks,
            mappings=list(overrides.deployments) if overrides else None,
            provider_factors={str(k): v for k, v in overrides.provider_factors.items()} if overrides else None,
            version=catalog.version,
            checked=catalog.checked,
        )
        for index, mapping in enumerate(overrides.deployments if overrides else ()):
            if book._find(None, mapping.price_model, anywhere=True) is None:
                problems.append(f"prices.deployments[{index}].price_model: no price for `{mapping.price_model}`")
        if problems:
            raise PriceConfigError(problems)
        return book

    def lookup(
        self,
        provider_type: str,
        model: str,
        *,
        provider_name: str | None = None,
        price_model: str | None = None,
        at: datetime.date | None = None,
    ) -> ModelPrice | None:
        """The price of ``model`` (the upstream model a deployment calls) on a provider of ``provider_type``, in
        effect on ``at`` (default: today); ``provider_name`` lets a ``prices.deployments`` mapping scoped to one
        provider apply, ``price_model`` names the entry outright. None: nothing prices it."""
        key = (provider_type, model, provider_name, price_model)
        try:
            priced = self._cache[key]
        except KeyError:
            priced = self._resolve(provider_type, model, provider_name, price_model)
            if len(self._cache) >= _CACHE_SIZE:  # bounded: model names come from config, but never trust that
                self._cache.clear()
            self._cache[key] = priced
        return None if priced is None else priced.at(at)

    def priced(
        self, provider_type: str, model: str, *, provider_name: str | None = None, price_model: str | None = None
    ) -> PricedModel | None:
        """Every price period of what :meth:`lookup` finds, oldest first (for reports and old costs); uncached."""
        return self._resolve(provider_type, model, provider_name, price_model)

    def entries(self, provider_type: str | None = None) -> Iterator[PricedModel]:
        """Every entry of every price list (or of one), its provider type's factor applied."""
        for provider, index in self._indexes.items():
            if provider_type is None or provider == provider_type:
                factor = self._factors.get(provider, ONE)
                for priced in index.models.values():
                    yield priced.scaled(factor)

    def find(self, model: str) -> list[PricedModel]:
        """The entries that price ``model`` in each price list that has it (not through a fallback)."""
        found = []
        candidates = _candidates(model)
        for provider, index in self._indexes.items():
            priced = index.match(candidates)
            if priced is not None:
                found.append(priced.scaled(self._factors.get(provider, ONE)))
        return found

    def _resolve(
        self, provider_type: str, model: str, provider_name: str | None, price_model: str | None
    ) -> PricedModel | None:
        if price_model is None:
            mapping = self._mapping(provider_type, model, provider_name)
            price_model = mapping.price_model if mapping is not None else None
        if price_model is not None:
            priced = self._find(provider_type, price_model, anywhere=True)
        else:
            priced = self._find(provider_type, model, anywhere=False)
        return None if priced is None else priced.scaled(self._factors.get(provider_type, ONE))

    def _mapping(self, provider_type: str, model: str, provider_name: str | None) -> PriceMapping | None:
        candidates = self._mappings.get(model.lower())
        if not candidates:
            return None
        scopes = (provider_name, provider_type, None) if provider_name else (provider_type, None)
        for scope in scopes:  # the narrowest scope wins: provider name, then type, then any provider
            for mapping in candidates:
                if mapping.provider == scope:
                    return mapping
        return None

    def _find(self, provider_type: str | None, name: str, *, anywhere: bool) -> PricedModel | None:
        order: list[str] = []
        if provider_type is not None:
            order = [provider_type, *self._fallbacks.get(provider_type, ())]
        if anywhere:
            order += [provider for provider in self._indexes if provider not in order]
        candidates = _candidates(name)
        for provider in order:
            index = self._indexes.get(provider)
            priced = index.match(candidates) if index is not None else None
            if priced is not None:
                return priced
        return None


def _candidates(model: str) -> list[str]:
    """The names a model id may be listed under, most specific first."""
    name = _RESOURCE.sub("", model.strip().lower(), count=1)
    profile = _PROFILE.match(name)
    names: list[str] = []
    for candidate in (name, name[profile.end() :]) if profile else (name,):
        names.append(candidate)
        suffix = _SNAPSHOT.search(candidate)
        if suffix is not None and 0 < suffix.start() < len(candidate):
            names.append(candidate[: suffix.start()])
    return list(dict.fromkeys(names))
