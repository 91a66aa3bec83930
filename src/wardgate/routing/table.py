"""The route table: model name or alias → its deployments (grouped by priority), resolved fallbacks and
long-context target, built once per config snapshot so a request only looks things up."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from wardgate.config.limits_config import DeploymentLimits
from wardgate.config.routing_config import deployment_id
from wardgate.config.schema import DeploymentConfig, GatewayConfig, ModelConfig
from wardgate.core.errors import ModelNotFoundError
from wardgate.pricing.catalog import PriceBook
from wardgate.providers.base import DeploymentTarget, ProviderClient
from wardgate.providers.modeldata import model_profile

_CANONICAL_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Deployment:
    client: ProviderClient
    target: DeploymentTarget
    id: str = ""
    key: int = 0
    """A stable 32-bit hash of ``id`` (rendezvous hashing for sticky routing; the same on every replica)."""
    weight: float = 1.0
    priority: int = 0
    tags: frozenset[str] = frozenset()
    max_context_tokens: int | None = None
    input_cost: float | None = None
    """USD per million input tokens (``input_cost_per_mtok``, else the price catalog's)."""
    output_cost: float | None = None
    header: tuple[bytes, bytes] = (b"", b"")
    """``(b"x-wardgate-deployment", id)``, encoded once."""
    limits: DeploymentLimits | None = None
    """The provider's own quota for this deployment (``wardgate.limits`` keeps routing under it)."""
    lacks: frozenset[str] = frozenset()
    """What the model behind it does not accept (tools, vision, json_schema): config, else model data."""
    data_context: int | None = None
    """The model data's context window (used when the model has other candidates to choose from)."""

    @property
    def upstream_model(self) -> str:
        return self.target.upstream_model


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    deployments: tuple[Deployment, ...]
    """In config order."""
    config: ModelConfig
    tiers: tuple[tuple[Deployment, ...], ...] = ()
    """Deployments grouped by priority, lowest first (config order inside a tier)."""
    ordered: tuple[Deployment, ...] = ()
    """The tiers flattened: the order of the ``priority`` strategy."""
    ordered_ids: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    """Canonical names of the models tried after this one: its fallbacks, then theirs (breadth first)."""
    long_context: str | None = None
    sensitive_tags: frozenset[str] = field(default_factory=frozenset)
    needs_tokens: bool = False
    """Whether routing needs the request's token estimate (long context, context windows, cost)."""
    checks_capabilities: bool = False
    """Whether some candidate (its own deployments or its fallbacks') lacks a capability a request may need."""

    @property
    def strategy(self) -> str:
        return self.config.strategy

    @property
    def sticky(self) -> bool:
        return self.config.sticky


def make_deployment(client: ProviderClient, config: DeploymentConfig) -> Deployment:
    ident = deployment_id(config)
    target = DeploymentTarget(config.model, config.unsupported_params, config.max_tokens)
    return Deployment(
        client,
        target,
        ident,
        zlib.crc32(ident.encode()),
        config.weight,
        config.priority,
        frozenset(config.tags),
        config.max_context_tokens,
        config.input_cost_per_mtok,
        config.output_cost_per_mtok,
        (b"x-wardgate-deployment", ident.encode()),
        config.limits,
        *_profile(config),
    )


def _priced(deployment: Deployment, prices: PriceBook | None, provider_type: str) -> Deployment:
    """The catalog's token prices for a deployment without configured ones (for ``lowest_cost``)."""
    if prices is None or deployment.input_cost is not None or deployment.output_cost is not None:
        return deployment
    price = prices.lookup(provider_type, deployment.upstream_model, provider_name=deployment.client.name)
    if price is None:
        return deployment
    return replace(deployment, input_cost=float(price.rates.input), output_cost=float(price.rates.output))


def _profile(config: DeploymentConfig) -> tuple[frozenset[str], int | None]:
    """(capabilities lacking, context window) from the model data, with the deployment's overrides."""
    profile = model_profile(config.model)
    lacks = set(profile.lacks) if profile is not None else set()
    if config.capabilities is not None:
        for name, value in config.capabilities.model_dump(exclude_none=True).items():
            if value:
                lacks.discard(name)
            else:
                lacks.add(name)
    return frozenset(lacks), profile.context if profile is not None else None


def make_route(
    model: ModelConfig,
    deployments: tuple[Deployment, ...],
    *,
    fallbacks: tuple[str, ...] = (),
    long_context: str | None = None,
    sensitive_tag: str = "sensitive_ok",
) -> ModelRoute:
    if len(deployments) > 1 or fallbacks or long_context is not None:  # a choice to make: use the model data's windows
        deployments = tuple(
            d
            if d.max_context_tokens is not None or d.data_context is None
            else replace(d, max_context_tokens=d.data_context)
            for d in deployments
        )
    priorities = sorted({d.priority for d in deployments})
    tiers = tuple(tuple(d for d in deployments if d.priority == p) for p in priorities)
    tags = model.sensitive_tags if model.sensitive_tags is not None else [sensitive_tag]
    needs_tokens = (
        long_context is not None
        or model.strategy == "lowest_cost"
        or any(d.max_context_tokens is not None for d in deployments)
    )
    return ModelRoute(
        name=model.name,
        deployments=deployments,
        config=model,
        tiers=tiers,
        ordered=tuple(d for tier in tiers for d in tier),
        ordered_ids=tuple(d.id for tier in tiers for d in tier),
        fallbacks=fallbacks,
        long_context=long_context,
        sensitive_tags=frozenset(tags),
        needs_tokens=needs_tokens,
    )


class RouteTable:
    """``routes`` by canonical name; ``aliases`` maps other names clients may send to a canonical name."""

    def __init__(self, routes: Mapping[str, ModelRoute], aliases: Mapping[str, str] | None = None) -> None:
        self._routes = dict(routes)
        self._names = dict(self._routes)
        for alias, name in (aliases or {}).items():
            self._names.setdefault(alias, self._routes[name])
        self._canonical: dict[frozenset[str], frozenset[str]] = {}

    @classmethod
    def build(
        cls, config: GatewayConfig, clients: Mapping[str, ProviderClient], prices: PriceBook | None = None
    ) -> RouteTable:
        """Routes for every model. Fallback and long-context names are resolved here (the config checks refused
        unknown names and cycles at load). ``prices`` (the catalog) prices deployments the config did not."""
        canonical = {model.name: model.name for model in config.models}
        for model in config.models:
            for alias in model.aliases:
                canonical.setdefault(alias, model.name)
        direct = {m.name: [canonical[f] for f in m.fallbacks if f in canonical] for m in config.models}
        sensitive_tag = config.server.routing.sensitive_tag
        types = {provider.name: provider.type for provider in config.providers}
        routes = {}
        for model in config.models:
            long_context = model.long_context
            routes[model.name] = make_route(
                model,
                tuple(
                    _priced(make_deployment(clients[d.provider], d), prices, types.get(d.provider, ""))
                    for d in model.deployments
                ),
                fallbacks=_chain(model.name, direct),
                long_context=canonical.get(long_context.model) if long_context is not None else None,
                sensitive_tag=sensitive_tag,
            )
        for name, route in routes.items():
            group = [route, *(routes[f] for f in route.fallbacks)]
            if any(d.lacks for r in group for d in r.deployments):
                routes[name] = replace(route, checks_capabilities=True)
        aliases = {alias: model.name for model in config.models for alias in model.aliases}
        return cls(routes, aliases)

    def resolve(self, model: str) -> ModelRoute:
        """The route for a model name or alias; 404 when neither."""
        route = self._names.get(model)
        if route is None:
            raise ModelNotFoundError(
                f"The model `{model}` does not exist or you do not have access to it.", param="model"
            )
        return route

    def get(self, model: str) -> ModelRoute | None:
        return self._names.get(model)

    def canonical_names(self, names: frozenset[str]) -> frozenset[str]:
        """The canonical names of the models ``names`` (names or aliases) pick; unknown names pick none. Cached per
        set (a snapshot's table lives as long as its config), so a restricted key pays one lookup per request."""
        found = self._canonical.get(names)
        if found is None:
            found = frozenset(route.name for name in names if (route := self._names.get(name)) is not None)
            if len(self._canonical) >= _CANONICAL_CACHE:
                self._canonical.clear()
            self._canonical[names] = found
        return found

    def deployment_ids(self) -> frozenset[str]:
        """Every deployment id the table can route to."""
        return frozenset(d.id for route in self._routes.values() for d in route.deployments)

    def __iter__(self) -> Iterator[ModelRoute]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)


def _chain(start: str, direct: Mapping[str, list[str]]) -> tuple[str, ...]:
    """Fallbacks of ``start``, then theirs, breadth first, each once (never ``start`` itself)."""
    seen = {start}
    out: list[str] = []
    queue = list(direct.get(start, ()))
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
        queue.extend(direct.get(name, ()))
    return tuple(out)
