"""Durable timers on a real redis-server: schedule, claim with a lease, complete exactly once, re-claim after a
crash, guards, cancellation, and the keys left behind. Time only moves when the test moves it (ManualClock)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from router.timers import (
    Completion,
    DueTimer,
    ManualClock,
    RedisClock,
    RunnerOptions,
    TimerRunner,
    Timers,
    owner_kind,
)
from tests.conftest import all_keys

pytestmark = pytest.mark.integration

OWNER = "test:one"
T0 = 1_700_000_000_000


@pytest.fixture
def timers(redis_client: aioredis.Redis) -> Timers:
    return Timers(redis_client, Keys())


async def keys_left(redis: aioredis.Redis) -> set[str]:
    return {k.decode() for k in await all_keys(redis)}


async def test_schedule_and_claim_when_due(timers: Timers, redis_client: aioredis.Redis) -> None:
    await timers.schedule(OWNER, "a", T0 + 1000, b"payload-a")
    assert await timers.get(OWNER, "a") == (T0 + 1000, b"payload-a")
    assert await timers.claim(OWNER, T0 + 999, 30_000) == []
    [timer] = await timers.claim(OWNER, T0 + 1000, 30_000)
    assert (timer.owner, timer.key, timer.due_ms, timer.payload, timer.attempt) == (
        OWNER,
        "a",
        T0 + 1000,
        b"payload-a",
        1,
    )
    # claimed: not due again until the lease runs out
    assert await timers.claim(OWNER, T0 + 20_000, 30_000) == []
    assert await timers.get(OWNER, "a") == (T0 + 1000 + 30_000, b"payload-a")
    assert await timers.complete(timer, Completion()) == 1
    assert await timers.get(OWNER, "a") is None
    assert await keys_left(redis_client) == {"sb:{meta}:timer-owners"}
    assert await timers.owners() == [OWNER]


async def test_completion_applies_commands_and_reschedules_atomically(
    timers: Timers, redis_client: aioredis.Redis
) -> None:
    await timers.schedule(OWNER, "tick", T0, b"1")
    [timer] = await timers.claim(OWNER, T0, 30_000)
    effect = ("XADD", "sb:{test:one}:out", "*", "n", "1")
    assert await timers.complete(timer, Completion([effect], reschedule=(T0 + 60_000, b"2"))) == 1
    assert await redis_client.xlen("sb:{test:one}:out") == 1
    assert await timers.get(OWNER, "tick") == (T0 + 60_000, b"2")
    # completing the same claim twice changes nothing the second time
    assert await timers.complete(timer, Completion([effect])) == 0
    assert await redis_client.xlen("sb:{test:one}:out") == 1
    assert await timers.get(OWNER, "tick") == (T0 + 60_000, b"2")


async def test_a_dead_claimant_is_replaced_after_its_lease(timers: Timers, redis_client: aioredis.Redis) -> None:
    await timers.schedule(OWNER, "t", T0, b"p")
    [first] = await timers.claim(OWNER, T0, 10_000)
    # the first claimant dies (no completion); before the lease ends nobody else gets it
    assert await timers.claim(OWNER, T0 + 9_999, 10_000) == []
    [second] = await timers.claim(OWNER, T0 + 10_000, 10_000)
    assert second.token != first.token
    assert (second.due_ms, second.attempt) == (T0, 2)
    effect = ("INCR", "sb:{test:one}:fired")
    # the late first claimant wakes up and completes: its claim is void, nothing happens
    assert await timers.complete(first, Completion([effect])) == 0
    assert await timers.complete(second, Completion([effect])) == 1
    assert await redis_client.get("sb:{test:one}:fired") == b"1"


async def test_only_one_of_many_concurrent_claimants_gets_each_timer(redis_client: aioredis.Redis) -> None:
    keys = Keys()
    claimants = [Timers(redis_client, keys) for _ in range(8)]
    for i in range(50):
        await claimants[0].schedule(OWNER, f"t{i}", T0 + i, b"")
    results = await asyncio.gather(*(c.claim(OWNER, T0 + 100, 30_000, limit=7) for c in claimants))
    claimed = [t.key for batch in results for t in batch]
    assert len(claimed) == len(set(claimed)) == 50


async def test_guard_mismatch_releases_the_claim_for_a_fresh_look(timers: Timers, redis_client: aioredis.Redis) -> None:
    await redis_client.hset("sb:{test:one}:state", "x", "v1")
    await timers.schedule(OWNER, "g", T0, b"")
    [timer] = await timers.claim(OWNER, T0, 30_000)
    await redis_client.hset("sb:{test:one}:state", "x", "v2")  # changed after the handler read it
    effect = ("INCR", "sb:{test:one}:fired")
    assert await timers.complete(timer, Completion([effect], guard=("sb:{test:one}:state", "x", b"v1"))) == -1
    assert await redis_client.get("sb:{test:one}:fired") is None
    [again] = await timers.claim(OWNER, T0 + 1, 30_000)  # due again at once, with its original due time
    assert (again.due_ms, again.attempt) == (T0, 1)
    assert await timers.complete(again, Completion([effect], guard=("sb:{test:one}:state", "x", b"v2"))) == 1
    assert await redis_client.get("sb:{test:one}:fired") == b"1"


async def test_guard_on_an_absent_field(timers: Timers, redis_client: aioredis.Redis) -> None:
    await timers.schedule(OWNER, "g", T0, b"")
    [timer] = await timers.claim(OWNER, T0, 30_000)
    assert await timers.complete(timer, Completion(guard=("sb:{test:one}:state", "missing", None))) == 1


async def test_cancel_and_reschedule_void_a_claim_in_flight(timers: Timers, redis_client: aioredis.Redis) -> None:
    await timers.schedule(OWNER, "c", T0, b"")
    [timer] = await timers.claim(OWNER, T0, 30_000)
    assert await timers.cancel(OWNER, "c") is True
    assert await timers.cancel(OWNER, "c") is False
    assert await timers.complete(timer, Completion([("INCR", "sb:{test:one}:fired")])) == 0
    assert await redis_client.get("sb:{test:one}:fired") is None
    await timers.schedule(OWNER, "r", T0, b"old")
    [timer] = await timers.claim(OWNER, T0, 30_000)
    await timers.schedule(OWNER, "r", T0 + 5_000, b"new")
    assert await timers.complete(timer, Completion(reschedule=(T0 + 99_000, b"stale"))) == 0
    assert await timers.get(OWNER, "r") == (T0 + 5_000, b"new")
    assert await keys_left(redis_client) == {
        "sb:{meta}:timer-owners",
        "sb:{test:one}:timers",
        "sb:{test:one}:timer-payloads",
    }


async def test_forget_owner(timers: Timers, redis_client: aioredis.Redis) -> None:
    await timers.schedule(OWNER, "a", T0, b"x")
    await timers.schedule("test:two", "b", T0, b"y")
    await timers.forget_owner(OWNER)
    assert await timers.owners() == ["test:two"]
    assert not [k for k in await keys_left(redis_client) if "{test:one}" in k]


async def test_runner_fires_due_timers_with_the_kinds_handler(redis_client: aioredis.Redis) -> None:
    timers = Timers(redis_client, Keys())
    clock = ManualClock(T0)
    seen: list[DueTimer] = []

    async def handler(timer: DueTimer) -> Completion:
        seen.append(timer)
        return Completion([("RPUSH", "sb:{test:one}:log", timer.key)], reschedule=(timer.due_ms + 60_000, b""))

    runner = TimerRunner(timers, clock, options=RunnerOptions(owners_refresh_s=0))
    runner.handle("test", handler)
    with pytest.raises(ValueError, match="already registered"):
        runner.handle("test", handler)
    await timers.schedule(OWNER, "every-minute", T0 + 60_000, b"")
    await timers.schedule("other:x", "ignored", T0, b"")  # no handler for kind "other": left alone
    assert await runner.run_once() == 0
    clock.advance(60_000)
    assert await runner.run_once() == 1
    assert await runner.run_once() == 0  # nothing due any more
    clock.advance(120_000)
    assert await runner.run_once() == 1  # one late firing; the handler decides what the next due time is
    assert [t.due_ms for t in seen] == [T0 + 60_000, T0 + 120_000]
    assert await redis_client.lrange("sb:{test:one}:log", 0, -1) == [b"every-minute", b"every-minute"]
    assert await timers.get("other:x", "ignored") == (T0, b"")


async def test_a_failing_handler_is_retried_after_the_lease(redis_client: aioredis.Redis) -> None:
    timers = Timers(redis_client, Keys())
    clock = ManualClock(T0)
    calls = 0

    async def flaky(timer: DueTimer) -> Completion:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return Completion()

    runner = TimerRunner(timers, clock, {"test": flaky}, RunnerOptions(lease_ms=5_000, owners_refresh_s=0))
    await timers.schedule(OWNER, "t", T0, b"")
    assert await runner.run_once() == 0
    clock.advance(4_999)
    assert await runner.run_once() == 0
    assert calls == 1
    clock.advance(1)
    assert await runner.run_once() == 1
    assert calls == 2
    assert await timers.get(OWNER, "t") is None


async def test_runner_loop_starts_and_stops(redis_client: aioredis.Redis) -> None:
    timers = Timers(redis_client, Keys())
    fired = asyncio.Event()

    async def handler(timer: DueTimer) -> Completion:
        fired.set()
        return Completion()

    runner = TimerRunner(
        timers, ManualClock(T0), {"test": handler}, RunnerOptions(poll_interval_s=0.01, owners_refresh_s=0)
    )
    await timers.schedule(OWNER, "t", T0, b"")
    await runner.start()
    await asyncio.wait_for(fired.wait(), timeout=5)
    await runner.stop()
    assert runner.fired >= 0


async def test_redis_clock(redis_client: aioredis.Redis) -> None:
    keys = Keys()
    clock = RedisClock(redis_client, keys.test_clock)
    assert abs(await clock.now_ms() - (await redis_client.time())[0] * 1000) < 5_000
    await redis_client.set(keys.test_clock, T0)
    assert await clock.now_ms() == T0


def test_owner_kind() -> None:
    assert owner_kind("bus:default") == "bus"
    assert owner_kind("schedule-group:g:x") == "schedule-group"
    assert owner_kind("plain") == "plain"
