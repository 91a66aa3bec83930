"""The candidates of one request, in order: the model's deployments (ordered by its strategy), then each
fallback model's, after the content rules; and the cursor the router walks them with (``Plan``).

Content rules, applied to every group (fallbacks included):

- **long context**: a prompt estimated above ``long_context.above_tokens`` goes to ``long_context.model``
  instead; otherwise that model is held in reserve for a context-length refusal.
- **sensitive**: a request flagged sensitive (header ``x-wardgate-sensitive: true`` or key metadata
  ``sensitive: true``) only goes to deployments carrying one of the model's ``sensitive_tags`` (default
  ``server.routing.sensitive_tag``); when no candidate has one, 403 ``no_sensitive_deployment``.
- **context window**: a deployment whose ``max_context_tokens`` is below the estimated prompt plus the requested
  output is skipped; when that leaves nothing, 400 ``context_length_exceeded``.
- **capabilities**: a request with tools, images or a JSON schema skips deployments whose model lacks them (model
  data, or the deployment's ``capabilities``) while another candidate has them; when none has, nothing is skipped
  and the provider answers for itself (the data must never refuse a request on its own).

Each group is gated by the breaker board (``board.select``) only when the router reaches it, so a request that
succeeds on its model's first deployment never touches its fallbacks' breakers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from wardgate.core.errors import InvalidRequestError, NoHealthyDeploymentError, PermissionDeniedError
from wardgate.routing.breaker import BreakerBoard
from wardgate.routing.facts import RequestFacts
from wardgate.routing.health import HealthRegistry
from wardgate.routing.retry import CONTEXT_LENGTH_CODE
from wardgate.routing.strategies import order
from wardgate.routing.table import Deployment, ModelRoute, RouteTable


@dataclass(slots=True)
class Group:
    route: ModelRoute
    deployments: Sequence[Deployment]
    selected: Sequence[Deployment] | None = None
    """What the breaker board let through (set when the router reaches the group)."""
    reserve: bool = False
    """Only used after a context-length refusal (the long-context model)."""


@dataclass(slots=True)
class Tried:
    group: Group
    deployment: Deployment
    count: int = 1
    ready: float = 0.0
    """``perf_counter`` instant before which it should not be retried (its ``Retry-After``)."""
    again: bool = True
    """Whether a retry of this very deployment may help."""


@dataclass(slots=True)
class Plan:
    groups: list[Group]
    board: BreakerBoard
    tried: list[Tried] = field(default_factory=list)
    _group: int = 0
    _index: int = 0
    _dropped: set[str] | None = None
    """Routes refused for a context-length error, as model names."""
    _ceiling: int | None = None
    """After a context-length error: only deployments with a larger (or unknown) window."""
    served: Tried | None = None
    """The attempt that answered."""
    skip: frozenset[str] = frozenset()
    """Deployments not to try for this request (their provider quota is full)."""

    def candidates(self) -> list[Deployment]:
        """Every deployment the request may reach, in the order it would try them (before breaker gating)."""
        return [d for g in self.groups if not g.reserve for d in g.deployments]

    def next_untried(self, now: float) -> Tried | None:
        """The next deployment not tried yet, gating each group through the board when first reached."""
        groups = self.groups
        while self._group < len(groups):
            group = groups[self._group]
            if group.reserve:
                self._group += 1
                continue
            if group.selected is None:
                group.selected = _gate(self.board, group, now)
            while self._index < len(group.selected):
                deployment = group.selected[self._index]
                self._index += 1
                if self.skip and deployment.id in self.skip:
                    continue
                if not self.tried or (self._usable(group, deployment) and self.find(deployment) is None):
                    entry = Tried(group, deployment)
                    self.tried.append(entry)
                    return entry
            self._group += 1
            self._index = 0
        return None

    def retry_candidate(self) -> Tried | None:
        """An already tried deployment worth another attempt: the one ready soonest (then the preferred one)."""
        best: Tried | None = None
        for entry in self.tried:
            if (
                entry.again
                and self._usable(entry.group, entry.deployment)
                and (best is None or entry.ready < best.ready)
            ):
                best = entry
        return best

    def find(self, deployment: Deployment) -> Tried | None:
        for entry in self.tried:
            if entry.deployment.id == deployment.id:
                return entry
        return None

    def context_refused(self, entry: Tried) -> None:
        """The prompt did not fit ``entry``: only larger windows from now on (another model's when the sizes are
        unknown), the reserved long-context model first."""
        if self._dropped is None:
            self._dropped = set()
        self._dropped.add(entry.group.route.name)
        window = entry.deployment.max_context_tokens
        if window is not None:
            self._ceiling = window if self._ceiling is None else max(self._ceiling, window)
        for group in self.groups:
            if group.reserve:
                group.reserve = False
                self.groups.remove(group)
                self.groups.insert(self._group, group)
                self._index = 0  # members of the interrupted group already tried are skipped when it resumes
                break
        for tried in self.tried:
            tried.again = False

    def _usable(self, group: Group, deployment: Deployment) -> bool:
        """After a context-length refusal: a known window must be larger than the largest refused one; an unknown
        one is only worth trying on another model."""
        if self._dropped is None:
            return True
        window = deployment.max_context_tokens
        if window is not None and self._ceiling is not None:
            return window > self._ceiling
        return group.route.name not in self._dropped

    def no_healthy(self, model: str, now: float) -> NoHealthyDeploymentError:
        """Every group was gated out: fail fast, saying when some deployment may be tried again."""
        waits = [self.board.retry_after([d.id for d in g.deployments], now) for g in self.groups if not g.reserve]
        return NoHealthyDeploymentError(model, min(waits) if waits else 1.0)


def build_plan(
    table: RouteTable,
    route: ModelRoute,
    facts: RequestFacts,
    health: HealthRegistry,
    rng: random.Random,
    board: BreakerBoard,
) -> Plan:
    """The request's groups: ``route`` (or its long-context model) and its fallbacks, content rules applied."""
    reserve: ModelRoute | None = None
    if route.long_context is not None:
        target = table.get(route.long_context)
        if target is not None and route.config.long_context is not None:
            if facts.prompt_tokens > route.config.long_context.above_tokens:
                route = target
            else:
                reserve = target
    routes = [route]
    for name in route.fallbacks:
        fallback = table.get(name)
        if fallback is not None:
            routes.append(fallback)
    capable = route.checks_capabilities and facts.needs
    if len(routes) == 1 and reserve is None and not facts.sensitive and not route.needs_tokens and not capable:
        return Plan([Group(route, order(route, facts, health, rng))], board)  # the common case, nothing to filter
    groups = [Group(r, _filtered(r, order(r, facts, health, rng), facts)) for r in routes]
    if capable:
        _keep_capable(groups, facts.needs)
    if reserve is not None and reserve not in routes:
        groups.append(Group(reserve, _filtered(reserve, order(reserve, facts, health, rng), facts), reserve=True))
    kept = [g for g in groups if g.deployments]
    if not any(not g.reserve for g in kept):
        raise _refusal(route, routes, facts)
    return Plan(kept, board)


def _filtered(route: ModelRoute, deployments: Sequence[Deployment], facts: RequestFacts) -> Sequence[Deployment]:
    if facts.sensitive:
        allowed = route.sensitive_tags
        deployments = [d for d in deployments if not d.tags.isdisjoint(allowed)]
    if route.needs_tokens and any(d.max_context_tokens is not None for d in deployments):
        needed = facts.prompt_tokens + (facts.max_output or 0)
        deployments = [d for d in deployments if d.max_context_tokens is None or d.max_context_tokens >= needed]
    return deployments


def _keep_capable(groups: list[Group], needs: frozenset[str]) -> None:
    """Drop deployments lacking a needed capability, unless that would drop every candidate."""
    kept = [[d for d in g.deployments if d.lacks.isdisjoint(needs)] for g in groups]
    if not any(kept):
        return
    for group, deployments in zip(groups, kept, strict=True):
        group.deployments = deployments


def _refusal(route: ModelRoute, routes: Sequence[ModelRoute], facts: RequestFacts) -> Exception:
    """Why no candidate is left: no deployment approved for sensitive data, else none with a large enough window."""
    if facts.sensitive and all(d.tags.isdisjoint(r.sensitive_tags) for r in routes for d in r.deployments):
        tags = ", ".join(sorted(route.sensitive_tags))
        return PermissionDeniedError(
            f"This request is flagged sensitive, and no deployment of `{route.name}` or its fallbacks is approved "
            f"for sensitive data (tag: {tags}).",
            code="no_sensitive_deployment",
        )
    return InvalidRequestError(
        f"The prompt (about {facts.prompt_tokens} tokens) does not fit the context window of any deployment "
        f"of `{route.name}` or its fallbacks.",
        param="messages",
        code=CONTEXT_LENGTH_CODE,
    )


def _gate(board: BreakerBoard, group: Group, now: float) -> Sequence[Deployment]:
    """The deployments the board lets through, in our order."""
    deployments = group.deployments
    if not deployments:
        return deployments
    route = group.route
    ids = route.ordered_ids if deployments is route.ordered else [d.id for d in deployments]
    selected = board.select(ids, now)
    if len(selected) == len(ids):
        return deployments
    chosen = set(selected)
    return [d for d in deployments if d.id in chosen]
