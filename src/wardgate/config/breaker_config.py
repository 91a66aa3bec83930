"""The ``server.breaker`` section: circuit breakers per deployment (``wardgate.routing.breaker``).

```yaml
server:
  breaker:
    consecutive_failures: 5        # open after this many failures in a row …
    failure_ratio: 0.5             # … or when at least this share of the window's requests failed
    min_requests: 10               #     (only once the window holds this many)
    window_seconds: 30
    base_cooldown_seconds: 5       # first trip; doubles with every trip in a row, capped
    max_cooldown_seconds: 300
    probe_timeout_seconds: 30      # a half-open probe that never reports back frees its slot after this
    max_ejected_share: 0.5         # never eject more than this share of a group (at least one may go)
    shared: true                   # with a Redis URL: every replica skips a deployment one replica opened
    redis_prefix: wardgate:breaker
    sync_interval_seconds: 1       # how often window counters go to the other replicas
```

Changes need a restart. Must not import ``config.schema`` (it imports this).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Off: every deployment is always tried.")
    consecutive_failures: int = Field(default=5, ge=1, le=1000, description="Failures in a row that open it.")
    failure_ratio: float = Field(default=0.5, gt=0, le=1, description="Failed share of the window that opens it.")
    min_requests: int = Field(default=10, ge=1, description="Requests in the window before the ratio counts.")
    window_seconds: float = Field(default=30.0, gt=0, le=3600)
    base_cooldown_seconds: float = Field(default=5.0, gt=0, description="How long the first trip keeps it open.")
    max_cooldown_seconds: float = Field(default=300.0, gt=0, description="Cap of the doubling cool-down.")
    probe_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A half-open probe that never reports back frees its slot after this."
    )
    max_ejected_share: float = Field(
        default=0.5, ge=0, le=1, description="Most of a group ever skipped by breakers (at least one deployment)."
    )
    shared: bool = Field(default=True, description="Share breaker state through Redis when a Redis URL is set.")
    redis_prefix: str = Field(
        default="wardgate:breaker", pattern=r"^[A-Za-z0-9:._-]{1,64}$", description="Channel and key prefix."
    )
    sync_interval_seconds: float = Field(default=1.0, gt=0, le=60, description="Window counters sent this often.")

    @model_validator(mode="after")
    def _cooldowns(self) -> BreakerConfig:
        if self.max_cooldown_seconds < self.base_cooldown_seconds:
            raise ValueError("max_cooldown_seconds must be at least base_cooldown_seconds")
        return self
