"""The route table: model alias → ordered deployments, built once per config snapshot."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from wardgate.config.schema import GatewayConfig, ModelConfig
from wardgate.core.errors import ModelNotFoundError
from wardgate.providers.base import DeploymentTarget, ProviderClient


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
    def __init__(self, routes: Mapping[str, ModelRoute]) -> None:
        self._routes = dict(routes)

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
        return cls(routes)

    def resolve(self, model: str) -> ModelRoute:
        route = self._routes.get(model)
        if route is None:
            raise ModelNotFoundError(
                f"The model `{model}` does not exist or you do not have access to it.", param="model"
            )
        return route

    def __iter__(self) -> Iterator[ModelRoute]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)
