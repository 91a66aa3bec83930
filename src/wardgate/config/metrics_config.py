"""Prometheus metrics settings (``observability.metrics``); ``server.metrics`` still switches ``/metrics`` on/off."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team_labels: bool = Field(
        default=False, description="Add a team label to request, token and cost metrics (one series per team)."
    )
