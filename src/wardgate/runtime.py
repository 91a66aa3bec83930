"""The runtime: ``AppState`` (everything a running gateway owns) and ``Snapshot`` (one immutable config turned into
provider clients, a route table and a composed pipeline). A hot reload builds a new snapshot and swaps one
reference; requests in flight keep the snapshot they started with."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig
from wardgate.core.pipeline import compose
from wardgate.core.types import Handler, Principal
from wardgate.identity.authenticator import Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.identity.notify import IdentityNotifier
from wardgate.limits.admission import LimitAdmission
from wardgate.limits.budgets import BudgetGate, BudgetPolicy
from wardgate.limits.resolve import LimitPolicy
from wardgate.observability.events import Observers
from wardgate.observability.logging import AccessLog
from wardgate.pricing.catalog import PriceBook
from wardgate.providers.base import ProviderClient
from wardgate.providers.fetch import ImageFetcher
from wardgate.providers.registry import build_client
from wardgate.providers.transport import Transport
from wardgate.routing.breaker import BreakerBoard, follow_config
from wardgate.routing.execute import Router
from wardgate.routing.health import HealthRegistry
from wardgate.routing.state import RoutingState
from wardgate.routing.table import RouteTable
from wardgate.runtime_credentials import CredentialStore
from wardgate.settings import Settings
from wardgate.stages import default_stages
from wardgate.storage.database import Database
from wardgate.storage.responses import ResponseStore

_log = logging.getLogger("wardgate.runtime")


@dataclass(frozen=True, slots=True)
class Snapshot:
    loaded: LoadedConfig
    clients: dict[str, ProviderClient]
    routes: RouteTable
    handler: Handler
    created: int
    router: Router | None = None
    prices: PriceBook | None = None
    """The shipped price catalog with the config's ``prices`` applied."""

    @property
    def config(self) -> GatewayConfig:
        return self.loaded.config


def build_snapshot(
    loaded: LoadedConfig,
    transport: Transport,
    authenticator: Authenticator,
    observers: Observers,
    fetcher: ImageFetcher | None = None,
    routing: RoutingState | None = None,
) -> Snapshot:
    """Pure construction (no I/O): safe to run while the old snapshot keeps serving. ``routing`` (the process's
    breakers, health, retry budget and admission, kept across reloads) takes the new config's limits."""
    config = loaded.config
    clients = {p.name: build_client(p, transport, fetcher) for p in config.providers}
    prices = PriceBook.load(config.prices)  # checked when the config loaded
    routes = RouteTable.build(config, clients, prices)
    stages = default_stages(authenticator=authenticator, observers=observers)
    routing = routing if routing is not None else RoutingState()
    limits = limit_admission(config, routes, routing, authenticator, prices)
    router = Router(routes, config.server.routing, routing, limits)
    routing.configure(config.server.routing, routes.deployment_ids())
    follow_config(routing.breakers, config)  # a deployment whose definition changed starts with a closed breaker
    return Snapshot(loaded, clients, routes, compose(stages, router.execute), int(time.time()), router, prices)


def limit_admission(
    config: GatewayConfig,
    routes: RouteTable,
    routing: RoutingState,
    authenticator: Authenticator,
    prices: PriceBook,
) -> LimitAdmission:
    """Rate limits and budgets for a snapshot: the config's rules over the process's engine (``routing.limits``).
    The budget gate always exists: keys, teams and projects may carry their own budgets whatever the config says
    (a request to which no budget applies costs a dict lookup, no worst-case estimate)."""
    cache = authenticator.cache
    settings = config.server.limits
    policy = LimitPolicy(config.limits, routes, settings.agent_header, settings.redis_prefix)
    team_ids = (lambda: cache.team_ids) if cache is not None else dict
    budgets = BudgetPolicy(config.budgets, settings.agent_header, settings.redis_prefix)
    gate = BudgetGate(budgets, prices)
    return LimitAdmission(
        policy, lambda: routing.limits, settings, team_ids, routing.limit_events, gate, routing.budget_alerts
    )


@dataclass(slots=True)
class AppState:
    settings: Settings
    transport: Transport
    authenticator: Authenticator
    snapshot: Snapshot
    access_log: AccessLog
    fetcher: ImageFetcher
    responses: ResponseStore | None = None
    db: Database | None = None
    identity: IdentityCache | None = None
    """The in-memory key and team index the request path reads (``authenticator.cache``)."""
    notifier: IdentityNotifier | None = None
    """Shared mode (Redis): tells the other replicas about identity changes."""
    credentials: CredentialStore | None = None
    """Decrypted provider credentials behind ``${credential:NAME}`` references (``runtime_credentials``)."""
    ready: bool = False
    reloads: int = 0
    last_reload_error: str | None = field(default=None)
    identity_listeners: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Called after every committed admin change to identity data (refresh caches, tell other replicas)."""
    routing: RoutingState = field(default_factory=RoutingState)
    """Breakers, deployment health, retry budget and admission: the process's, kept across reloads."""
    observers: Observers = field(default_factory=Observers)
    """Who hears of every request's start and end (audit trail, metrics, traces, access log): the process's."""

    @property
    def breakers(self) -> BreakerBoard:
        """The circuit breaker board every snapshot's router consults (assign to replace it)."""
        return self.routing.breakers

    @breakers.setter
    def breakers(self, board: BreakerBoard) -> None:
        self.routing.breakers = board

    @property
    def health(self) -> HealthRegistry:
        """Per-deployment statistics (``health.snapshot()`` for the admin API)."""
        return self.routing.health

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """Who is calling: the one entry point for the proxy pipeline, the admin API and every other route
        (master key, virtual key, JWT bearer token, or a sign-in session). No SQL."""
        return await self.authenticator.authenticate(headers)

    async def identity_changed(self) -> None:
        """Call after committing a change to keys, teams, users or memberships: refreshes this replica's cache
        before returning (so the admin caller's next request sees the change here) and notifies the others."""
        for listener in self.identity_listeners:
            await listener()

    def apply(self, loaded: LoadedConfig) -> None:
        self.snapshot = build_snapshot(
            loaded, self.transport, self.authenticator, self.observers, self.fetcher, self.routing
        )
        self.reloads += 1
        self.last_reload_error = None
        _log.info(
            "config applied",
            extra={
                "fields": {
                    "source": loaded.source,
                    "providers": len(loaded.config.providers),
                    "models": len(loaded.config.models),
                }
            },
        )
