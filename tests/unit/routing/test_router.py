"""The router's attempt loop against scripted provider clients: failover, retries of the same deployment with
backoff and Retry-After, what is never retried, the retry budget, the deadline, context-length rerouting,
streams (fallback before the first event only), fail-fast when breakers gate everything out, and what gets
recorded (ctx.attempts, health, the board, response headers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from routing_fakes import STREAM, BrokenStream, RecordingBoard, ScriptedClient, Slow, chat, context, make_router

from wardgate.core.errors import (
    GatewayError,
    NoHealthyDeploymentError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from wardgate.core.types import Principal, ProxyResponse
from wardgate.routing.state import RoutingState

TWO = [{"name": "m", "deployments": [{"provider": "a", "model": "x"}, {"provider": "b", "model": "y"}]}]
ONE = [{"name": "m", "deployments": [{"provider": "a", "model": "x"}]}]


def boom() -> UpstreamStatusError:
    return UpstreamStatusError("the provider failed (HTTP 500)")


def header(response: ProxyResponse, name: str) -> str:
    return dict(response.headers)[name.encode()].decode()


async def drain(response: ProxyResponse) -> list[bytes]:
    assert response.stream is not None
    return [item async for item in response.stream]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits, recorded instead of slept."""
    waits: list[float] = []
    real = asyncio.sleep

    async def fake(seconds: float, *args: Any) -> None:
        if seconds > 0:
            waits.append(seconds)
        await real(0)

    monkeypatch.setattr("wardgate.routing.execute.asyncio.sleep", fake)
    return waits


async def test_fails_over_to_the_next_deployment_at_once(sleeps: list[float]) -> None:
    a, b = ScriptedClient("a", boom()), ScriptedClient("b")
    board = RecordingBoard()
    router = make_router(TWO, {"a": a, "b": b}, board=board)
    ctx = context()
    response = await router.execute(ctx, chat("m"))
    assert response.body is not None and b"b/y" in response.body
    assert [(t.deployment, t.status, t.error) for t in ctx.attempts] == [
        ("a/x", 502, "bad_gateway"),
        ("b/y", 200, None),
    ]
    assert header(response, "x-wardgate-deployment") == "b/y" and header(response, "x-wardgate-attempts") == "2"
    assert sleeps == []  # a deployment not tried yet is tried without waiting
    assert board.records == [("a/x", False), ("b/y", True)]
    health = router.state.health.snapshot()
    assert health["a/x"]["failures"] == 1 and health["b/y"]["successes"] == 1
    assert health["a/x"]["in_flight"] == health["b/y"]["in_flight"] == 0


@pytest.mark.parametrize(
    "error",
    [
        UpstreamRejectedError("bad temperature", status=400, code="invalid_value"),
        UpstreamRejectedError("not found", status=404),
        UpstreamRejectedError("too large", status=413),
        UpstreamRejectedError("unprocessable", status=422),
        QuotaExceededError("you exceeded your current quota"),
    ],
)
async def test_never_retries_what_another_attempt_cannot_fix(error: GatewayError, sleeps: list[float]) -> None:
    a, b = ScriptedClient("a", error), ScriptedClient("b")
    board = RecordingBoard()
    router = make_router(TWO, {"a": a, "b": b}, board=board)
    ctx = context()
    with pytest.raises(type(error)) as info:
        await router.execute(ctx, chat("m"))
    assert b.calls == [] and len(ctx.attempts) == 1
    assert info.value.headers["x-wardgate-attempts"] == "1" and info.value.headers["x-wardgate-deployment"] == "a/x"
    quota = isinstance(error, QuotaExceededError)
    assert board.records == [("a/x", not quota)]  # an exhausted quota is the deployment's fault, a 400 is not


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("slow down"),
        UpstreamStatusError("500"),
        UpstreamUnavailableError("overloaded (529)"),
        UpstreamTimeoutError("no answer in time"),
        UpstreamStatusError("connection broke"),
    ],
)
async def test_retries_the_only_deployment_with_bounded_backoff(error: GatewayError, sleeps: list[float]) -> None:
    a = ScriptedClient("a", error, error)
    router = make_router(ONE, {"a": a}, backoff={"base_ms": 100, "max_ms": 2000})
    ctx = context()
    await router.execute(ctx, chat("m"))
    assert len(a.calls) == 3 and [t.status for t in ctx.attempts][-1] == 200
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2  # full jitter under base * 2 ** (retry - 1)


async def test_at_most_max_attempts_then_the_last_error(sleeps: list[float]) -> None:
    clients = {name: ScriptedClient(name, boom()) for name in "abc"}
    models = [{"name": "m", "deployments": [{"provider": n, "model": "x"} for n in "abc"]}]
    router = make_router(models, clients, max_attempts=2)
    ctx = context()
    with pytest.raises(UpstreamStatusError):
        await router.execute(ctx, chat("m"))
    assert [len(c.calls) for c in clients.values()] == [1, 1, 0]


async def test_retry_after_is_waited_for_and_cools_the_deployment_down(sleeps: list[float]) -> None:
    a = ScriptedClient("a", RateLimitError("slow down", headers={"retry-after-ms": "400"}))
    board = RecordingBoard()
    router = make_router(ONE, {"a": a}, board=board)
    response = await router.execute(context(), chat("m"))
    assert response.status == 200 and len(a.calls) == 2
    assert sleeps and sleeps[0] >= 0.39  # at least what the provider asked for
    assert board.cooldowns and board.cooldowns[0][0] == "a/x" and 0.3 < board.cooldowns[0][1] <= 0.4


async def test_a_retry_after_beyond_the_backoff_cap_is_not_waited_for(sleeps: list[float]) -> None:
    a = ScriptedClient("a", RateLimitError("slow down", headers={"retry-after": "30"}))
    board = RecordingBoard()
    router = make_router(ONE, {"a": a}, board=board)
    ctx = context()
    with pytest.raises(RateLimitError) as info:
        await router.execute(ctx, chat("m"))
    assert info.value.headers["retry-after"] == "30"  # the client learns the provider's wait
    assert len(a.calls) == 1 and sleeps == []
    assert board.cooldowns[0][0] == "a/x" and board.cooldowns[0][1] > 29


async def test_rate_limit_goes_to_the_fallback_model_without_waiting(sleeps: list[float]) -> None:
    a = ScriptedClient("a", RateLimitError("slow down", headers={"retry-after": "1"}))
    b = ScriptedClient("b")
    models = [
        {"name": "m", "fallbacks": ["other"], "deployments": [{"provider": "a", "model": "x"}]},
        {"name": "other", "deployments": [{"provider": "b", "model": "y"}]},
    ]
    router = make_router(models, {"a": a, "b": b})
    ctx = context()
    response = await router.execute(ctx, chat("m"))
    assert header(response, "x-wardgate-deployment") == "b/y" and sleeps == []
    assert [t.route for t in ctx.attempts] == ["m", "other"]


async def test_a_refused_credential_is_not_retried_on_the_same_deployment(sleeps: list[float]) -> None:
    a = ScriptedClient("a", UpstreamStatusError("credentials rejected", code="upstream_auth_failed"))
    router = make_router(ONE, {"a": a})
    with pytest.raises(UpstreamStatusError):
        await router.execute(context(), chat("m"))
    assert len(a.calls) == 1


async def test_a_spent_retry_budget_returns_the_last_error(sleeps: list[float]) -> None:
    a, b = ScriptedClient("a", boom()), ScriptedClient("b")
    router = make_router(TWO, {"a": a, "b": b}, retry_budget={"ratio": 0, "minimum": 0})
    with pytest.raises(UpstreamStatusError):
        await router.execute(context(), chat("m"))
    assert b.calls == [] and router.state.budget.denied == 1
    assert router.state.budget.retries == 0 and router.state.budget.requests == 0


async def test_retry_budget_counts_requests_in_flight() -> None:
    """Twenty requests in flight fail together: at most max(3, 20 % of 20) = 4 retry, the rest give up."""
    gate = asyncio.Event()

    class Failing(ScriptedClient):
        async def invoke(self, ctx: Any, request: Any, target: Any) -> ProxyResponse:
            self.calls.append(target.upstream_model)
            if len(self.calls) <= 20:
                await gate.wait()
            else:
                await asyncio.sleep(0.05)  # retries stay in flight a while
            raise boom()

    client = Failing("a")
    router = make_router(ONE, {"a": client}, backoff={"base_ms": 1, "max_ms": 1})
    tasks = [asyncio.create_task(router.execute(context(), chat("m"))) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UpstreamStatusError) for r in results)
    assert 20 < len(client.calls) <= 20 + 4 + 4  # a second wave of retries is bounded the same way
    assert router.state.budget.denied >= 12


async def test_the_deadline_header_ends_a_slow_attempt() -> None:
    a = ScriptedClient("a", Slow(5))
    router = make_router(ONE, {"a": a})
    started = time.perf_counter()
    with pytest.raises(UpstreamTimeoutError) as info:
        await router.execute(context({"x-wardgate-timeout": "0.1"}), chat("m"))
    assert info.value.code == "deadline_exceeded" and info.value.http_status == 504
    assert time.perf_counter() - started < 1 and len(a.calls) == 1  # no retry once the deadline is gone


async def test_a_key_deadline_policy_ends_a_slow_attempt() -> None:
    a = ScriptedClient("a", Slow(5))
    router = make_router(ONE, {"a": a}, deadline_seconds=30)
    principal = Principal("key_1", kind="key", metadata={"deadline_seconds": 0.1})
    started = time.perf_counter()
    with pytest.raises(UpstreamTimeoutError) as info:
        await router.execute(context(principal=principal), chat("m"))
    assert info.value.code == "deadline_exceeded" and time.perf_counter() - started < 1


async def test_a_backoff_that_would_outlast_the_deadline_is_not_taken(sleeps: list[float]) -> None:
    a = ScriptedClient("a", RateLimitError("slow down", headers={"retry-after": "1.5"}))
    router = make_router(ONE, {"a": a}, deadline_seconds=1.0)
    with pytest.raises(RateLimitError):
        await router.execute(context(), chat("m"))
    assert len(a.calls) == 1 and sleeps == []


async def test_context_length_refusal_moves_to_the_long_context_model(sleeps: list[float]) -> None:
    refusal = UpstreamRejectedError("prompt is too long: 210000 tokens > 200000 maximum", status=400)
    a, b, c = ScriptedClient("a", refusal), ScriptedClient("b"), ScriptedClient("c")
    models: list[dict[str, Any]] = [
        {
            "name": "m",
            "long_context": {"above_tokens": 100_000, "model": "big"},
            "deployments": [{"provider": "a", "model": "x"}, {"provider": "b", "model": "x"}],
        },
        {"name": "big", "deployments": [{"provider": "c", "model": "huge"}]},
    ]
    router = make_router(models, {"a": a, "b": b, "c": c})
    ctx = context()
    response = await router.execute(ctx, chat("m"))
    assert header(response, "x-wardgate-deployment") == "c/huge"
    assert b.calls == []  # the same model's other deployment has the same window: skipped
    assert router.state.breakers.records[0] == ("a/x", True)  # type: ignore[attr-defined]


async def test_context_length_refusal_moves_to_a_larger_window_of_the_same_model(sleeps: list[float]) -> None:
    refusal = UpstreamRejectedError("This model's maximum context length is 8192 tokens", status=400)
    a, b, c = ScriptedClient("a", refusal), ScriptedClient("b"), ScriptedClient("c")
    models: list[dict[str, Any]] = [
        {
            "name": "m",
            "deployments": [
                {"provider": "a", "model": "small", "max_context_tokens": 8192},
                {"provider": "b", "model": "same", "max_context_tokens": 8192},
                {"provider": "c", "model": "large", "max_context_tokens": 128_000},
            ],
        }
    ]
    router = make_router(models, {"a": a, "b": b, "c": c})
    response = await router.execute(context(), chat("m"))
    assert header(response, "x-wardgate-deployment") == "c/large" and b.calls == []


async def test_context_length_refusal_without_a_larger_model_is_returned(sleeps: list[float]) -> None:
    refusal = UpstreamRejectedError("maximum context length is 8192 tokens", status=400, code="context_length_exceeded")
    a, b = ScriptedClient("a", refusal), ScriptedClient("b")
    router = make_router(TWO, {"a": a, "b": b})
    with pytest.raises(UpstreamRejectedError) as info:
        await router.execute(context(), chat("m"))
    assert info.value.code == "context_length_exceeded" and b.calls == []


async def test_a_stream_failing_before_its_first_event_fails_over(sleeps: list[float]) -> None:
    a = ScriptedClient("a", BrokenStream(0, StreamInterruptedError("cut")))
    b = ScriptedClient("b", STREAM)
    router = make_router(TWO, {"a": a, "b": b})
    ctx = context()
    response = await router.execute(ctx, chat("m", stream=True))
    assert header(response, "x-wardgate-deployment") == "b/y"
    health = router.state.health
    assert health.get("b/y").in_flight == 1  # busy until the stream ends
    assert len(await drain(response)) == 3
    assert health.get("b/y").in_flight == 0 and health.get("b/y").successes == 1
    assert ctx.attempts[-1].finished is not None


async def test_a_stream_breaking_after_its_first_event_is_not_retried(sleeps: list[float]) -> None:
    a = ScriptedClient("a", BrokenStream(2, StreamInterruptedError("cut")))
    b = ScriptedClient("b")
    board = RecordingBoard()
    router = make_router(TWO, {"a": a, "b": b}, board=board)
    response = await router.execute(context(), chat("m", stream=True))
    with pytest.raises(StreamInterruptedError):
        await drain(response)
    assert b.calls == []
    assert board.records == [("a/x", True), ("a/x", False)]  # answered, then broke
    assert router.state.health.get("a/x").failures == 1 and router.state.health.get("a/x").in_flight == 0


async def test_a_stream_nobody_reads_still_leaves_the_in_flight_count() -> None:
    router = make_router(ONE, {"a": ScriptedClient("a", STREAM)})
    response = await router.execute(context(), chat("m", stream=True))
    assert router.state.health.get("a/x").in_flight == 1
    del response
    assert router.state.health.get("a/x").in_flight == 0


async def test_every_deployment_gated_out_fails_fast_with_retry_after() -> None:
    a, b = ScriptedClient("a"), ScriptedClient("b")
    board = RecordingBoard(blocked={"a/x", "b/y"}, wait=4.2)
    router = make_router(TWO, {"a": a, "b": b}, board=board)
    with pytest.raises(NoHealthyDeploymentError) as info:
        await router.execute(context(), chat("m"))
    assert info.value.http_status == 503 and info.value.code == "no_healthy_deployment"
    assert info.value.headers["retry-after"] == "5" and info.value.headers["x-wardgate-attempts"] == "0"
    assert a.calls == b.calls == []


async def test_gated_deployments_are_skipped_and_fallback_groups_gated_only_when_reached() -> None:
    a, b, c = ScriptedClient("a"), ScriptedClient("b"), ScriptedClient("c")
    models = [
        {
            "name": "m",
            "fallbacks": ["f"],
            "deployments": [{"provider": "a", "model": "x"}, {"provider": "b", "model": "y"}],
        },
        {"name": "f", "deployments": [{"provider": "c", "model": "z"}]},
    ]
    board = RecordingBoard(blocked={"a/x"})
    router = make_router(models, {"a": a, "b": b, "c": c}, board=board)
    response = await router.execute(context(), chat("m"))
    assert header(response, "x-wardgate-deployment") == "b/y"
    assert board.selects == [["a/x", "b/y"]]  # the fallback's breakers were never consulted


async def test_response_headers_can_be_turned_off() -> None:
    router = make_router(ONE, {"a": ScriptedClient("a")}, response_headers=False)
    response = await router.execute(context(), chat("m"))
    assert response.headers == []


async def test_a_client_that_leaves_mid_attempt_leaves_no_count_behind() -> None:
    router = make_router(ONE, {"a": ScriptedClient("a", Slow(5))})
    task = asyncio.create_task(router.execute(context(), chat("m")))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.state.health.get("a/x").in_flight == 0
    assert router.state.budget.requests == 0


async def test_a_board_replaced_after_the_snapshot_was_built_is_used_at_once() -> None:
    """``AppState.breakers = board`` (the app does it after building the first snapshot) reaches every router."""
    a, b = ScriptedClient("a"), ScriptedClient("b")
    router = make_router(TWO, {"a": a, "b": b})
    router.state.breakers = RecordingBoard(blocked={"a/x"})
    response = await router.execute(context(), chat("m"))
    assert header(response, "x-wardgate-deployment") == "b/y" and a.calls == []


def test_app_state_exposes_the_routing_state() -> None:
    from wardgate.runtime import AppState

    state = object.__new__(AppState)
    state.routing = RoutingState()
    board = RecordingBoard()
    state.breakers = board
    assert state.routing.breakers is board and state.health is state.routing.health
