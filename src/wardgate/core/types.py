"""Canonical request and response holders passed through the pipeline.

The canonical request is the OpenAI wire format held as parsed JSON (``dict``) with every unknown field preserved;
``raw`` keeps the original bytes so a same-dialect call whose model name does not change is forwarded unmodified.
A response is either a complete JSON body or a stream of JSON event payloads (SSE framing is the renderer's job).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


class Endpoint(enum.Enum):
    """What the client asked for, independent of dialect."""

    CHAT = "chat.completions"
    EMBEDDINGS = "embeddings"


RESPONSES_DIALECT = "openai-responses"
"""The OpenAI Responses API (``POST /v1/responses``) as a native dialect: OpenAI and Azure deployments take it
as it is; every other provider gets its canonical (chat) translation."""

Parser = Callable[[bytes], "ParsedBody"]
Resolver = Callable[["RequestContext"], Awaitable["ParsedBody"]]
"""An async step that completes a parse once the caller is known (e.g. loading stored conversation state)."""


@dataclass(slots=True, frozen=True)
class NativeBody:
    """The request as the client sent it in a non-canonical dialect (e.g. Anthropic Messages). A provider that
    speaks that dialect forwards it untouched apart from the model, so new fields work on day one."""

    dialect: str
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str] = field(default_factory=dict)
    """Dialect headers worth forwarding on passthrough (``anthropic-version``, ``anthropic-beta``)."""


@dataclass(slots=True, frozen=True)
class ParsedBody:
    body: dict[str, Any]
    model: str
    stream: bool
    native: NativeBody | None = None
    untranslatable: Exception | None = None
    """Why ``body`` could not be made canonical (only a provider of the native dialect can serve it)."""
    resolve: Resolver | None = None
    """When set, the parse stage awaits it and takes the ``ParsedBody`` it returns instead."""


@dataclass(slots=True)
class ProxyRequest:
    """One inbound proxy request. The API layer fills ``raw`` and ``parser``; the ``parse`` stage (after
    authentication, so an unauthenticated client only ever learns that its key is wrong) fills the rest.
    Stages may read it; translation never mutates it."""

    endpoint: Endpoint
    raw: bytes
    parser: Parser | None = None
    body: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    stream: bool = False
    native: NativeBody | None = None
    untranslatable: Exception | None = None
    pending: Resolver | None = None
    prompt_tokens: int | None = None
    """The prompt's token count once some stage counted it (``wardgate.tokens``); later stages reuse it."""

    def parse(self) -> None:
        if self.parser is not None:
            self._take(self.parser(self.raw))
            self.parser = None

    async def resolve(self, ctx: RequestContext) -> None:
        """Run the parser's async completion step, if it asked for one."""
        while self.pending is not None:
            resolver, self.pending = self.pending, None
            self._take(await resolver(ctx))

    def _take(self, parsed: ParsedBody) -> None:
        self.body, self.model, self.stream = parsed.body, parsed.model, parsed.stream
        self.native, self.untranslatable, self.pending = parsed.native, parsed.untranslatable, parsed.resolve

    def canonical(self) -> dict[str, Any]:
        """The OpenAI-format body, for providers that translate; raises when the native request has no such form."""
        if self.untranslatable is not None:
            raise self.untranslatable
        return self.body


StreamSource = AsyncIterator[bytes]
"""An async iterator of JSON event payloads (without ``data:`` framing). It raises a ``GatewayError`` when the
stream breaks and returns normally only on a real finish."""


@dataclass(slots=True)
class ProxyResponse:
    """What the pipeline returns: a whole JSON body, or a stream of event payloads."""

    status: int = 200
    body: bytes | None = None
    stream: StreamSource | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    dialect: str = "openai"
    """The wire format of ``body`` / ``stream``: "openai" (canonical), or a native dialect passed through, whose
    stream items are then complete, already framed SSE events."""
    parsed: Any = None
    """``body`` already parsed, when whoever produced or checked it had it (saves a second parse for usage)."""

    @property
    def is_stream(self) -> bool:
        return self.stream is not None


class Role(enum.StrEnum):
    """Roles, most powerful first. Org roles apply everywhere; team roles apply in one team."""

    ORG_ADMIN = "org_admin"
    AUDITOR = "auditor"
    TEAM_ADMIN = "team_admin"
    MEMBER = "member"
    VIEWER = "viewer"


ORG_ROLES = frozenset({Role.ORG_ADMIN, Role.AUDITOR})
TEAM_ROLES = frozenset({Role.TEAM_ADMIN, Role.MEMBER, Role.VIEWER})


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling, resolved by authentication: the master key, a virtual key, a JWT bearer token or a
    signed-in person's session. Never holds a secret."""

    key_id: str
    """A virtual key's id, "master", or for people the user id ("user:<id>")."""
    kind: str = "master"
    """master | key | jwt | session"""
    org_role: Role | None = None
    teams: Mapping[str, Role] = field(default_factory=dict)
    """team id → the principal's role in that team (a key belongs to exactly one team)."""
    project_id: str | None = None
    user_id: str | None = None
    service_principal_id: str | None = None
    allowed_models: frozenset[str] | None = None
    """Model names (aliases as clients send them) the principal may call; None means every model."""
    expires_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)
    """Rate limits carried by the principal's own objects: "key", "team", "project" → a
    ``wardgate.config.limits_config.LimitSet`` (only those that set any limit)."""
    budgets: Mapping[str, Any] = field(default_factory=dict)
    """Budgets carried by the principal's own objects: "key", "team", "project" → a
    ``wardgate.config.budgets_config.BudgetSet`` (only those that set one)."""

    @property
    def team_id(self) -> str | None:
        """The principal's team when it has exactly one (always so for a virtual key)."""
        return next(iter(self.teams)) if len(self.teams) == 1 else None


@dataclass(slots=True)
class Attempt:
    """One try against one deployment, kept for logs and (later) the audit trail. Times are ``perf_counter``
    seconds; ``first_byte`` is when the answer (a whole body, or a stream's first event) arrived."""

    provider: str
    deployment_model: str
    status: int | None = None
    error: str | None = None
    started: float = 0.0
    first_byte: float | None = None
    finished: float | None = None
    deployment: str = ""
    """The deployment's id (``provider/model`` unless configured)."""
    route: str = ""
    """The model whose deployment this was (differs from the requested one after a fallback)."""


@dataclass(slots=True, frozen=True)
class PolicyDecision:
    """What a policy (rate limit, budget, content rule) decided about a request, for logs and the audit trail.
    ``mode`` audit means the rule only counts: ``outcome`` "would_refuse" was not enforced."""

    policy: str
    """rate_limit | budget | …"""
    name: str
    mode: str
    outcome: str
    """refused | would_refuse | …"""
    detail: str = ""


Handler = Callable[["RequestContext", ProxyRequest], Awaitable[ProxyResponse]]
Stage = Callable[["RequestContext", ProxyRequest, Handler], Awaitable[ProxyResponse]]


@dataclass(slots=True)
class RequestContext:
    """Per-request state shared by the stages. ``snapshot`` is the config snapshot the request started with:
    a hot reload in the middle of a request never changes what it sees."""

    request_id: str
    snapshot: Any
    headers: dict[str, str]
    client: str | None
    started: float
    dialect: str = "openai"
    principal: Principal | None = None
    attempts: list[Attempt] = field(default_factory=list)
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    status: int | None = None
    error_code: str | None = None
    decisions: list[PolicyDecision] = field(default_factory=list)
    cost_usd: Decimal | None = None
    """What the request cost (USD), once its usage is priced (a whole answer's is sent as ``x-wardgate-cost``)."""
    cost_known: bool = True
    """False when no price was found for the deployment's model (``cost_usd`` is then 0)."""
    usage: Any = None
    """The request's ``wardgate.tokens.usage.Usage`` once it is over (reported, or estimated for a cut stream)."""
    cache_hit: bool = False
    """Answered from the gateway's cache."""
    flags: set[str] = field(default_factory=set)
    """Content classifications found in the request (e.g. "phi", "pii"), for the audit trail and its reports."""
    trace: Any = None
    """The request's tracing handle (``wardgate.observability.tracing``) when tracing is on, else None."""
    capture: Any = None
    """The answer as captured for the audit trail when the team's content mode asks for it (``audit.content``)."""
    upstream_headers: dict[str, str] | None = None
    """Extra headers for the current upstream attempt (W3C ``traceparent``), added by every provider client."""
