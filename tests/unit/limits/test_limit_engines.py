"""One battery, two engines: the in-memory engine and the Redis engine (a real Redis, its Lua scripts) must agree on
every bucket rule of ``limits.buckets`` — all-or-nothing reservations, audit demands that count but never block,
refunds and charges, deployment alternatives, concurrency leases that expire, and refill over time."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from wardgate.limits.buckets import (
    BLOCKED_ALTERNATIVES,
    BLOCKED_NONE,
    CONCURRENCY,
    RATE,
    WINDOW,
    Demand,
    LimitEngine,
    Reservation,
    Settlement,
)
from wardgate.limits.memory import MemoryEngine
from wardgate.limits.redis_engine import RedisEngine

REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
HOUR = 3600.0  # refill is negligible within a test at this period


class Keys:
    def __init__(self) -> None:
        self.prefix = f"{{wg}}:test:{uuid.uuid4().hex[:10]}:"

    def __call__(self, name: str) -> str:
        return self.prefix + name


@pytest.fixture(params=["memory", "redis"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[LimitEngine]:
    if request.param == "memory":
        yield MemoryEngine()
        return
    remote = RedisEngine.from_url(REDIS_URL)
    assert await remote.ping(), f"Redis must be running at {REDIS_URL} (.ci/run starts it)"
    yield remote_engine(remote)
    await remote.close()


def remote_engine(remote: RedisEngine) -> LimitEngine:
    """The Redis engine with settlements flushed at once, so a test can read its effect right away."""

    class Flushing:
        async def reserve(self, reservation: Reservation) -> object:
            await remote.flush()
            return await remote.reserve(reservation)

        def settle(self, settlement: Settlement, local: bool = False) -> None:
            remote.settle_later(settlement)

        def stats(self) -> dict[str, object]:
            return {}

        async def remote_seed(self, key: str, spent: float, period: float) -> None:
            await remote.seed_window(key, spent, period)

        async def close(self) -> None:
            await remote.close()

    return Flushing()  # type: ignore[return-value]


@pytest.fixture
def keys() -> Keys:
    return Keys()


def rate(key: str, capacity: float, amount: float, *, enforce: bool = True, period: float = HOUR) -> Demand:
    return Demand(key, RATE, capacity, period, amount, enforce)


async def test_a_bucket_takes_until_full_then_refuses_with_the_wait(engine: LimitEngine, keys: Keys) -> None:
    demand = rate(keys("tpm"), 100, 40)
    first = await engine.reserve(Reservation((demand,)))
    second = await engine.reserve(Reservation((demand,)))
    third = await engine.reserve(Reservation((demand,)))
    assert first.ok and second.ok and not third.ok
    assert first.remaining == (60,) and second.remaining == (20,)
    assert third.blocked == 0
    # 20 tokens short at 100 per hour: 720 s
    assert third.retry_after == pytest.approx(720, abs=2)
    assert second.reset[0] == pytest.approx(80 * HOUR / 100, abs=2)


async def test_a_reservation_is_all_or_nothing(engine: LimitEngine, keys: Keys) -> None:
    roomy, tight = rate(keys("roomy"), 1000, 50), rate(keys("tight"), 60, 50)
    assert (await engine.reserve(Reservation((roomy, tight)))).ok
    refused = await engine.reserve(Reservation((roomy, tight)))
    assert not refused.ok and refused.blocked == 1
    after = await engine.reserve(Reservation((rate(keys("roomy"), 1000, 0),)))
    assert after.remaining == (950,), "the refused reservation must not have taken from the roomy bucket"


async def test_a_request_larger_than_the_capacity_can_never_fit(engine: LimitEngine, keys: Keys) -> None:
    refused = await engine.reserve(Reservation((rate(keys("small"), 100, 101),)))
    assert not refused.ok and refused.retry_after == 0


async def test_audit_demands_count_and_report_but_never_block(engine: LimitEngine, keys: Keys) -> None:
    audit = rate(keys("audit"), 100, 70, enforce=False)
    first = await engine.reserve(Reservation((audit,)))
    second = await engine.reserve(Reservation((audit,)))
    assert first.ok and first.audit == ()
    assert second.ok and second.audit == (0,)
    assert second.remaining == (-40,), "audit mode takes the tokens anyway: the real traffic happened"
    deep = await engine.reserve(Reservation((rate(keys("audit"), 100, 500, enforce=False),)))
    assert deep.remaining == (-100,), "debt is capped at one capacity"


async def test_refunds_give_back_and_charges_take_more(engine: LimitEngine, keys: Keys) -> None:
    demand = rate(keys("tpm"), 1000, 600)
    assert (await engine.reserve(Reservation((demand,)))).ok
    engine.settle(Settlement(refunds=[(demand, 500)]))  # used 100 of the 600 reserved
    probe = await engine.reserve(Reservation((rate(keys("tpm"), 1000, 0),)))
    assert probe.remaining == (900,)
    engine.settle(Settlement(refunds=[(demand, -300)]))  # a charge: 300 more than reserved
    probe = await engine.reserve(Reservation((rate(keys("tpm"), 1000, 0),)))
    assert probe.remaining == (600,)
    engine.settle(Settlement(refunds=[(demand, 10_000)]))
    probe = await engine.reserve(Reservation((rate(keys("tpm"), 1000, 0),)))
    assert probe.remaining == (1000,), "a refund never fills beyond the capacity"


async def test_the_first_alternative_with_room_is_taken(engine: LimitEngine, keys: Keys) -> None:
    a, b = rate(keys("dep-a"), 100, 80), rate(keys("dep-b"), 100, 80)
    required = (rate(keys("team"), 10_000, 80),)
    first = await engine.reserve(Reservation(required, ((a,), (b,))))
    second = await engine.reserve(Reservation(required, ((a,), (b,))))
    third = await engine.reserve(Reservation(required, ((a,), (b,))))
    assert (first.chosen, second.chosen) == (0, 1)
    assert second.remaining == (10_000 - 160, 20)
    assert not third.ok and third.blocked == BLOCKED_ALTERNATIVES and third.retry_after > 0
    team = await engine.reserve(Reservation((rate(keys("team"), 10_000, 0),)))
    assert team.remaining == (10_000 - 160,), "a refusal by the alternatives takes nothing from the required"


async def test_an_empty_alternative_always_fits(engine: LimitEngine, keys: Keys) -> None:
    full = rate(keys("full"), 10, 10)
    assert (await engine.reserve(Reservation((), ((full,),)))).chosen == 0
    decision = await engine.reserve(Reservation((), ((full,), ())))
    assert decision.ok and decision.chosen == 1 and decision.blocked == BLOCKED_NONE


async def test_concurrency_leases_count_until_released(engine: LimitEngine, keys: Keys) -> None:
    slots = Demand(keys("cc"), CONCURRENCY, 2, 0, 1)
    one = await engine.reserve(Reservation((slots,), lease_id="one"))
    two = await engine.reserve(Reservation((slots,), lease_id="two"))
    three = await engine.reserve(Reservation((slots,), lease_id="three"))
    assert one.ok and two.ok and not three.ok
    assert two.remaining == (0,)
    engine.settle(Settlement(releases=[(slots.key, "one")]))
    assert (await engine.reserve(Reservation((slots,), lease_id="four"))).ok


async def test_a_lease_never_released_expires(engine: LimitEngine, keys: Keys) -> None:
    slots = Demand(keys("cc"), CONCURRENCY, 1, 0, 1)
    assert (await engine.reserve(Reservation((slots,), lease_id="crashed", lease_seconds=0.3))).ok
    refused = await engine.reserve(Reservation((slots,), lease_id="next"))
    assert not refused.ok and 0 < refused.retry_after <= 0.3
    await asyncio.sleep(0.4)
    assert (await engine.reserve(Reservation((slots,), lease_id="next"))).ok


async def test_buckets_refill_continuously(engine: LimitEngine, keys: Keys) -> None:
    demand = rate(keys("fast"), 10, 10, period=1.0)  # 10 per second
    assert (await engine.reserve(Reservation((demand,)))).ok
    assert not (await engine.reserve(Reservation((rate(keys("fast"), 10, 3, period=1.0),)))).ok
    await asyncio.sleep(0.45)
    assert (await engine.reserve(Reservation((rate(keys("fast"), 10, 3, period=1.0),)))).ok


async def test_memory_engine_forgets_full_buckets() -> None:
    now = [0.0]
    engine = MemoryEngine(clock=lambda: now[0])
    for index in range(5000):
        engine.reserve_now(Reservation((rate(f"k{index}", 10, 1, period=1.0),)))
        now[0] += 0.01
    assert engine.stats()["buckets"] < 5000


async def test_most_room_takes_the_alternative_with_the_most_headroom_in_the_first_tier(
    engine: LimitEngine, keys: Keys
) -> None:
    a, b, c = rate(keys("a"), 100, 10), rate(keys("b"), 100, 10), rate(keys("c"), 1000, 10)
    await engine.reserve(Reservation((rate(keys("a"), 100, 50),)))  # a: 50 left; b: 100 left; c (tier 1): 1000
    options = ((a,), (b,), (c,))
    first = await engine.reserve(Reservation((), options, most_room=True, tiers=(0, 0, 1)))
    assert first.chosen == 1, "b has the most room in tier 0; c's tier comes only when tier 0 is full"
    assert (await engine.reserve(Reservation((), options, tiers=(0, 0, 1)))).chosen == 0, "first fit by default"
    unlimited = await engine.reserve(Reservation((), ((a,), ()), most_room=True, tiers=(0, 0)))
    assert unlimited.chosen == 1, "a deployment without a quota has unlimited room"
    await engine.reserve(Reservation((rate(keys("a"), 100, 40), rate(keys("b"), 100, 81))))  # a: 0, b: 9 left
    spill = await engine.reserve(Reservation((), options, most_room=True, tiers=(0, 0, 1)))
    assert spill.chosen == 2, "tier 0 is full: the next tier's best"


async def test_window_buckets_hold_a_period_s_spend_and_take_refunds(engine: LimitEngine, keys: Keys) -> None:
    budget = Demand(keys("budget:2026-11"), WINDOW, 1_000_000, 3600.0, 400_000)  # $1.00 in µUSD, $0.40 a call
    assert (await engine.reserve(Reservation((budget,)))).remaining == (600_000,)
    assert (await engine.reserve(Reservation((budget,)))).remaining == (200_000,)
    refused = await engine.reserve(Reservation((budget,)))
    assert not refused.ok and refused.retry_after == pytest.approx(3600), "until the window ends"
    engine.settle(Settlement(refunds=[(budget, 300_000)]))  # the first call cost $0.10 of the $0.40 reserved
    again = await engine.reserve(Reservation((budget,)))
    assert again.ok and again.remaining == (100_000,)
    too_big = await engine.reserve(Reservation((Demand(budget.key, WINDOW, 1_000_000, 3600.0, 2_000_000),)))
    assert not too_big.ok and too_big.retry_after == 0
    audit = Demand(budget.key, WINDOW, 1_000_000, 3600.0, 500_000, enforce=False)
    over = await engine.reserve(Reservation((audit,)))
    assert over.ok and over.audit == (0,) and over.remaining == (-400_000,)
    engine.settle(Settlement(refunds=[(budget, 10_000_000)]))
    assert (await engine.reserve(Reservation((Demand(budget.key, WINDOW, 1_000_000, 3600.0, 0),)))).remaining == (
        1_000_000,
    ), "a refund never takes the spend below zero"


async def test_a_seed_starts_a_missing_window_and_never_lowers_a_live_one(engine: LimitEngine, keys: Keys) -> None:
    seed = getattr(engine, "seed_window", None) or engine.remote_seed  # type: ignore[attr-defined]
    await seed(keys("budget:seeded"), 700_000, 3600.0)
    probe = Demand(keys("budget:seeded"), WINDOW, 1_000_000, 3600.0, 0)
    assert (await engine.reserve(Reservation((probe,)))).remaining == (300_000,)
    await seed(keys("budget:seeded"), 100_000, 3600.0)
    assert (await engine.reserve(Reservation((probe,)))).remaining == (300_000,)
