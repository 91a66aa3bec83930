"""The config file's ``prices.models`` applied to the catalog: corrections patch an entry's current price (the
fields given replace the catalog's; earlier periods keep the list prices they had), additions become new entries,
and ``factor`` scales every period of an entry."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from wardgate.config.prices_config import PriceOverride, PricesConfig
from wardgate.pricing.model import PricedModel
from wardgate.pricing.schema import CatalogEntry, CatalogFile, ProviderSection, resolve_entry, shipped_catalog

Sections = dict[str, dict[str, PricedModel]]
_Target = tuple[str, str, CatalogEntry, ProviderSection | None]
_PATCHABLE = (
    "input",
    "output",
    "cached_input",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "per_request",
    "per_image",
    "kind",
    "aliases",
    "tiers",
    "batch_discount",
    "note",
)


@functools.cache
def _shipped_sections() -> Sections:
    """The shipped catalog resolved once per process (price books copy it before changing anything)."""
    return resolve_catalog(shipped_catalog())


def resolve_catalog(catalog: CatalogFile) -> Sections:
    return {
        provider: {key: resolve_entry(provider, key, entry, section) for key, entry in section.models.items()}
        for provider, section in catalog.providers.items()
    }


def build_sections(config: PricesConfig | None) -> tuple[Sections, dict[str, tuple[str, ...]], list[str]]:
    """(models by provider type, fallbacks by provider type, problems) for the shipped catalog with ``config``
    applied. Problems name the config path; the caller refuses a config that has any."""
    catalog = shipped_catalog()
    use_catalog = config is None or config.use_catalog
    sections: Sections = {p: dict(models) for p, models in _shipped_sections().items()} if use_catalog else {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    if use_catalog:
        fallbacks = {provider: tuple(section.fallback) for provider, section in catalog.providers.items()}
    problems: list[str] = []
    for name, override in (config.models if config else {}).items():
        try:
            _apply(catalog if use_catalog else None, sections, name, override)
        except ValueError as exc:
            problems.append(f"prices.models.{name}: {_reason(exc)}")
    if config is not None and config.models:
        problems += [f"prices.models: `{name}` names two {provider} models" for provider, name in _clashes(sections)]
    return sections, fallbacks, problems


def _clashes(sections: Sections) -> list[tuple[str, str]]:
    """(provider type, name) for every name (key or alias) two entries of one price list claim."""
    clashes = []
    for provider, models in sections.items():
        seen: set[str] = set()
        for key, priced in models.items():
            for name in {key.lower(), *(alias.lower() for alias in priced.current.aliases)}:
                if name in seen:
                    clashes.append((provider, name))
                seen.add(name)
    return clashes


def _apply(catalog: CatalogFile | None, sections: Sections, name: str, override: PriceOverride) -> None:
    targets = _targets(catalog, name, override.provider)
    if not targets:
        if override.provider is None:
            raise ValueError("not in the price catalog; a new entry needs `provider` (the provider type)")
        entry = CatalogEntry.model_validate(_fields(override) | {"source": "config (prices.models)"})
        targets = [(override.provider, name, entry, None)]
    else:
        targets = [(p, key, _patched(entry, override), section) for p, key, entry, section in targets]
    factor = override.factor if override.factor is not None else Decimal(1)
    for provider, key, entry, section in targets:
        sections.setdefault(provider, {})[key] = resolve_entry(provider, key, entry, section).scaled(factor)


def _targets(catalog: CatalogFile | None, name: str, provider: str | None) -> list[_Target]:
    """The catalog entries ``name`` (a key or an alias) names, in the one provider type given or in any."""
    folded = name.lower()
    found: list[_Target] = []
    for section_provider, section in (catalog.providers if catalog else {}).items():
        if provider is not None and section_provider != provider:
            continue
        for key, entry in section.models.items():
            if folded == key.lower() or folded in (alias.lower() for alias in entry.aliases):
                found.append((section_provider, key, entry, section))
    return found


def _patched(entry: CatalogEntry, override: PriceOverride) -> CatalogEntry:
    changes = _fields(override)
    changed = sorted(changes) + (["factor"] if override.factor is not None else [])
    if not changed:
        return entry
    note = "config override: " + ", ".join(changed)
    merged = entry.model_dump() | changes
    merged["note"] = changes.get("note") or (f"{entry.note}; {note}" if entry.note else note)
    return CatalogEntry.model_validate(merged)


def _fields(override: PriceOverride) -> dict[str, Any]:
    """The catalog fields an override sets (a GPU-hour price sets input and output)."""
    fields = {name: getattr(override, name) for name in _PATCHABLE if getattr(override, name) is not None}
    if "tiers" in fields:
        fields["tiers"] = [tier.model_dump() for tier in override.tiers or ()]
    gpu = override.gpu_rates()
    if gpu is not None:
        fields["input"], fields["output"] = gpu
    return fields


def _reason(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            (f"{'.'.join(str(p) for p in error['loc'])}: " if error["loc"] else "")
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        )
    return str(exc)
