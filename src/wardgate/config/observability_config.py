"""``observability:``: metrics and traces (logs are ``server.log_level`` / ``server.access_log``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from wardgate.config.metrics_config import MetricsConfig
from wardgate.config.tracing_config import TracingConfig


class ObservabilityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
