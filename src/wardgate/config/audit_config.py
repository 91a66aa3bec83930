"""The audit trail's settings (``audit:``).

```yaml
audit:
  content: off                 # prompt and response content in audit records: off | redacted | full
  retention_days: 365          # purge record content older than this (the chain stays verifiable); null: keep
  classify: [phi, pii]         # flag requests whose prompt contains these (costs CPU per request; reports use it)
  teams:                       # per team (by id or name): content and retention
    clinical:
      content: full
      retention_days: 2555
  seal_interval_seconds: 60    # how often the chain's tip is sealed (HMAC under the vault's master key)
  sinks:                       # forwarded copies besides the database (config/audit_sinks_config.py)
    - {name: siem, type: splunk_hec, url: "https://splunk.example.com:8088", token: "${SPLUNK_HEC_TOKEN}"}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wardgate.config.audit_sinks_config import AuditSink, sink_problems

ContentMode = Literal["off", "redacted", "full"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditTeamConfig(_Strict):
    content: ContentMode | None = Field(default=None, description="Default: audit.content.")
    retention_days: float | None = Field(default=None, gt=0, description="Default: audit.retention_days.")


class AuditConfig(_Strict):
    enabled: bool = Field(default=True, description="Audit proxy requests (admin changes are always audited).")
    content: ContentMode = "off"
    retention_days: float | None = Field(default=None, gt=0)
    classify: list[Literal["phi", "pii"]] = Field(default_factory=list)
    teams: dict[str, AuditTeamConfig] = Field(default_factory=dict)
    seal_interval_seconds: float = Field(default=60.0, ge=1)
    max_content_chars: int = Field(default=100_000, ge=0, description="Content longer than this is cut (marked).")
    sinks: list[AuditSink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_sinks(self) -> AuditConfig:
        problems = sink_problems(self.sinks)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def for_team(self, team_id: str | None, team_name: str | None = None) -> tuple[ContentMode, float | None]:
        """The content mode and retention (days) of a team's records."""
        team = self.teams.get(team_id or "") or self.teams.get(team_name or "")
        if team is None:
            return self.content, self.retention_days
        content = team.content if team.content is not None else self.content
        retention = team.retention_days if team.retention_days is not None else self.retention_days
        return content, retention
