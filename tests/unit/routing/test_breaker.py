"""The circuit breaker state machine with an injected clock: trips by failures in a row and by failure ratio,
the growing and resetting cool-down, half-open probes (one at a time, freed after a timeout), the ejection cap,
provider cool-downs, ``retry_after`` and the reports."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wardgate.config.breaker_config import BreakerConfig
from wardgate.config.schema import GatewayConfig
from wardgate.routing.breaker import CircuitBreakerBoard, OpenBoard, deployment_fingerprints, follow_config
from wardgate.routing.breaker_state import Transition

A, B, C, D = "p/a", "p/b", "p/c", "p/d"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(**settings: Any) -> tuple[CircuitBreakerBoard, Clock, list[Transition]]:
    clock = Clock()
    made = CircuitBreakerBoard(BreakerConfig(**settings), clock=clock, wall=lambda: 1_700_000_000.0 + clock.now)
    seen: list[Transition] = []
    made.listener = seen.append
    return made, clock, seen


def fail(target: CircuitBreakerBoard, deployment: str, clock: Clock, times: int = 1) -> None:
    for _ in range(times):
        target.record(deployment, False, clock.now)


def state(target: CircuitBreakerBoard, deployment: str) -> str:
    return str(target.states()[deployment]["state"])


def test_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    b, clock, seen = board()
    fail(b, A, clock, 4)
    b.record(A, True, clock.now)
    fail(b, A, clock, 4)
    assert state(b, A) == "closed" and b.states()[A]["consecutive_failures"] == 4
    assert b.select([A, B], clock.now) == [A, B]
    fail(b, A, clock)
    assert state(b, A) == "open"
    assert seen == [Transition(A, "open", 5.0, 1)]
    assert b.select([A, B], clock.now) == [B]
    assert b.states()[A]["trips"] == 1


def test_opens_on_failure_ratio_only_once_the_window_is_full_enough() -> None:
    b, clock, _ = board(consecutive_failures=100)
    for _ in range(4):  # 8 requests, 4 failed: 50 %, but fewer than min_requests (10)
        b.record(A, True, clock.now)
        fail(b, A, clock)
    assert state(b, A) == "closed"
    b.record(A, True, clock.now)  # 9 requests, 4 failures
    fail(b, A, clock)  # 10 requests, 5 failures: 50 %
    assert state(b, A) == "open"


def test_the_ratio_window_slides() -> None:
    b, clock, _ = board(consecutive_failures=100)
    fail(b, A, clock, 4)
    clock.now += 31  # those failures leave the 30 s window
    for _ in range(6):
        b.record(A, True, clock.now)
    fail(b, A, clock, 3)  # 9 in the window, 3 failed
    b.record(A, True, clock.now)  # 10 requests, 3 failures: 30 %
    assert state(b, A) == "closed"
    assert b.states()[A]["window"] == {"requests": 10, "failures": 3, "seconds": 30.0}


def test_cool_down_doubles_with_each_trip_in_a_row_up_to_the_cap_and_a_good_probe_resets_it() -> None:
    b, clock, seen = board(base_cooldown_seconds=5, max_cooldown_seconds=30)
    fail(b, A, clock, 5)
    cooldowns = []
    for _ in range(5):  # each probe fails: 5, 10, 20, 30 (capped), 30
        opened = b.states()[A]
        cooldowns.append(round(opened["open_until"] - opened["opened_at"], 3))
        clock.now += cooldowns[-1] - 0.01
        assert b.select([A], clock.now) == []  # still open a moment before the end
        clock.now += 0.01
        assert b.select([A], clock.now) == [A]  # the probe
        fail(b, A, clock)
    assert cooldowns == [5, 10, 20, 30, 30]
    assert b.states()[A]["trips"] == 6
    clock.now += 30
    assert b.select([A], clock.now) == [A]
    b.record(A, True, clock.now)
    assert state(b, A) == "closed" and seen[-1] == Transition(A, "closed")
    fail(b, A, clock, 5)  # a fresh trip starts over at the base cool-down
    assert seen[-1] == Transition(A, "open", 5.0, 1)


def test_half_open_admits_one_probe_at_a_time() -> None:
    b, clock, seen = board()
    fail(b, A, clock, 5)
    clock.now += 5
    assert state(b, A) == "half_open"
    assert b.select([A, B], clock.now) == [A, B]  # this call takes the probe slot
    assert seen[-1] == Transition(A, "half_open", 30.0)
    assert b.select([A, B], clock.now) == [B]  # concurrent requests do not probe too
    assert b.states()[A]["probe_in_flight"] is True
    b.record(A, True, clock.now + 0.5)
    assert state(b, A) == "closed"
    assert b.select([A, B], clock.now) == [A, B]


def test_a_probe_that_never_reports_back_frees_its_slot() -> None:
    b, clock, _ = board(probe_timeout_seconds=10)
    fail(b, A, clock, 5)
    clock.now += 5
    assert b.select([A], clock.now) == [A]
    clock.now += 9.9
    assert b.select([A], clock.now) == []
    clock.now += 0.1
    assert b.select([A], clock.now) == [A]


def test_answers_from_requests_sent_before_the_trip_change_nothing() -> None:
    b, clock, _ = board()
    fail(b, A, clock, 5)
    b.record(A, True, clock.now + 1)  # a slow request that started before the trip
    assert state(b, A) == "open"
    clock.now += 5
    fail(b, A, clock)  # half-open, but no probe was sent: a straggler
    assert state(b, A) == "half_open" and b.states()[A]["level"] == 1


def test_never_ejects_more_than_the_configured_share_and_lets_the_oldest_through_as_probes() -> None:
    b, clock, seen = board(max_ejected_share=0.5)
    group = [A, B, C, D]
    for deployment in (C, A, B):  # C opened first, then A, then B
        fail(b, deployment, clock, 5)
        clock.now += 1
    assert b.select(group, clock.now) == [C, D]  # 3 open, at most 2 ejected: C (the oldest) probes
    assert seen[-1] == Transition(C, "half_open", 30.0)
    assert b.select(group, clock.now) == [D]  # C's probe is out: one probe at a time, even past the cap
    b.record(C, True, clock.now)
    assert b.select(group, clock.now) == [C, D]


def test_the_cap_still_ejects_one_of_a_small_group() -> None:
    b, clock, _ = board(max_ejected_share=0.5)
    fail(b, A, clock, 5)
    assert b.select([A], clock.now) == []  # a lone deployment may be ejected: fail fast
    fail(b, B, clock, 5)
    assert b.select([A, B], clock.now) == [A]  # both open: A (opened first) probes
    assert b.select([A, B], clock.now) == []


def test_provider_cool_down_skips_without_a_trip_and_retry_after_says_when() -> None:
    b, clock, seen = board()
    b.cool_down(A, clock.now + 7.2)
    assert seen == [Transition(A, "cool_down", pytest.approx(7.2))]  # type: ignore[arg-type]
    assert b.select([A, B], clock.now) == [B]
    assert b.select([A], clock.now) == []
    assert b.retry_after([A], clock.now) == 8.0
    b.cool_down(A, clock.now + 3)  # an earlier end does not shorten it
    assert len(seen) == 1
    report = b.states()[A]
    assert report["state"] == "closed" and report["trips"] == 0 and report["cooldown_until"] is not None
    clock.now += 7.2
    assert b.select([A], clock.now) == [A]


def test_retry_after_is_the_soonest_deployment_and_at_least_a_second() -> None:
    b, clock, _ = board(base_cooldown_seconds=20)
    fail(b, A, clock, 5)
    b.cool_down(B, clock.now + 12.5)
    assert b.retry_after([A, B], clock.now) == 13.0
    assert b.retry_after([A], clock.now) == 20.0
    clock.now += 19.9
    assert b.retry_after([A], clock.now) == 1.0
    assert b.retry_after([C], clock.now) == 1.0  # never seen: may be tried now
    clock.now += 0.1
    b.select([A], clock.now)  # the probe is out for up to 30 s
    assert b.retry_after([A], clock.now) == 30.0
    assert OpenBoard().retry_after([A], clock.now) == 0.0


def test_reports_use_wall_clock_times() -> None:
    b, clock, _ = board()
    fail(b, A, clock, 5)
    report = b.states()[A]
    assert report["opened_at"] == 1_700_000_000.0 + clock.now
    assert report["open_until"] == report["opened_at"] + 5
    assert report["retry_in"] == 5.0 and report["last_change"] == "local"
    assert b.state("never/seen")["state"] == "closed"


def test_reset_closes_and_ends_a_cool_down() -> None:
    b, clock, seen = board()
    fail(b, A, clock, 5)
    b.cool_down(A, clock.now + 100)
    b.reset(A)
    assert seen[-1] == Transition(A, "reset")
    assert b.select([A], clock.now) == [A]
    report = b.states()[A]
    assert report["state"] == "closed" and report["last_change"] == "admin" and report["cooldown_until"] is None


def test_remote_transitions_apply_without_echo() -> None:
    b, clock, seen = board()
    b.apply(Transition(A, "open", 8.0, 2))
    assert seen == [] and state(b, A) == "open" and b.states()[A]["level"] == 2
    assert b.retry_after([A], clock.now) == 8.0
    b.apply(Transition(A, "open", 3.0, 1))  # another replica's shorter trip does not shorten ours
    assert b.retry_after([A], clock.now) == 8.0
    clock.now += 8
    b.apply(Transition(A, "half_open", 30.0))  # someone else's probe is out
    assert b.select([A, B], clock.now) == [B]
    b.apply(Transition(A, "closed"))
    assert b.select([A, B], clock.now) == [A, B] and b.states()[A]["level"] == 0
    b.apply(Transition(B, "cool_down", 4.0))
    assert b.select([A, B], clock.now) == [A]
    b.apply(Transition(B, "reset"))
    assert b.select([A, B], clock.now) == [A, B]
    assert seen == []


def test_a_remote_trip_level_makes_the_next_local_trip_longer() -> None:
    b, clock, seen = board()
    b.apply(Transition(A, "open", 10.0, 2))
    clock.now += 10
    assert b.select([A], clock.now) == [A]
    fail(b, A, clock)
    assert seen[-1] == Transition(A, "open", 20.0, 3)


def test_counts_from_other_replicas_join_the_ratio() -> None:
    b, clock, seen = board()
    b.record(A, True, clock.now)
    fail(b, A, clock)
    assert b.take_counts() == {A: (2, 1)}
    assert b.take_counts() == {}
    b.add_counts({A: (8, 5)})  # 10 requests, 6 failures across the cluster
    assert state(b, A) == "open" and seen[-1].kind == "open"
    b.add_counts({A: (100, 100)})  # an open breaker's window does not move
    assert b.states()[A]["window"]["requests"] == 10


def test_standing_lists_what_is_in_force() -> None:
    b, clock, _ = board()
    fail(b, A, clock, 5)
    b.cool_down(B, clock.now + 3)
    clock.now += 1
    assert b.standing() == [Transition(A, "open", 4.0, 1), Transition(B, "cool_down", 2.0)]


def test_config_checks() -> None:
    with pytest.raises(ValidationError):
        BreakerConfig(base_cooldown_seconds=10, max_cooldown_seconds=5)
    with pytest.raises(ValidationError):
        BreakerConfig(failure_ratio=0)
    with pytest.raises(ValidationError):
        BreakerConfig.model_validate({"consecutive": 3})


def gateway_config(key: str = "sk-one", url: str = "http://127.0.0.1:9/v1", weight: float = 1.0) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "providers": [
                {"name": "p", "type": "openai", "base_url": url, "api_key": key},
                {"name": "q", "type": "openai", "base_url": "http://127.0.0.1:8/v1", "api_key": "sk-q"},
            ],
            "models": [
                {
                    "name": "m",
                    "deployments": [{"provider": "p", "model": "a", "weight": weight}, {"provider": "q", "model": "b"}],
                }
            ],
        }
    )


def test_fingerprints_follow_provider_definition_and_credentials_not_routing_fields() -> None:
    base = deployment_fingerprints(gateway_config())
    assert set(base) == {A, "q/b"}
    assert deployment_fingerprints(gateway_config()) == base
    assert deployment_fingerprints(gateway_config(weight=5)) == base
    rotated = deployment_fingerprints(gateway_config(key="sk-two"))
    assert rotated[A] != base[A] and rotated["q/b"] == base["q/b"]
    moved = deployment_fingerprints(gateway_config(url="http://127.0.0.1:7/v1"))
    assert moved[A] != base[A]
    assert "sk-one" not in repr(base)


def test_a_changed_deployment_starts_closed_and_a_removed_one_is_forgotten() -> None:
    b, clock, seen = board()
    follow_config(b, gateway_config())
    fail(b, A, clock, 5)
    fail(b, "q/b", clock, 5)
    b.record("gone/x", True, clock.now)
    follow_config(b, gateway_config(weight=3))  # nothing that matters for health changed
    assert state(b, A) == "open"
    follow_config(b, gateway_config(key="sk-two"))  # the operator fixed the credential
    assert state(b, A) == "closed" and b.states()[A]["level"] == 0
    assert state(b, "q/b") == "open"
    assert "gone/x" not in b.states()
    assert [t.kind for t in seen] == ["open", "open"]  # local only: every replica follows its own config
    follow_config(OpenBoard(), gateway_config())  # nothing to follow
