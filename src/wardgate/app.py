"""``create_app(settings)`` builds the ASGI app. Hot proxy routes are plain ASGI callables found by one dict lookup;
everything else (health, model list, later admin and UI) goes through Starlette. The lifespan builds ``AppState``:
no module globals and no import-time I/O."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wardgate.api.admin.app import create_admin_app
from wardgate.api.anthropic.routes import AnthropicRoutes
from wardgate.api.auth import SsoRoutes, open_sso
from wardgate.api.csrf import SAFE_METHODS
from wardgate.api.openai.routes import OpenAIRoutes
from wardgate.api.proxy import RequestIds, Scope, request_headers
from wardgate.api.render import Receive, Send, send_error
from wardgate.api.responses.routes import ResponsesRoutes
from wardgate.audit.chain import SealKey, seal_key_of
from wardgate.audit.forward import AuditForwarder
from wardgate.audit.observer import AuditObserver, TeamSettings, retention_policy
from wardgate.audit.trail import AuditTrail
from wardgate.config.defaults import default_config
from wardgate.config.loader import LoadedConfig, load_config_file
from wardgate.config.reload import ConfigWatcher
from wardgate.config.schema import JwtAuthConfig, ResponsesStoreConfig
from wardgate.core.errors import GatewayError, NotFoundError
from wardgate.identity.authenticator import Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.identity.jwt import JwtSettings, JwtVerifier
from wardgate.identity.notify import IdentityNotifier
from wardgate.limits.alerts import BudgetAlerts
from wardgate.limits.budgets import BudgetPolicy
from wardgate.limits.redis_engine import RedisEngine
from wardgate.limits.seed import BudgetSeeder
from wardgate.limits.shared import SharedEngine
from wardgate.observability.events import Observers
from wardgate.observability.logging import AccessLog, AccessLogObserver, configure_logging
from wardgate.observability.metrics import CONTENT_TYPE, Metrics, Sources, open_metrics
from wardgate.observability.metrics_observer import MetricsObserver
from wardgate.observability.tracing import Tracing, open_tracing
from wardgate.providers.fetch import ImageFetcher
from wardgate.providers.transport import Transport
from wardgate.routing.breaker_shared import SharedBreakers, open_breakers
from wardgate.routing.state import RoutingState
from wardgate.runtime import AppState, build_snapshot
from wardgate.runtime_credentials import open_credentials
from wardgate.runtime_spend import SpendRecorder
from wardgate.settings import Settings
from wardgate.spend.ledger import SpendLedger
from wardgate.storage.database import Database, resolve_url
from wardgate.storage.meta import ensure_master_key
from wardgate.storage.migrate import upgrade
from wardgate.storage.responses import ResponseStore
from wardgate.vault import VaultError, load_keyring

_log = logging.getLogger("wardgate")
ASGIHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway:
    """The gateway's ASGI application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state: AppState | None = None
        self._watcher: ConfigWatcher | None = None
        self._request_id = RequestIds()
        openai = OpenAIRoutes(self._require_state, self._request_id)
        self._openai = openai
        self._hot: dict[tuple[str, str], ASGIHandler] = {}
        anthropic = AnthropicRoutes(self._require_state, self._request_id)
        self._responses = ResponsesRoutes(self._require_state, self._request_id)
        for prefix in ("/v1", ""):
            self._hot[("POST", prefix + "/chat/completions")] = openai.chat
            self._hot[("POST", prefix + "/embeddings")] = openai.embeddings
            self._hot[("POST", prefix + "/messages")] = anthropic.messages
            self._hot[("POST", prefix + "/messages/count_tokens")] = anthropic.count_tokens
            self._hot[("POST", prefix + "/responses")] = self._responses.create
        self._admin = create_admin_app(self._require_state, self._request_id)
        self._sso: SsoRoutes | None = None
        self._breaker_sync: SharedBreakers | None = None
        self._metrics: Metrics | None = None
        self._spend: SpendLedger | None = None
        self._tracing: Tracing | None = None
        self._audit: AuditTrail | None = None
        self._forwarder: AuditForwarder | None = None
        self._seeder: BudgetSeeder | None = None
        """Shares breaker state with the other replicas (Redis), when configured."""
        """``/auth/*`` sign-in routes, when ``auth.oidc`` is configured."""
        self._other = Starlette(
            routes=[
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/readyz", self._readyz, methods=["GET"]),
            ]
        )

    def _require_state(self) -> AppState:
        if self.state is None:
            raise RuntimeError("the gateway is not started")
        return self.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self._sso is not None and scope["method"] not in SAFE_METHODS and not await self._csrf_ok(scope, send):
                return
            handler = self._hot.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
            await self._route_other(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _csrf_ok(self, scope: Scope, send: Send) -> bool:
        """State-changing requests signed in by the session cookie need same-origin proof (``api.csrf``)."""
        assert self._sso is not None
        try:
            self._sso.csrf.check(scope)
        except GatewayError as error:
            await send_error(send, error, [(b"x-request-id", self._request_id(request_headers(scope)).encode())])
            return False
        return True

    async def _route_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        models_path = path[3:] if path.startswith("/v1/") else path
        if method == "GET" and (models_path == "/models" or models_path.startswith("/models/")):
            model_id = models_path.removeprefix("/models").removeprefix("/") or None
            await self._openai.models(scope, receive, send, model_id)
            return
        if path.startswith("/admin/"):
            await self._admin(scope, receive, send)
            return
        if models_path.startswith("/responses/"):
            await self._responses.stored(scope, receive, send, models_path.removeprefix("/responses/"))
            return
        if path in ("/healthz", "/readyz"):
            await self._other(scope, receive, send)
            return
        if path == "/metrics" and method == "GET" and self._metrics is not None and self._metrics_on():
            await self._serve_metrics(send)
            return
        if path.startswith("/auth/") and self._sso is not None:
            await self._sso(scope, receive, send)
            return
        headers = [(b"x-request-id", self._request_id(request_headers(scope)).encode())]
        known = {p for (_, p) in self._hot}
        if path in known:
            error: GatewayError = GatewayError(
                f"Method {method} is not allowed on {path}.", status=405, code="method_not_allowed"
            )
        else:
            error = NotFoundError(f"Unknown request URL: {method} {path}.", code="unknown_url")
        await send_error(send, error, headers)

    def _metrics_on(self) -> bool:
        return self.state is not None and self.state.snapshot.config.server.metrics

    async def _serve_metrics(self, send: Send) -> None:
        assert self._metrics is not None
        body = await self._metrics.render()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        state = self.state
        if state is None or not state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        snapshot = state.snapshot
        return JSONResponse(
            {
                "status": "ready",
                "config": snapshot.loaded.source,
                "models": len(snapshot.routes),
                "reloads": state.reloads,
                "last_reload_error": state.last_reload_error,
            }
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    _log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        settings = self.settings
        if settings.config_path is not None:
            loaded = load_config_file(settings.config_path)
        else:
            loaded = default_config(os.environ)
        db = Database(resolve_url(settings, loaded.config.database_url))
        await upgrade(db)
        master = await ensure_master_key(db, settings.master_key)
        if master.generated:
            announce_master_key(master.generated)
        credentials, loaded = await open_credentials(db, settings.data_dir, loaded)  # ${credential:NAME} resolved
        identity = IdentityCache(poll_interval=settings.identity_poll_interval)
        await identity.start(db)
        # auth.jwt and redis_url changes need a restart
        authenticator = Authenticator(master.key_hash, identity, jwt_verifier(loaded.config.auth.jwt))
        transport = Transport()
        access_log = AccessLog()
        observers, request_metrics = self._open_observers(access_log, loaded)
        fetcher = ImageFetcher(loaded.config.server.image_fetch)  # image_fetch changes need a restart
        routing = RoutingState()  # breakers, deployment health, retry budget, admission: kept across reloads
        budgets = loaded.config.server.budgets  # notification targets: changes need a restart
        routing.budget_alerts = BudgetAlerts(budgets.notify, budgets.retries)
        snapshot = build_snapshot(loaded, transport, authenticator, observers, fetcher, routing)
        responses = open_response_store(db, loaded.config.server.responses)  # changes need a restart
        if responses is not None:
            await responses.start()
        state = AppState(settings, transport, authenticator, snapshot, access_log, fetcher, responses, db, identity)
        state.routing = routing
        state.observers = observers
        redis_url = settings.redis_url or loaded.config.redis_url  # server.breaker changes need a restart
        state.breakers, self._breaker_sync = await open_breakers(loaded.config, redis_url)
        if redis_url:  # rate-limit counters shared by every replica; redis_url changes need a restart
            routing.limits = SharedEngine(RedisEngine.from_url(redis_url))
        await self._open_write_behind(state, db, identity, loaded)
        await start_notifications(state, settings.redis_url or loaded.config.redis_url)
        self._sso = open_sso(loaded.config.auth.oidc, state, self._request_id)  # auth.oidc changes need a restart
        state.credentials = credentials
        credentials.start(state)  # credential changes on any replica: reload and rebuild the snapshot
        if settings.config_path is not None:
            self._watcher = ConfigWatcher(
                settings.config_path,
                lambda reloaded: credentials.apply_config(state, reloaded),
                on_error=lambda exc: setattr(state, "last_reload_error", str(exc)),
                interval=loaded.config.server.reload_interval,
            )
            self._watcher.start()
        await self._start_seeding(state, db, identity)
        self._metrics = open_metrics(metric_sources(state, self._write_behind_stats), request_metrics.store)
        state.ready = True
        self.state = state
        tune_gc()

    def _open_observers(self, access_log: AccessLog, loaded: LoadedConfig) -> tuple[Observers, MetricsObserver]:
        """Who hears of every request: the access log, metrics and (when configured) traces; the audit trail
        joins first once the database is open."""
        observers = Observers([AccessLogObserver(access_log)])
        observers.add(request_metrics := MetricsObserver())  # shared by the workers under `serve --workers N`
        self._tracing = open_tracing(loaded.config.observability.tracing)  # tracing changes need a restart
        if self._tracing is not None:
            observers.add(self._tracing)
        return observers, request_metrics

    async def _open_write_behind(
        self, state: AppState, db: Database, identity: IdentityCache, loaded: LoadedConfig
    ) -> None:
        """The spend ledger and the audit trail (written behind every request) and the trail's sinks."""
        agent_header = loaded.config.server.limits.agent_header
        self._spend = SpendLedger(db, state.settings.data_dir / "spool" / "spend")
        await self._spend.start()
        state.routing.listeners.append(SpendRecorder(self._spend, agent_header))
        self._audit = await open_audit(state, db, identity, agent_header)
        self._forwarder = AuditForwarder(db, loaded.config.audit.sinks, process_id())  # sinks: restart to change
        await self._forwarder.start()

    def _write_behind_stats(self) -> dict[str, Any]:
        """The audit trail's and spend ledger's counters, the sinks' and the observers' failures (``/metrics``)."""
        state = self.state
        return {
            "audit": self._audit.snapshot() if self._audit is not None else None,
            "spend": self._spend.snapshot() if self._spend is not None else None,
            "sinks": self._forwarder.stats() if self._forwarder is not None else {},
            "observer_failures": state.observers.failures if state is not None else 0,
        }

    async def _start_seeding(self, state: AppState, db: Database, identity: IdentityCache) -> None:
        """Budgets carry on from the ledger after a restart: seeded now and every minute."""
        routing = state.routing
        self._seeder = BudgetSeeder(db, lambda: routing.limits, objects=identity.object_budgets)
        policy = current_budgets(state)
        if policy is not None:
            try:
                await self._seeder.seed(policy)
            except Exception as exc:  # the database is down: the background pass tries again
                _log.warning("budget seeding failed at start", extra={"fields": {"error": repr(exc)}})
        self._seeder.start(lambda: current_budgets(state))

    async def shutdown(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()
        if self.state is not None:
            self.state.ready = False
            if self._sso is not None:
                await self._sso.close()
            if self.state.credentials is not None:
                await self.state.credentials.close()
            if self.state.notifier is not None:
                await self.state.notifier.close()
            if self._breaker_sync is not None:
                await self._breaker_sync.close()
            if self._seeder is not None:
                await self._seeder.close()
            await self.state.routing.budget_alerts.close()
            await self.state.routing.limits.close()
            if self._spend is not None:
                await self._spend.close()  # ships what it can; the rest stays in the spool for the next start
            if self._audit is not None:
                await self._audit.close()  # likewise, then seals the chain's head
            if self._forwarder is not None:
                await self._forwarder.close()  # sinks resume from their cursors at the next start
            if self._metrics is not None:
                await self._metrics.close()
            if self.state.identity is not None:
                await self.state.identity.close()
            await self.state.authenticator.close()
            if self._tracing is not None:
                await self._tracing.close()  # sends the spans still queued
            await self.state.transport.close()
            await self.state.fetcher.close()
            if self.state.responses is not None:
                await self.state.responses.close()
            if self.state.db is not None:
                await self.state.db.close()
            self.state.access_log.flush()


async def open_audit(state: AppState, db: Database, identity: IdentityCache, agent_header: str) -> AuditTrail:
    """The audit trail (written behind every request, chained and sealed under the vault's key) and its
    observer, which goes first so that no other sink reports a request the trail lacks."""
    settings, config = state.settings, state.snapshot.config.audit
    try:
        seal_key: SealKey | None = seal_key_of(load_keyring(os.environ, settings.data_dir))
    except VaultError as exc:
        seal_key = None
        _log.warning("audit seals are not authenticated: the vault key is unusable (%s)", exc)
    teams = TeamSettings(lambda: identity.team_ids)
    trail = AuditTrail(
        db,
        settings.data_dir / "spool" / "audit",
        seal_key=seal_key,
        seal_interval=config.seal_interval_seconds,
        retention=lambda: retention_policy(state.snapshot.config.audit, teams),
    )
    await trail.start()
    state.observers.add(AuditObserver(trail, agent_header, teams), first=True)
    return trail


def process_id() -> str:
    """This process among the replicas (the holder of a sink's delivery lease): host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def current_budgets(state: AppState) -> BudgetPolicy | None:
    """The active snapshot's budget rules (None without any)."""
    router = state.snapshot.router
    gate = router.limits.budgets if router is not None and router.limits is not None else None
    return gate.policy if gate is not None else None


def metric_sources(state: AppState, write_behind: Callable[[], dict[str, Any]] | None = None) -> Sources:
    routing = state.routing
    return Sources(
        health=routing.health.snapshot,
        breakers=lambda: routing.breakers.states(),
        limit_events=lambda: routing.limit_events,
        limit_engine=lambda: routing.limits.stats(),
        routing=routing.stats,
        write_behind=write_behind or dict,
    )


def jwt_verifier(config: JwtAuthConfig | None) -> JwtVerifier | None:
    return None if config is None else JwtVerifier(JwtSettings(**config.settings_fields()))


async def start_notifications(state: AppState, redis_url: str | None) -> None:
    """Identity changes: refresh this replica's cache at once, and in shared mode tell the others through Redis."""
    identity = state.identity
    if identity is None:
        return

    async def refresh() -> None:
        await identity.refresh()

    state.identity_listeners.append(refresh)
    if redis_url:
        notifier = IdentityNotifier(redis_url, refresh)
        await notifier.start()
        state.notifier = notifier
        state.identity_listeners.append(notifier.publish)


def open_response_store(db: Database, config: ResponsesStoreConfig) -> ResponseStore | None:
    if not config.store:
        return None
    return ResponseStore(
        db,
        retention_seconds=config.retention_days * 86_400,
        cache_entries=config.cache_entries,
    )


def tune_gc() -> None:
    """Move everything built at startup out of the collector's way and collect the young generation less often:
    the request path allocates many short-lived containers, and with the default thresholds the cyclic collector
    took about a tenth of the gateway's CPU under load. Memory stays bounded: collections still run."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def announce_master_key(key: str, base_url: str = "http://127.0.0.1:4000/v1") -> None:
    """Print a newly generated master key once, with how to use it. Only its hash is stored."""
    print(
        "\n  wardgate generated a master key. It is shown only this once; only its hash is stored.\n\n"
        f"      {key}\n\n"
        f'  Use it as your API key, e.g.  OpenAI(base_url="{base_url}", api_key="<key>")\n'
        "  Set WARDGATE_MASTER_KEY to choose your own, or run `wardgate reset-master-key` to replace it.\n",
        file=sys.stderr,
        flush=True,
    )


def create_app(settings: Settings | None = None) -> Gateway:
    return Gateway(settings or Settings.from_env())


def create_app_from_env() -> Any:
    """uvicorn factory for worker processes: settings and logging come from the environment."""
    configure_logging(os.environ.get("WARDGATE_LOG_LEVEL", "info"))
    return create_app(Settings.from_env())
