"""Per-deployment statistics: moving averages from successes only, faults vs other errors, in-flight counts,
bounded recent outcomes, and the snapshot the admin API shows."""

from __future__ import annotations

from wardgate.routing.health import HealthRegistry


def test_moving_averages_follow_successes_only() -> None:
    registry = HealthRegistry()
    h = registry.begin("p/m")
    HealthRegistry.end(h, status=200, ttft=0.2, duration=1.0)
    HealthRegistry.end(registry.begin("p/m"), status=200, ttft=0.4, duration=2.0)
    assert abs((h.ewma_ttft or 0) - (0.2 + 0.3 * 0.2)) < 1e-9 and abs((h.ewma_duration or 0) - 1.3) < 1e-9
    HealthRegistry.end(registry.begin("p/m"), status=502, error="bad_gateway", fault=True, ttft=0.001)
    assert abs((h.ewma_ttft or 0) - 0.26) < 1e-9  # a fast failure does not make it look quick
    assert (h.successes, h.failures, h.errors, h.in_flight) == (2, 1, 0, 0)


def test_errors_that_are_not_the_deployments_fault_are_counted_apart() -> None:
    registry = HealthRegistry()
    HealthRegistry.end(registry.begin("p/m"), status=400, error="invalid_value")
    h = registry.get("p/m")
    assert (h.failures, h.errors, h.last_error) == (0, 1, "invalid_value")


def test_in_flight_and_abandoned_attempts() -> None:
    registry = HealthRegistry()
    first, second = registry.begin("p/m"), registry.begin("p/m")
    assert first is second and first.in_flight == 2
    HealthRegistry.abandon(first)
    assert first.in_flight == 1 and first.recent[-1][2] == "client_disconnected"


def test_snapshot_shape_and_bounds() -> None:
    registry = HealthRegistry()
    for _ in range(50):
        HealthRegistry.end(registry.begin("p/m"), status=200, ttft=0.1, duration=0.25)
    HealthRegistry.end(registry.begin("q/m"), status=503, error="upstream_unavailable", fault=True)
    snapshot = registry.snapshot()
    assert list(snapshot) == ["p/m", "q/m"]
    p = snapshot["p/m"]
    assert p["successes"] == 50 and p["ewma_ttft_ms"] == 100.0 and p["ewma_duration_ms"] == 250.0
    assert len(p["recent"]) == 20 and set(p["recent"][0]) == {"at", "status", "error"}
    assert snapshot["q/m"]["last_error"] == "upstream_unavailable" and snapshot["q/m"]["ewma_ttft_ms"] is None


def test_retain_forgets_removed_deployments() -> None:
    registry = HealthRegistry()
    registry.begin("keep")
    registry.begin("gone")
    registry.retain(frozenset({"keep"}))
    assert list(registry.snapshot()) == ["keep"]
