"""Budget settings: config rules (``budgets:``) and where alerts go (``server.budgets``).

```yaml
server:
  budgets:
    notify:                          # each threshold crossing is sent once per budget, window and threshold
      - {url: "https://hooks.example.com/finance", format: json}
      - {url: "https://hooks.slack.com/services/<your incoming-webhook path>", format: slack}
budgets:
  - name: team-monthly               # named in 429 messages, alerts and logs
    scope: team                      # org | team | project | key | user | agent
    match: ml-research               # only this one (id or name); absent: each team gets its own budget
    period: monthly                  # daily | weekly | monthly | total (windows are UTC calendar periods)
    amount_usd: 500
    alerts: [0.8, 1.0]               # shares of the amount that send a notification
    mode: enforce                    # audit: alert and log, never refuse
    downgrade: {at: 0.9, to: gpt-4o-mini}   # from 90 % on, other models' requests go to this cheaper one
```

Before a call the gateway reserves the request's worst case (the prompt at full input price plus the most output it
may produce, at the first candidate deployment's prices) in every budget that applies, atomically; afterwards the
real cost replaces it. Concurrent requests can therefore overspend by no more than what is in flight. Must not
import ``config.schema``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from wardgate.config.policy_mode import PolicyMode

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
BudgetScope = Literal["org", "team", "project", "key", "user", "agent"]
Period = Literal["daily", "weekly", "monthly", "total"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetDowngrade(_Strict):
    """Instead of refusing near the cap, route to a cheaper model: once the budget's spend reaches ``at`` (a share of
    the amount), requests for other models go to ``to`` (a model name or alias)."""

    at: float = Field(gt=0, le=1)
    to: str = Field(pattern=_NAME)


class BudgetSet(_Strict):
    """One budget without a subject: what a key, team or project carries (``budgets`` in the admin API) and the
    body of every config rule."""

    period: Period = "monthly"
    amount_usd: float = Field(gt=0, le=1e12)
    alerts: list[float] = Field(default_factory=lambda: [0.8, 1.0], max_length=10)
    mode: PolicyMode = "enforce"
    downgrade: BudgetDowngrade | None = None

    @model_validator(mode="after")
    def _shares(self) -> BudgetSet:
        if any(not 0 < share <= 10 for share in self.alerts):
            raise ValueError("alert thresholds are shares of the amount, above 0 (1.0 = the whole budget)")
        return self


class BudgetRule(BudgetSet):
    name: str = Field(pattern=_NAME)
    scope: BudgetScope
    match: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_org(self) -> BudgetRule:
        if self.scope == "org" and self.match is not None:
            raise ValueError("an org budget has no `match` (there is one organisation)")
        return self


class BudgetNotify(_Strict):
    url: HttpUrl
    format: Literal["json", "slack"] = "json"


class BudgetsServerConfig(_Strict):
    notify: list[BudgetNotify] = Field(default_factory=list)
    retries: int = Field(default=5, ge=0, le=20, description="Attempts per notification after the first.")


def budget_problems(rules: list[BudgetRule], models: set[str] | None = None) -> list[str]:
    """Unique names; a downgrade goes to a model the config serves (``models``: every name and alias)."""
    seen: set[str] = set()
    problems = []
    for rule in rules:
        if rule.downgrade is not None and models is not None and rule.downgrade.to not in models:
            problems.append(f"budgets: `{rule.name}` downgrades to the unknown model `{rule.downgrade.to}`")
        if rule.name in seen:
            problems.append(f"budgets: the budget name `{rule.name}` is used twice")
        seen.add(rule.name)
    return problems
