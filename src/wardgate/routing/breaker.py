"""Circuit breakers per deployment: the interface the router uses (``BreakerBoard``), the board that never ejects
anything (``OpenBoard``) and the real one (``CircuitBreakerBoard``). Deployments are named by ``deployment_id``
(provider name + "/" + upstream model).

A breaker is closed → open → half-open → closed. It opens after ``consecutive_failures`` failures in a row, or when
at least ``failure_ratio`` of the last ``window_seconds``' requests failed (once the window holds ``min_requests``).
It stays open for a cool-down that starts at ``base_cooldown_seconds`` and doubles with every trip in a row (capped
at ``max_cooldown_seconds``); then it is half-open and admits one probe at a time: the probe's success closes it
(and resets the cool-down), its failure opens it again for twice as long. A probe that never reports back frees its
slot after ``probe_timeout_seconds``. A provider's ``Retry-After`` (``cool_down``) skips a deployment until then
without counting as a trip. ``select`` never ejects more than ``max_ejected_share`` of a group (at least one may
go): beyond that, the open breakers that opened longest ago are let through as probes (a breaker with its probe out
is in rotation, one request at a time, so it does not count as ejected).

Everything here is memory only and synchronous (one event loop, no awaits: each call is atomic). Time comes from the
caller (``now``, and ``until`` of ``cool_down``) and must be on the board's ``clock``: wall time unless injected, as
the router's (``routing.state.wall_clock``). The board reads the clock itself only for remote transitions,
``cool_down`` reports and ``states()``. State changes decided here go to
``listener`` (``routing.breaker_shared`` sends them to the other replicas, which ``apply`` them).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from pydantic import SecretStr

from wardgate.config.breaker_config import BreakerConfig
from wardgate.config.routing_config import deployment_id as id_of
from wardgate.config.schema import GatewayConfig
from wardgate.routing.breaker_state import CLOSED, HALF_OPEN, OPEN, Breaker, Transition, Window

_MAX_DOUBLINGS = 30
_log = logging.getLogger("wardgate.routing")


class BreakerBoard(Protocol):
    """Per-deployment health gates, consulted on every attempt (memory only on the request path)."""

    def select(self, group: Sequence[str], now: float) -> list[str]:
        """The deployments of ``group`` (in the router's preferred order) that may be tried now: closed ones, and
        half-open ones whose probe slot this call takes. Never ejects more than the configured share of a group."""
        ...

    def record(self, deployment_id: str, ok: bool, now: float) -> None:
        """The outcome of one attempt (only failures another deployment could avoid count as failures)."""
        ...

    def cool_down(self, deployment_id: str, until: float) -> None:
        """The provider said to wait (``Retry-After``): skip this deployment until ``until``."""
        ...

    def retry_after(self, group: Sequence[str], now: float) -> float:
        """Seconds until some deployment of ``group`` may be tried again (for a fail-fast 503)."""
        ...

    def states(self) -> dict[str, dict[str, Any]]:
        """Every known deployment's breaker state, for the admin API and metrics."""
        ...


class OpenBoard:
    """Lets everything through: the board before breakers are configured (and in unit tests of the router)."""

    def select(self, group: Sequence[str], now: float) -> list[str]:
        return list(group)

    def record(self, deployment_id: str, ok: bool, now: float) -> None:
        return None

    def cool_down(self, deployment_id: str, until: float) -> None:
        return None

    def retry_after(self, group: Sequence[str], now: float) -> float:
        return 0.0

    def states(self) -> dict[str, dict[str, Any]]:
        return {}


class CircuitBreakerBoard:
    """The breakers of every deployment this replica has seen (see the module docstring)."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or BreakerConfig()
        self._clock, self._wall = clock, wall
        self._breakers: dict[str, Breaker] = {}
        self._fingerprints: dict[str, str] = {}
        self.listener: Callable[[Transition], None] | None = None
        """Told about every transition decided on this replica (not those applied from elsewhere)."""

    # --- the request path ----------------------------------------------------------------------------------------

    def select(self, group: Sequence[str], now: float) -> list[str]:
        passing: set[str] = set()
        ejected: list[tuple[float, int, str]] = []  # (opened_at, position, id) of open breakers
        for position, deployment_id in enumerate(group):
            breaker = self._get(deployment_id)
            if now < breaker.cooldown_until:
                continue  # the provider asked for a pause: not the breaker's ejection
            state = breaker.effective(now)
            if state == HALF_OPEN:  # probing: in rotation one request at a time, so not ejected
                if not breaker.probe_busy(now):
                    passing.add(deployment_id)
            elif state == CLOSED:
                passing.add(deployment_id)
            else:
                ejected.append((breaker.opened_at or 0.0, position, deployment_id))
        overflow = len(ejected) - self._cap(len(group))
        if overflow > 0:
            passing.update(deployment_id for _, _, deployment_id in sorted(ejected)[:overflow])
        chosen = [deployment_id for deployment_id in group if deployment_id in passing]
        for deployment_id in chosen:
            breaker = self._breakers[deployment_id]
            if breaker.effective(now) != CLOSED:
                self._take_probe(deployment_id, breaker, now)
        return chosen

    def record(self, deployment_id: str, ok: bool, now: float) -> None:
        breaker = self._get(deployment_id)
        if breaker.state == CLOSED:
            breaker.unsent[0] += 1
            breaker.unsent[1] += 0 if ok else 1
            breaker.window.add(now, 1, 0 if ok else 1)
            breaker.consecutive = 0 if ok else breaker.consecutive + 1
            if not ok and self._should_trip(breaker, now):
                self._trip(deployment_id, breaker, now)
            return
        if breaker.state == HALF_OPEN and breaker.probe_local and breaker.probe_busy(now):
            if ok:  # the probe answered: the deployment is back
                breaker.close()
                self._changed(deployment_id, breaker, Transition(deployment_id, "closed"))
            else:
                breaker.consecutive += 1
                self._trip(deployment_id, breaker, now)
        # otherwise an open breaker hears from a request sent before it opened: no news

    def cool_down(self, deployment_id: str, until: float) -> None:
        breaker = self._get(deployment_id)
        if until <= breaker.cooldown_until:
            return
        breaker.cooldown_until = until
        self._changed(deployment_id, breaker, Transition(deployment_id, "cool_down", until - self._clock()))

    def retry_after(self, group: Sequence[str], now: float) -> float:
        soonest = math.inf
        for deployment_id in group:
            breaker = self._breakers.get(deployment_id)
            soonest = min(soonest, now if breaker is None else breaker.eligible_at(now))
        if soonest == math.inf:
            return 1.0
        return float(max(1, math.ceil(soonest - now)))

    # --- reports and admin ---------------------------------------------------------------------------------------

    def states(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {deployment_id: self._report(breaker, now) for deployment_id, breaker in self._breakers.items()}

    def state(self, deployment_id: str) -> dict[str, Any]:
        """One deployment's report (a closed, empty one for a deployment never seen)."""
        breaker = self._breakers.get(deployment_id)
        return self._report(breaker or Breaker(Window(self.config.window_seconds)), self._clock())

    def reset(self, deployment_id: str) -> None:
        """Close by hand (an admin): also ends a provider cool-down and forgets the window."""
        breaker = self._get(deployment_id)
        breaker.close()
        breaker.cooldown_until = 0.0
        self._changed(deployment_id, breaker, Transition(deployment_id, "reset"), source="admin")

    def retain(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Follow a new config (``deployment_fingerprints``): a deployment whose definition changed (its provider's
        URL, settings or credential, its upstream model) starts closed — the evidence was about the old one — and
        a deployment gone from the config is forgotten. Local only: every replica applies the config itself.
        Returns the ids whose open breaker this closed."""
        closed: list[str] = []
        for deployment_id in [known for known in self._breakers if known not in fingerprints]:
            del self._breakers[deployment_id]
        for deployment_id, fingerprint in fingerprints.items():
            before = self._fingerprints.get(deployment_id)
            breaker = self._breakers.get(deployment_id)
            if before is not None and before != fingerprint and breaker is not None:
                if breaker.state != CLOSED or breaker.cooldown_until:
                    closed.append(deployment_id)
                breaker.close()
                breaker.cooldown_until = 0.0
        self._fingerprints = dict(fingerprints)
        return closed

    # --- what other replicas decided -----------------------------------------------------------------------------

    def apply(self, transition: Transition) -> None:
        """A transition another replica decided (its durations start now on this board's clock). Not reported to
        ``listener``: it came from the others."""
        now = self._clock()
        breaker = self._get(transition.deployment_id)
        kind = transition.kind
        if kind == "open":
            until = now + transition.duration
            if breaker.effective(now) == OPEN:
                until = max(until, breaker.open_until)  # already open here: the later end wins
            else:
                breaker.opened_at = now
                breaker.trips += 1
            breaker.state, breaker.open_until = OPEN, until
            breaker.level = max(breaker.level, transition.level)
            breaker.probe_until, breaker.probe_local = 0.0, False
        elif kind == "half_open":
            if breaker.probe_local and breaker.probe_busy(now):
                return  # our own probe is out; whichever answers first decides
            breaker.state = HALF_OPEN
            breaker.opened_at = breaker.opened_at if breaker.opened_at is not None else now
            breaker.probe_until, breaker.probe_local = now + transition.duration, False
        elif kind in ("closed", "reset"):
            breaker.close()
            if kind == "reset":
                breaker.cooldown_until = 0.0
        elif kind == "cool_down":
            breaker.cooldown_until = max(breaker.cooldown_until, now + transition.duration)
        breaker.last_change = "remote"

    def standing(self) -> list[Transition]:
        """What is in force now as transitions (open breakers, provider cool-downs) with the time each has left:
        sent again after the other replicas may have missed messages (a Redis outage)."""
        now = self._clock()
        found: list[Transition] = []
        for deployment_id, breaker in self._breakers.items():
            if breaker.effective(now) == OPEN:
                found.append(Transition(deployment_id, "open", breaker.open_until - now, breaker.level))
            if breaker.cooldown_until > now:
                found.append(Transition(deployment_id, "cool_down", breaker.cooldown_until - now))
        return found

    def take_counts(self) -> dict[str, tuple[int, int]]:
        """(requests, failures) recorded here since the last call, per deployment, for the other replicas."""
        taken: dict[str, tuple[int, int]] = {}
        for deployment_id, breaker in self._breakers.items():
            if breaker.unsent[0]:
                taken[deployment_id] = (breaker.unsent[0], breaker.unsent[1])
                breaker.unsent[0] = breaker.unsent[1] = 0
        return taken

    def add_counts(self, counts: dict[str, tuple[int, int]]) -> None:
        """Other replicas' outcomes join the window of closed breakers: the failure ratio covers every replica's
        traffic (failures in a row stay per replica: interleaving them says nothing)."""
        now = self._clock()
        for deployment_id, (requests, failures) in counts.items():
            breaker = self._get(deployment_id)
            if breaker.state != CLOSED:
                continue
            breaker.window.add(now, requests, failures)
            if failures and self._should_trip(breaker, now):
                self._trip(deployment_id, breaker, now)

    # --- internals -----------------------------------------------------------------------------------------------

    def _get(self, deployment_id: str) -> Breaker:
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            breaker = self._breakers[deployment_id] = Breaker(Window(self.config.window_seconds))
        return breaker

    def _cap(self, size: int) -> int:
        """How many of a group of ``size`` breakers may eject: the configured share, at least one."""
        return max(1, math.floor(self.config.max_ejected_share * size + 1e-9))

    def _should_trip(self, breaker: Breaker, now: float) -> bool:
        config = self.config
        if breaker.consecutive >= config.consecutive_failures:
            return True
        requests, failures = breaker.window.counts(now)
        return requests >= config.min_requests and failures >= config.failure_ratio * requests

    def _trip(self, deployment_id: str, breaker: Breaker, now: float) -> None:
        config = self.config
        breaker.level += 1
        cooldown = config.base_cooldown_seconds * 2 ** min(breaker.level - 1, _MAX_DOUBLINGS)
        cooldown = min(cooldown, config.max_cooldown_seconds)
        breaker.state = OPEN
        breaker.opened_at = now
        breaker.open_until = now + cooldown
        breaker.trips += 1
        breaker.probe_until, breaker.probe_local = 0.0, False
        self._changed(deployment_id, breaker, Transition(deployment_id, "open", cooldown, breaker.level))

    def _take_probe(self, deployment_id: str, breaker: Breaker, now: float) -> None:
        timeout = self.config.probe_timeout_seconds
        breaker.state = HALF_OPEN
        breaker.probe_until, breaker.probe_local = now + timeout, True
        self._changed(deployment_id, breaker, Transition(deployment_id, "half_open", timeout))

    def _changed(self, deployment_id: str, breaker: Breaker, transition: Transition, source: str = "local") -> None:
        breaker.last_change = "admin" if source == "admin" else "local"
        if self.listener is not None:
            self.listener(transition)

    def _report(self, breaker: Breaker, now: float) -> dict[str, Any]:
        wall = self._wall()

        def at(moment: float | None) -> float | None:
            return None if moment is None or moment <= 0 else round(wall - (now - moment), 3)

        state = breaker.effective(now)
        requests, failures = breaker.window.peek()
        return {
            "state": state,
            "consecutive_failures": breaker.consecutive,
            "window": {"requests": requests, "failures": failures, "seconds": self.config.window_seconds},
            "opened_at": at(breaker.opened_at) if state != CLOSED else None,
            "open_until": at(breaker.open_until) if state == OPEN else None,
            "cooldown_until": at(breaker.cooldown_until) if breaker.cooldown_until > now else None,
            "probe_in_flight": state == HALF_OPEN and breaker.probe_busy(now),
            "trips": breaker.trips,
            "level": breaker.level,
            "retry_in": round(max(0.0, breaker.eligible_at(now) - now), 3),
            "last_change": breaker.last_change,
        }


def deployment_fingerprints(config: GatewayConfig) -> dict[str, str]:
    """Per deployment id, a digest of what its health depends on: the provider's whole definition (URL, settings,
    credential — secrets enter only as their own digests) and the upstream model. Routing fields (weight,
    priority, tags) are left out: changing them says nothing about the deployment's health."""
    providers = {provider.name: provider for provider in config.providers}
    found: dict[str, str] = {}
    for model in config.models:
        for deployment in model.deployments:
            provider = providers.get(deployment.provider)
            material = [deployment.provider, deployment.model, provider.model_dump() if provider else None]
            digest = hashlib.sha256(orjson.dumps(material, default=_secret_digest, option=orjson.OPT_SORT_KEYS))
            found[id_of(deployment)] = digest.hexdigest()
    return found


def follow_config(board: BreakerBoard, config: GatewayConfig) -> None:
    """Call with every config the gateway applies (see ``CircuitBreakerBoard.retain``)."""
    if isinstance(board, CircuitBreakerBoard):
        for deployment_id in board.retain(deployment_fingerprints(config)):
            _log.info("config changed: circuit breaker closed", extra={"fields": {"deployment": deployment_id}})


def _secret_digest(value: object) -> str:
    if isinstance(value, SecretStr):
        return "sha256:" + hashlib.sha256(value.get_secret_value().encode()).hexdigest()
    return str(value)
