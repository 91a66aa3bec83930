"""The route table: model name or alias → ordered deployments, built once per config snapshot."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from wardgate.config.schema import GatewayConfig, ModelConfig
from wardgate.core.errors import ModelNotFoundError
from wardgate.providers.base import DeploymentTarget, ProviderClient

_CANONICAL_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Deployment:
    client: ProviderClient
    target: DeploymentTarget

    @property
    def upstream_model(self) -> str:
        return self.target.upstream_model


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    deployments: tuple[Deployment, ...]
    config: ModelConfig


class RouteTable:
    """``routes`` by canonical name; ``aliases`` maps other names clients may send to a canonical name."""

    def __init__(self, routes: Mapping[str, ModelRoute], aliases: Mapping[str, str] | None = None) -> None:
        self._routes = dict(routes)
        self._names = dict(self._routes)
        for alias, name in (aliases or {}).items():
            self._names.setdefault(alias, self._routes[name])
        self._canonical: dict[frozenset[str], frozenset[str]] = {}

    @classmethod
    def build(cls, config: GatewayConfig, clients: Mapping[str, ProviderClient]) -> RouteTable:
        routes = {
            model.name: ModelRoute(
                name=model.name,
                deployments=tuple(
                    Deployment(clients[d.provider], DeploymentTarget(d.model, d.unsupported_params, d.max_tokens))
                    for d in model.deployments
                ),
                config=model,
            )
            for model in config.models
        }
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

    def __iter__(self) -> Iterator[ModelRoute]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)
