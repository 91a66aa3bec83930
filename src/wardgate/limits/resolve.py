"""Which limits apply to one request, as bucket demands (``LimitPolicy``, compiled once per config snapshot).

Sources: the config's rules (``limits:``), the limits the principal's key, team and project carry (admin API,
``Principal.limits``), and the candidate deployments' own quotas. Subjects per scope: ``key`` the virtual key,
``user`` the person (a key's owner or a signed-in user), ``team``/``project`` the principal's, ``agent`` the key's
``metadata.agent`` — or the ``x-wardgate-agent`` header when its metadata says ``agent_header: true`` —, ``model``
the canonical model name, ``global`` everything. A rule without ``match`` gives every subject its own bucket; with
``match`` it applies to that one only (an id; teams also by name). The master key is subject only to model and
global rules. Bucket keys are the same on every replica and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from wardgate.config.limits_config import DeploymentLimits, LimitRule, LimitSet, TokenCount
from wardgate.core.types import Principal
from wardgate.limits.buckets import CONCURRENCY, RATE, Demand
from wardgate.routing.table import RouteTable

Unit = Literal["requests", "tokens", "concurrent", "usd"]
_MINUTE = 60.0
_DAY = 86_400.0
_AGENT_MAX = 64


@dataclass(frozen=True, slots=True)
class Meter:
    """What one demand measures, for messages, headers, logs and settlement."""

    limit: str
    """The limit's name: a rule's name, or "key limits" / "team limits" / "project limits"."""
    scope: str
    subject: str
    unit: Unit
    per: str
    """"minute", "day" or "" (concurrency)."""
    count: TokenCount = "total"

    def describe(self) -> str:
        if self.unit == "concurrent":
            return "concurrent requests"
        if self.unit == "usd":
            return f"USD {self.per}" if self.per != "total" else "USD in all"
        return f"{self.unit} per {self.per}"


@dataclass(frozen=True, slots=True)
class Amounts:
    """What one request reserves: the prompt's tokens and the output it may produce."""

    prompt: int
    output: int

    def of(self, count: TokenCount) -> int:
        if count == "input":
            return self.prompt
        if count == "output":
            return self.output
        return self.prompt + self.output


@dataclass(frozen=True, slots=True)
class _Rule:
    rule: LimitRule
    models: frozenset[str] | None


class LimitPolicy:
    def __init__(
        self, rules: Sequence[LimitRule], routes: RouteTable, agent_header: str, prefix: str = "wardgate"
    ) -> None:
        self.prefix = "{" + prefix + "}:rl:"  # a hash tag: one script's keys share a Redis Cluster slot
        self._rules = tuple(
            _Rule(rule, routes.canonical_names(frozenset(rule.models)) if rule.models else None) for rule in rules
        )
        self.agent_header = agent_header
        self._templates: dict[tuple[int, str, str], tuple[LimitSet, list[tuple[Demand, Meter]]]] = {}
        self._deployments: dict[str, tuple[DeploymentLimits, list[tuple[Demand, Meter]]]] = {}

    def sets(
        self,
        principal: Principal | None,
        model: str,
        headers: Mapping[str, str],
        team_ids: Mapping[str, str],
        subjects: Mapping[str, str] | None = None,
    ) -> list[tuple[LimitSet, str, str, str]]:
        """(limit set, limit name, scope, subject) for every limit that applies to this request (``subjects``:
        ``subjects_of`` the request, when the caller already has them)."""
        found: list[tuple[LimitSet, str, str, str]] = []
        if subjects is None:
            subjects = subjects_of(principal, model, headers, self.agent_header)
        for compiled in self._rules:
            rule = compiled.rule
            if compiled.models is not None and model not in compiled.models:
                continue
            subject = subjects.get(rule.scope)
            if subject is None:
                continue
            if rule.match is not None and not _matches(rule, subject, team_ids):
                continue
            found.append((rule, rule.name, rule.scope, subject))
        if principal is not None:
            for scope, limits in principal.limits.items():
                subject = subjects.get(scope)
                if subject is not None and isinstance(limits, LimitSet):
                    found.append((limits, f"{scope} limits", scope, subject))
        return found

    def demands(
        self, limits: LimitSet, name: str, scope: str, subject: str, amounts: Callable[[], Amounts]
    ) -> list[tuple[Demand, Meter]]:
        """``demands_of`` with the per-subject work (keys, meters) done once: only token amounts vary per request."""
        key = (id(limits), scope, subject)
        cached = self._templates.get(key)
        if cached is None or cached[0] is not limits:
            if len(self._templates) >= _TEMPLATES:
                self._templates.clear()
            cached = self._templates[key] = (limits, demands_of(self.prefix, limits, name, scope, subject, _ZERO))
        return [_priced(demand, meter, amounts) for demand, meter in cached[1]]

    def deployment_demands(
        self, deployment_id: str, limits: DeploymentLimits, amounts: Callable[[], Amounts]
    ) -> list[tuple[Demand, Meter]]:
        cached = self._deployments.get(deployment_id)
        if cached is None or cached[0] is not limits:
            cached = self._deployments[deployment_id] = (
                limits,
                deployment_demands(self.prefix, deployment_id, limits, _ZERO),
            )
        return [_priced(demand, meter, amounts) for demand, meter in cached[1]]


def _zero() -> Amounts:
    return Amounts(0, 0)


_ZERO = _zero
_TEMPLATES = 65_536
"""Subjects whose bucket templates are kept (a bounded cache: cleared when full)."""


def _priced(demand: Demand, meter: Meter, amounts: Callable[[], Amounts]) -> tuple[Demand, Meter]:
    if meter.unit != "tokens":
        return demand, meter
    amount = amounts().of(meter.count)
    return Demand(
        demand.key, demand.kind, demand.capacity, demand.period, amount, demand.enforce, demand.fail_closed
    ), meter


def demands_of(
    prefix: str, limits: LimitSet, name: str, scope: str, subject: str, amounts: Callable[[], Amounts]
) -> list[tuple[Demand, Meter]]:
    """The bucket demands of one limit set (``amounts`` is called only when a token limit needs it)."""
    base = f"{prefix}{scope}:{subject}:{name}:"
    enforce = limits.mode == "enforce"
    closed = limits.on_unavailable == "closed"
    out: list[tuple[Demand, Meter]] = []
    if limits.requests_per_minute is not None:
        demand = Demand(base + "rpm", RATE, limits.requests_per_minute, _MINUTE, 1, enforce, closed)
        out.append((demand, Meter(name, scope, subject, "requests", "minute")))
    for capacity, period, per, suffix in (
        (limits.tokens_per_minute, _MINUTE, "minute", "tpm"),
        (limits.tokens_per_day, _DAY, "day", "tpd"),
    ):
        if capacity is not None:
            amount = amounts().of(limits.count)
            demand = Demand(f"{base}{suffix}:{limits.count}", RATE, capacity, period, amount, enforce, closed)
            out.append((demand, Meter(name, scope, subject, "tokens", per, limits.count)))
    if limits.concurrent is not None:
        demand = Demand(base + "cc", CONCURRENCY, limits.concurrent, 0.0, 1, enforce, closed)
        out.append((demand, Meter(name, scope, subject, "concurrent", "")))
    return out


def deployment_demands(
    prefix: str, deployment_id: str, limits: DeploymentLimits, amounts: Callable[[], Amounts]
) -> list[tuple[Demand, Meter]]:
    base = f"{prefix}deployment:{deployment_id}:"
    name = f"deployment {deployment_id}"
    out: list[tuple[Demand, Meter]] = []
    if limits.requests_per_minute is not None:
        demand = Demand(base + "rpm", RATE, limits.requests_per_minute, _MINUTE, 1)
        out.append((demand, Meter(name, "deployment", deployment_id, "requests", "minute")))
    if limits.tokens_per_minute is not None:
        demand = Demand(base + "tpm", RATE, limits.tokens_per_minute, _MINUTE, amounts().of("total"))
        out.append((demand, Meter(name, "deployment", deployment_id, "tokens", "minute")))
    return out


def subjects_of(
    principal: Principal | None, model: str, headers: Mapping[str, str], agent_header: str
) -> dict[str, str]:
    subjects = {"model": model, "global": "all", "org": "org"}  # one organisation: every request counts in it
    if principal is None or principal.kind == "master":
        return subjects
    if principal.kind == "key":
        subjects["key"] = principal.key_id
    if principal.user_id is not None:
        subjects["user"] = principal.user_id
    team = principal.team_id
    if team is not None:
        subjects["team"] = team
    if principal.project_id is not None:
        subjects["project"] = principal.project_id
    agent = agent_of(principal, headers, agent_header)
    if agent is not None:
        subjects["agent"] = f"{team}/{agent}" if team is not None else agent  # agents are named within a team
    return subjects


def _matches(rule: LimitRule, subject: str, team_ids: Mapping[str, str]) -> bool:
    match = rule.match
    if match == subject:
        return True
    if rule.scope == "team":
        return team_ids.get(match or "") == subject
    if rule.scope == "agent":
        return subject.rpartition("/")[2] == match
    return False


def agent_of(principal: Principal, headers: Mapping[str, str], agent_header: str) -> str | None:
    """The agent a request speaks for: the key's ``metadata.agent``, else the header when the key may set it."""
    metadata = principal.metadata
    agent = metadata.get("agent")
    if isinstance(agent, str) and agent:
        return agent[:_AGENT_MAX]
    if metadata.get("agent_header") is True:
        given = headers.get(agent_header, "").strip()
        if given:
            return given[:_AGENT_MAX]
    return None
