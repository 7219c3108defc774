"""Scheduled rules on the events API: PutRule accepts schedules on the default bus, and every tick delivers AWS's
scheduled-event envelope to the rule's targets through the ordinary ingest and delivery path.

Time is the shared Redis test clock (settings `timer_clock="redis"`): the test sets it, then runs the timer runner
once, so nothing waits for minutes. The app's own runner loop polls once an hour here, so only the test fires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from router.app import create_app
from router.keys import Keys
from router.settings import Settings
from router.timers import TimerRunner, Timers
from tests.router.conftest import Api
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEYS = Keys()
T0 = int(datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/tick"


def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        data_dir=tmp_path,
        rules_refresh_interval_s=0.05,
        timer_clock="redis",
        timer_poll_interval_s=3600.0,
    )


class Scheduled:
    def __init__(self, api: Api, app: Starlette, redis: aioredis.Redis) -> None:
        self.api, self.app, self.redis = api, app, redis

    @property
    def runner(self) -> TimerRunner:
        runner: TimerRunner = self.app.state.switchboard.extras["timer_runner"]
        return runner

    async def appended(self) -> int:
        """How many entries were ever appended to the default bus's ingest stream."""
        if not await self.redis.exists(KEYS.ingest("default")):
            return 0
        return int((await self.redis.xinfo_stream(KEYS.ingest("default")))["entries-added"])

    async def at(self, when_ms: int) -> int:
        """Move the shared clock and fire what is due; returns how many scheduled events that appended."""
        before = await self.appended()
        await self.redis.set(KEYS.test_clock, when_ms)
        await self.runner.run_once()
        return await self.appended() - before

    async def messages(self, queue: str) -> list[dict[str, Any]]:
        entries: Any = await self.redis.xrange(KEYS.queue(queue))
        return [orjson.loads(fields[b"body"]) for _, fields in entries]

    async def wait_messages(self, queue: str, count: int) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(await self.messages(queue)) >= count

        await eventually(enough, what=f"{count} messages in {queue}")
        return await self.messages(queue)

    async def drained(self) -> None:
        """Every event appended to the default bus has been processed (nothing left to read or pending)."""

        async def idle() -> bool:
            stream = KEYS.ingest("default")
            if not await self.redis.exists(stream):
                return True
            groups = await self.redis.xinfo_groups(stream)
            if not groups:
                return False
            group = groups[0]
            return int(group["pending"]) == 0 and int(group.get("lag") or 0) == 0

        await eventually(idle, what="the default bus's ingest drained")


@pytest.fixture
async def sched(redis_url: str, tmp_path: Path, redis_client: aioredis.Redis) -> AsyncIterator[Scheduled]:
    await redis_client.set(KEYS.test_clock, T0)
    app = create_app(settings(redis_url, tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            yield Scheduled(Api(client, app), app, redis_client)


async def scheduled_rule(sched: Scheduled, expression: str, name: str = "tick", **extra: Any) -> None:
    await sched.api.ok("PutRule", {"Name": name, "ScheduleExpression": expression, **extra})
    await sched.api.ok("PutTargets", {"Rule": name, "Targets": [{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:1:{name}"}]})


async def test_rate_rule_delivers_one_envelope_per_tick(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    assert await sched.at(T0 + 29_999) == 0  # 12:00:59.999: the first tick is 12:01
    assert await sched.at(T0 + 30_000) == 1
    [message] = await sched.wait_messages("tick", 1)
    assert message == {
        "version": "0",
        "id": message["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2030-01-01T12:01:00Z",
        "region": "us-east-1",
        "resources": [RULE_ARN],
        "detail": {},
    }
    assert len(message["id"]) == 36
    assert await sched.at(T0 + 30_000) == 0  # the same tick never fires twice
    assert await sched.at(T0 + 90_000) == 1
    messages = await sched.wait_messages("tick", 2)
    assert [m["time"] for m in messages] == ["2030-01-01T12:01:00Z", "2030-01-01T12:02:00Z"]
    assert messages[0]["id"] != messages[1]["id"]
    described = await sched.api.ok("DescribeRule", {"Name": "tick"})
    assert described["ScheduleExpression"] == "rate(1 minute)"
    assert "EventPattern" not in described
    listed = await sched.api.ok("ListRules", {})
    assert [(r["Name"], r["ScheduleExpression"], r["State"]) for r in listed["Rules"]] == [
        ("tick", "rate(1 minute)", "ENABLED")
    ]


async def test_cron_rule_fires_at_its_minutes(sched: Scheduled) -> None:
    await scheduled_rule(sched, "cron(0/5 * * * ? *)")
    assert await sched.at(T0 + 4 * MINUTE) == 0  # 12:04:30
    assert await sched.at(T0 + 4 * MINUTE + 30_000) == 1  # 12:05
    assert await sched.at(T0 + 9 * MINUTE + 30_000) == 1  # 12:10
    messages = await sched.wait_messages("tick", 2)
    assert [m["time"] for m in messages] == ["2030-01-01T12:05:00Z", "2030-01-01T12:10:00Z"]


async def test_disabled_rules_never_fire_and_enabling_resumes_at_the_next_tick(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(2 minutes)", State="DISABLED")
    assert await sched.at(T0 + 90_000) == 0  # 12:02: the timer ticks, nothing is appended
    await sched.api.ok("EnableRule", {"Name": "tick"})
    assert await sched.at(T0 + 150_000) == 0  # 12:03: not a tick of the grid
    assert await sched.at(T0 + 210_000) == 1  # 12:04
    [message] = await sched.wait_messages("tick", 1)
    assert message["time"] == "2030-01-01T12:04:00Z"
    await sched.api.ok("DisableRule", {"Name": "tick"})
    assert await sched.at(T0 + 330_000) == 0  # 12:06 ticks while disabled
    await sched.drained()
    assert len(await sched.messages("tick")) == 1


async def test_deleting_the_rule_stops_it_and_removes_its_timer(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    timers = Timers(sched.redis, KEYS)
    assert await timers.get("bus:default", "tick") == (T0 + 30_000, await _payload(timers))
    await sched.api.ok("RemoveTargets", {"Rule": "tick", "Ids": ["q"]})
    await sched.api.ok("DeleteRule", {"Name": "tick"})
    assert await timers.get("bus:default", "tick") is None
    assert await sched.at(T0 + 5 * MINUTE) == 0
    assert await sched.appended() == 0


async def _payload(timers: Timers) -> bytes:
    found = await timers.get("bus:default", "tick")
    assert found is not None
    return found[1]


async def test_a_pattern_only_put_rule_removes_the_schedule(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    await sched.api.ok("PutRule", {"Name": "tick", "EventPattern": '{"source": ["x"]}'})
    assert await Timers(sched.redis, KEYS).get("bus:default", "tick") is None


async def test_missed_ticks_fire_once_then_the_schedule_goes_on(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    # every router was "down" from 12:00:30 to 12:10:45: ten ticks were missed
    assert await sched.at(T0 + 10 * MINUTE + 15_000) == 1
    [late] = await sched.wait_messages("tick", 1)
    assert late["time"] == "2030-01-01T12:01:00Z"
    assert await sched.at(T0 + 10 * MINUTE + 20_000) == 0
    assert await sched.at(T0 + 10 * MINUTE + 30_000) == 1  # 12:11, the next tick after now
    messages = await sched.wait_messages("tick", 2)
    assert [m["time"] for m in messages] == ["2030-01-01T12:01:00Z", "2030-01-01T12:11:00Z"]


async def test_re_putting_the_same_expression_keeps_the_grid(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(5 minutes)")  # ticks 12:05, 12:10, ...
    await sched.redis.set(KEYS.test_clock, T0 + 2 * MINUTE)
    await sched.api.ok("PutRule", {"Name": "tick", "ScheduleExpression": "rate(5 minutes)", "Description": "same"})
    assert await sched.at(T0 + 4 * MINUTE + 30_000) == 1  # 12:05
    await sched.api.ok("PutRule", {"Name": "tick", "ScheduleExpression": "rate(10 minutes)"})  # a new grid at 12:05
    assert await sched.at(T0 + 9 * MINUTE + 30_000) == 0  # 12:10 is not on the new grid
    assert await sched.at(T0 + 14 * MINUTE + 30_000) == 1  # 12:15
    messages = await sched.wait_messages("tick", 2)
    assert [m["time"] for m in messages] == ["2030-01-01T12:05:00Z", "2030-01-01T12:15:00Z"]


async def test_scheduled_events_reach_only_their_own_rule(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)", EventPattern='{"source": ["orders"]}')
    await sched.api.ok("PutRule", {"Name": "spy", "EventPattern": '{"source": ["aws.events"]}'})
    await sched.api.ok("PutTargets", {"Rule": "spy", "Targets": [{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:1:spy"}]})
    assert await sched.at(T0 + 30_000) == 1
    await sched.api.ok("PutEvents", {"Entries": [{"Source": "orders", "DetailType": "created", "Detail": '{"n": 1}'}]})
    messages = await sched.wait_messages("tick", 2)  # the rule fires on both its schedule and its pattern
    assert sorted(m["source"] for m in messages) == ["aws.events", "orders"]
    await sched.drained()
    assert await sched.messages("spy") == []


async def test_two_runners_fire_each_tick_once(sched: Scheduled, redis_url: str, tmp_path: Path) -> None:
    other = create_app(settings(redis_url, tmp_path))
    async with other.router.lifespan_context(other):
        second: TimerRunner = other.state.switchboard.extras["timer_runner"]
        await scheduled_rule(sched, "rate(1 minute)")
        for minute in range(1, 6):
            await sched.redis.set(KEYS.test_clock, T0 + minute * MINUTE)
            before = await sched.appended()
            await asyncio.gather(sched.runner.run_once(), second.run_once())
            assert await sched.appended() - before == 1
        messages = await sched.wait_messages("tick", 5)
        await sched.drained()
        assert [m["time"][11:16] for m in await sched.messages("tick")] == [f"12:0{m}" for m in range(1, 6)]
        assert len({m["id"] for m in messages}) == 5


async def test_a_claim_abandoned_before_the_append_loses_no_tick(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    timers = Timers(sched.redis, KEYS)
    lease_ms = sched.runner.options.lease_ms
    claimed = await timers.claim("bus:default", T0 + 30_000, lease_ms)  # a process claims 12:01, then is killed
    assert "tick" in {timer.key for timer in claimed}
    assert await sched.at(T0 + 30_000) == 0  # held by the dead claimant
    assert await sched.at(T0 + 30_000 + lease_ms) == 1  # its lease ran out: another process fires the tick
    [message] = await sched.wait_messages("tick", 1)
    assert message["time"] == "2030-01-01T12:01:00Z"


async def test_reconciliation_restores_a_lost_timer(sched: Scheduled) -> None:
    await scheduled_rule(sched, "rate(1 minute)")
    timers = Timers(sched.redis, KEYS)
    await timers.cancel("bus:default", "tick")  # as if the process died between the rule write and the timer write
    assert await sched.at(T0 + 30_000) == 0  # the reconciliation timer (30 s) puts it back ...
    assert await timers.get("bus:default", "tick") is not None
    assert await sched.at(T0 + 90_000) == 1  # ... and the rule ticks again (12:02)
    [message] = await sched.wait_messages("tick", 1)
    assert message["time"] == "2030-01-01T12:02:00Z"
