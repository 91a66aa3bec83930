"""Routing settings: per deployment (``DeploymentRouting``), per model (``ModelRouting``) and for the process
(``server.routing``, ``RoutingConfig``), plus the load-time checks of fallback references (``routing_problems``).

```yaml
server:
  routing:
    max_attempts: 3                 # per request, across deployments and fallbacks
    backoff: {base_ms: 100, max_ms: 2000}   # full jitter; also the longest wait for a Retry-After
    retry_budget: {ratio: 0.2, minimum: 3}  # retries in flight <= max(minimum, ratio x requests in flight)
    deadline_seconds: 60            # optional; the header x-wardgate-timeout may shorten it, never lengthen it
    admission: {max_in_flight: 2000, queue: 200, queue_timeout_ms: 250}
    response_headers: true          # x-wardgate-deployment, x-wardgate-attempts
    sensitive_tag: sensitive_ok     # the tag a deployment needs to receive requests flagged sensitive
models:
  - name: gpt-4o
    strategy: weighted              # priority (default) | weighted | lowest_latency | least_busy | lowest_cost
                                    # | remaining_quota (most headroom left in the deployments' `limits`)
    fallbacks: [claude-sonnet]      # tried after gpt-4o's own deployments, each with its own deployments
    sticky: true                    # one conversation → one deployment while it is healthy (prompt caches hit)
    sensitive_tags: [on_prem]       # default: [server.routing.sensitive_tag]
    long_context: {above_tokens: 100000, model: gemini-pro}
    deployments:
      - provider: openai-main
        model: gpt-4o
        id: openai-gpt-4o           # default: provider/model
        weight: 3                   # for `weighted`
        priority: 0                 # lower first; strategies order deployments of the same priority
        tags: [eu]
        region: eu-west-1
        max_context_tokens: 128000  # default: the shipped model data, when the model has other candidates
        capabilities: {vision: false}   # default: the shipped model data (tools, vision, json_schema)
        input_cost_per_mtok: 2.5    # for `lowest_cost` (USD per million tokens)
        output_cost_per_mtok: 10
```

Must not import ``config.schema`` (it imports this).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
_TAG = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Strategy = Literal["priority", "weighted", "lowest_latency", "least_busy", "lowest_cost", "remaining_quota"]
Path = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capabilities(_Strict):
    """Overrides of the shipped model data (``data/models.yaml`` profiles); unset fields keep the data's answer."""

    tools: bool | None = None
    vision: bool | None = None
    json_schema: bool | None = None


class DeploymentRouting(_Strict):
    """The routing fields of a deployment (``DeploymentConfig`` inherits them)."""

    id: str | None = Field(default=None, pattern=_NAME, description="Default: provider/model.")
    weight: float = Field(default=1.0, ge=0, le=1_000_000, description="Share of traffic for `weighted`.")
    priority: int = Field(default=0, ge=-1000, le=1000, description="Lower first; same priority: the strategy.")
    tags: list[Annotated[str, Field(pattern=_TAG)]] = Field(
        default_factory=list, description="e.g. on_prem, eu, sensitive_ok (content rules match them)."
    )
    region: str | None = Field(default=None, max_length=64)
    max_context_tokens: int | None = Field(
        default=None, ge=1, description="Context window: a longer request skips this deployment."
    )
    input_cost_per_mtok: float | None = Field(default=None, ge=0, description="USD per million input tokens.")
    output_cost_per_mtok: float | None = Field(default=None, ge=0, description="USD per million output tokens.")
    capabilities: Capabilities | None = Field(
        default=None, description="What the model behind it accepts, where the shipped model data is wrong or silent."
    )


class LongContextConfig(_Strict):
    above_tokens: int = Field(ge=1, description="Prompt tokens (counted as for rate limits) above which …")
    model: str = Field(pattern=_NAME, description="… the request goes to this model (name or alias) instead.")


class ModelRouting(_Strict):
    """The routing fields of a model (``ModelConfig`` inherits them)."""

    strategy: Strategy = Field(default="priority", description="How deployments of the same priority are ordered.")
    fallbacks: list[Annotated[str, Field(pattern=_NAME)]] = Field(
        default_factory=list, description="Models (names or aliases) tried after this one's own deployments."
    )
    sticky: bool = Field(default=False, description="Same conversation → same deployment while it is healthy.")
    sensitive_tags: list[Annotated[str, Field(pattern=_TAG)]] | None = Field(
        default=None,
        description="A request flagged sensitive only goes to deployments with one of these tags "
        "(default: server.routing.sensitive_tag).",
    )
    long_context: LongContextConfig | None = None


class BackoffConfig(_Strict):
    base_ms: float = Field(default=100.0, gt=0, le=60_000)
    max_ms: float = Field(
        default=2000.0,
        gt=0,
        le=600_000,
        description="Cap of every wait, Retry-After included: a longer one is not "
        "waited for (the deployment cools down and the request moves on or fails).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.max_ms < self.base_ms:
            raise ValueError("max_ms must be at least base_ms")
        return self


class RetryBudgetConfig(_Strict):
    ratio: float = Field(default=0.2, ge=0, le=1, description="Retries in flight per request in flight.")
    minimum: int = Field(default=3, ge=0, le=100_000, description="Retries in flight always allowed.")


class AdmissionConfig(_Strict):
    max_in_flight: int = Field(default=2000, ge=1, le=1_000_000, description="Proxy requests per process.")
    queue: int = Field(default=200, ge=0, le=1_000_000, description="Requests that may wait for a slot.")
    queue_timeout_ms: float = Field(default=250.0, ge=0, le=60_000, description="Longest wait for a slot.")


class RoutingConfig(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff: BackoffConfig = BackoffConfig()
    retry_budget: RetryBudgetConfig = RetryBudgetConfig()
    deadline_seconds: float | None = Field(default=None, gt=0, le=86_400)
    admission: AdmissionConfig = AdmissionConfig()
    response_headers: bool = Field(default=True, description="x-wardgate-deployment and x-wardgate-attempts.")
    sensitive_tag: str = Field(default="sensitive_ok", pattern=_TAG)


class _Deployment(Protocol):
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def id(self) -> str | None: ...


class _Model(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def fallbacks(self) -> Sequence[str]: ...
    @property
    def long_context(self) -> LongContextConfig | None: ...
    @property
    def strategy(self) -> Strategy: ...
    @property
    def deployments(self) -> Sequence[_Deployment]: ...


def deployment_id(deployment: _Deployment) -> str:
    """A deployment's id: its ``id``, else ``provider/model`` (breakers and stats are kept per id)."""
    return deployment.id or f"{deployment.provider}/{deployment.model}"


def routing_problems(models: Sequence[_Model]) -> list[tuple[Path, str]]:
    """Unknown or self-referencing fallbacks and long-context models, cycles through them, and duplicate
    deployment ids within a model."""
    names = {model.name: model.name for model in models}
    for model in models:
        for alias in model.aliases:
            names.setdefault(alias, model.name)
    problems: list[tuple[Path, str]] = []
    edges: dict[str, list[str]] = {}
    for index, model in enumerate(models):
        targets: list[tuple[Path, str]] = [
            (("models", index, "fallbacks", i), name) for i, name in enumerate(model.fallbacks)
        ]
        if model.long_context is not None:
            targets.append((("models", index, "long_context", "model"), model.long_context.model))
        for path, name in targets:
            target = names.get(name)
            if target is None:
                problems.append((path, f"unknown model {name!r}"))
            elif target == model.name:
                problems.append((path, f"model {model.name!r} cannot fall back to itself"))
            else:
                edges.setdefault(model.name, []).append(target)
        problems += _deployment_problems(index, model)
    cycle = find_cycle(edges)
    if cycle:
        index = next(i for i, model in enumerate(models) if model.name == cycle[0])
        problems.append((("models", index, "fallbacks"), "fallback cycle: " + " → ".join(cycle)))
    return problems


def _deployment_problems(index: int, model: _Model) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for d_index, deployment in enumerate(model.deployments):
        ident = deployment_id(deployment)
        if ident in seen:
            message = f"duplicate deployment id {ident!r} (set `id` to tell them apart)"
            problems.append((("models", index, "deployments", d_index), message))
        seen.add(ident)
    if model.strategy == "weighted" and all(getattr(d, "weight", 1.0) == 0 for d in model.deployments):
        problems.append((("models", index, "strategy"), "`weighted` needs a deployment with a weight above 0"))
    return problems


def find_cycle(edges: dict[str, list[str]]) -> list[str]:
    """One cycle of the graph (``[a, b, a]``), or an empty list."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in list(edges):
        if node not in state and (found := visit(node)):
            return found
    return []
