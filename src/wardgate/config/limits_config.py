"""Rate-limit settings: what one limit says (``LimitSet``), config rules that say where it applies (``LimitRule``),
a deployment's own provider quota (``DeploymentLimits``) and the process-wide settings (``server.limits``).

```yaml
server:
  limits:
    expected_output_tokens: 1024   # reserved for output when a request sets no max tokens
    lease_seconds: 900             # a reservation a crashed process never settles is gone after this long
    response_headers: true         # x-ratelimit-* on every response
    agent_header: x-wardgate-agent # keys whose metadata says `agent_header: true` may name their agent here
    redis_prefix: wardgate         # shared mode: counters live under {wardgate}:rl:…
limits:                            # config rules; keys, teams and projects also carry a LimitSet (admin API)
  - name: team-default
    scope: team                    # key | user | team | project | agent | model | global
    match: ml-research             # only this one (id or name); absent: each team gets its own bucket
    models: [gpt-4o]               # only requests for these models (aliases resolve); absent: every model
    requests_per_minute: 600
    tokens_per_minute: 200000
    tokens_per_day: 5000000
    concurrent: 20
    count: total                   # which tokens the token limits count: input | output | total
    mode: enforce                  # audit: count and log what would have been refused, never refuse
    on_unavailable: open           # shared store down: open (local limits, alert) | closed (503)
models:
  - name: gpt-4o
    deployments:
      - provider: openai-main
        model: gpt-4o
        limits: {requests_per_minute: 500, tokens_per_minute: 30000}   # the provider's own quota
```

Limits refill continuously (a token bucket: a per-minute limit of 60,000 gives back 1,000 tokens a second), so
a burst can spend a whole minute's allowance at once and nothing more. Must not import ``config.schema``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wardgate.config.policy_mode import PolicyMode

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
Scope = Literal["key", "user", "team", "project", "agent", "model", "global"]
SCOPES: tuple[Scope, ...] = ("key", "user", "team", "project", "agent", "model", "global")
TokenCount = Literal["input", "output", "total"]
OnUnavailable = Literal["open", "closed"]
_MAX = 10**12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitSet(_Strict):
    """One set of limits. On a key, team or project (admin API) it applies to that object; in a config rule, to
    the rule's scope."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=_MAX)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=_MAX)
    tokens_per_day: int | None = Field(default=None, ge=1, le=_MAX)
    concurrent: int | None = Field(default=None, ge=1, le=1_000_000, description="Requests in flight at once.")
    count: TokenCount = Field(default="total", description="Which tokens the token limits count.")
    mode: PolicyMode = Field(default="enforce", description="audit: log would-be refusals, never refuse.")
    on_unavailable: OnUnavailable = Field(
        default="open", description="When the shared store (Redis) is unreachable: open (local limits) or closed."
    )

    @property
    def empty(self) -> bool:
        return (
            self.requests_per_minute is None
            and self.tokens_per_minute is None
            and self.tokens_per_day is None
            and self.concurrent is None
        )


class LimitRule(LimitSet):
    """A config rule: a ``LimitSet`` at a scope, optionally for one subject and some models."""

    name: str = Field(pattern=_NAME, description="Names the limit in 429 messages, logs and headers.")
    scope: Scope
    match: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Only this subject (a key/team/project/user id or name, an agent or model name); "
        "absent: every subject of the scope gets its own bucket.",
    )
    models: list[str] | None = Field(default=None, min_length=1, description="Only requests for these models.")

    @model_validator(mode="after")
    def _meaningful(self) -> LimitRule:
        if self.empty:
            raise ValueError(
                "a limit rule needs at least one of requests_per_minute, tokens_per_minute, tokens_per_day, concurrent"
            )
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global limit has no `match`")
        return self


class DeploymentLimits(_Strict):
    """A deployment's own quota at its provider. Routing spreads load to deployments with headroom, so the gateway
    stays under the quota before the provider says 429; when every deployment is full the request gets 429."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=_MAX)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=_MAX)


class LimitsServerConfig(_Strict):
    expected_output_tokens: int = Field(
        default=1024, ge=0, le=10_000_000, description="Reserved for output when a request sets no max tokens."
    )
    lease_seconds: float = Field(
        default=900, gt=0, le=86_400, description="How long an unsettled reservation (a crashed process) holds."
    )
    response_headers: bool = True
    agent_header: str = Field(default="x-wardgate-agent", pattern=r"^[a-z0-9-]{1,64}$")
    redis_prefix: str = Field(
        default="wardgate", pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="Namespace of the counters in Redis."
    )


def rule_problems(rules: list[LimitRule]) -> list[str]:
    """Load-time checks across rules: names are unique."""
    seen: set[str] = set()
    problems = []
    for rule in rules:
        if rule.name in seen:
            problems.append(f"limits: the rule name `{rule.name}` is used twice")
        seen.add(rule.name)
    return problems
