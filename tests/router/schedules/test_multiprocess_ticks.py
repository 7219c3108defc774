"""A `rate(1 minute)` rule with two `switchboard serve` processes on one Redis: its queue target receives exactly
one scheduled event per tick, also after one process is killed with kill -9 in the middle of the run.

Both processes read the time from the shared Redis test clock (`SWITCHBOARD_TIMER_CLOCK=redis`), which the test
moves one minute per tick, so the run takes seconds. After each tick the test waits until the rule's timer shows
the next tick (the firing is complete: the append and the reschedule are one script) and the ingest stream is
drained, then counts the queue: a second firing of the same tick would have to show there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from router.keys import Keys
from tests.conftest import sync_client
from tests.router._serve import ServeProcess
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

KEYS = Keys()
T0 = int(datetime(2030, 6, 1, 8, 0, 30, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000


@pytest.fixture
def two_routers(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    monkeypatch.setenv("SWITCHBOARD_TIMER_CLOCK", "redis")
    monkeypatch.setenv("SWITCHBOARD_TIMER_POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("SWITCHBOARD_TIMER_LEASE_S", "1")
    client = sync_client(redis_url)
    client.set(KEYS.test_clock, T0)
    client.close()
    first = ServeProcess(tmp_path, redis_url)
    second = ServeProcess(tmp_path, redis_url)
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


def _bodies(client: redis.Redis) -> list[dict[str, Any]]:
    entries: Any = client.xrange(KEYS.queue("ticks"))
    return [orjson.loads(fields[b"body"]) for _, fields in entries]


def _times(client: redis.Redis) -> list[str]:
    return [body["time"] for body in _bodies(client)]


def _tick(client: redis.Redis, minute: int) -> None:
    """Move the clock to `minute` past 08:00 and wait until that tick is fired and processed."""
    client.set(KEYS.test_clock, T0 + (minute - 1) * MINUTE + 30_000)
    next_due = T0 + minute * MINUTE + 30_000

    def fired() -> bool:
        score = client.zscore(KEYS.timers("bus:default"), "tick")
        return (
            score is not None
            and int(score) == next_due
            and not client.hexists(KEYS.timer_claims("bus:default"), "tick")
        )

    eventually_sync(fired, what=f"the tick of 08:{minute:02d} completed")

    def drained() -> bool:
        groups = client.xinfo_groups(KEYS.ingest("default"))
        return bool(groups) and all(int(g["pending"]) == 0 and int(g.get("lag") or 0) == 0 for g in groups)

    eventually_sync(drained, what="the ingest stream drained")
    eventually_sync(lambda: len(_times(client)) >= minute, what=f"{minute} messages")


def test_each_tick_is_delivered_once_by_two_processes_and_after_a_kill(
    two_routers: tuple[ServeProcess, ServeProcess], redis_url: str
) -> None:
    first, second = two_routers
    client = sync_client(redis_url)
    try:
        with httpx.Client(timeout=10) as http:
            assert (
                first.call(http, "PutRule", {"Name": "tick", "ScheduleExpression": "rate(1 minute)"}).status_code == 200
            )
            targets = {"Rule": "tick", "Targets": [{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:ticks"}]}
            assert second.call(http, "PutTargets", targets).status_code == 200
        for minute in range(1, 9):
            _tick(client, minute)
            assert _times(client) == [f"2030-06-01T08:{m:02d}:00Z" for m in range(1, minute + 1)]
        first.kill()  # kill -9, whatever it was doing
        for minute in range(9, 13):
            _tick(client, minute)
        assert _times(client) == [f"2030-06-01T08:{m:02d}:00Z" for m in range(1, 13)]
        ids = [body["id"] for body in _bodies(client)]
        assert len(set(ids)) == 12
    finally:
        client.close()
