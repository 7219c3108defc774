"""A bounded ingest backlog per bus (issue 7, item 5): beyond it PutEvents answers AWS's retryable throttling error for
the entries it cannot take, atomically with the append, counted per bus and per process; an event-bus target into a
full bus is retried (THROTTLING), not lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.app import create_app
from router.backlog import APPEND_SCRIPT, append_args, append_keys
from router.keys import INGEST_GROUP, Keys
from router.settings import Settings
from tests.router._serve import parse_metrics
from tests.router.conftest import Api, serving

pytestmark = pytest.mark.integration

KEYS = Keys()
LIMIT = 5
THROTTLED = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}


def entry(n: int, bus: str = "default") -> dict[str, Any]:
    return {"Source": "bp", "DetailType": "t", "Detail": orjson.dumps({"n": n}).decode(), "EventBusName": bus}


@pytest.fixture
async def api(redis_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with no ingest worker: nothing is processed, so the backlog only grows."""
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, ingest_backlog_limit_events=LIMIT)
    app = create_app(settings, ingest=False)
    async with serving(app) as api:
        yield api


async def test_entries_beyond_the_backlog_bound_are_throttled_in_order(api: Api, redis_client: aioredis.Redis) -> None:
    first = await api.ok("PutEvents", {"Entries": [entry(n) for n in range(3)]})
    assert first["FailedEntryCount"] == 0
    second = await api.ok("PutEvents", {"Entries": [entry(n) for n in range(3, 7)]})
    assert second["FailedEntryCount"] == 2
    assert [("EventId" in e) for e in second["Entries"]] == [True, True, False, False]  # the first ones fit
    assert second["Entries"][2:] == [THROTTLED, THROTTLED]
    stored: Any = await redis_client.xrange(KEYS.ingest("default"))
    assert [orjson.loads(fields[b"event"])["detail"]["n"] for _, fields in stored] == list(range(5))
    assert await redis_client.hget(KEYS.bus_counters("default"), "ThrottledEvents") == b"2"
    # Another bus has its own bound.
    await api.ok("CreateEventBus", {"Name": "other"})
    assert (await api.ok("PutEvents", {"Entries": [entry(9, "other")]}))["FailedEntryCount"] == 0

    metrics = parse_metrics((await api.client.get("/metrics")).text)
    assert metrics[("switchboard_put_events_throttled_entries_total", ())] == 2
    assert metrics[("switchboard_ingest_throttled_events_total", (("event_bus_name", "default"),))] == 2
    assert metrics[("switchboard_ingest_throttled_events_total", (("event_bus_name", "other"),))] == 0


async def test_the_backlog_is_what_the_router_group_has_not_processed(api: Api, redis_client: aioredis.Redis) -> None:
    stream = KEYS.ingest("default")
    await redis_client.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
    assert (await api.ok("PutEvents", {"Entries": [entry(n) for n in range(5)]}))["FailedEntryCount"] == 0
    assert (await api.ok("PutEvents", {"Entries": [entry(5)]}))["Entries"] == [THROTTLED]  # 5 waiting: full
    # A consumer reads three (pending: still backlog), acknowledges two: three are left, so two more fit.
    read: Any = await redis_client.xreadgroup(INGEST_GROUP, "c", {stream: ">"}, count=3)
    await redis_client.xack(stream, INGEST_GROUP, *[entry_id for entry_id, _ in read[0][1][:2]])
    result = await api.ok("PutEvents", {"Entries": [entry(n) for n in range(6, 9)]})
    assert [("EventId" in e) for e in result["Entries"]] == [True, True, False]
    assert await redis_client.xlen(stream) == 7  # acknowledged entries still in the stream do not count


async def test_concurrent_appends_never_overshoot_the_bound(redis_client: aioredis.Redis) -> None:
    await redis_client.set(KEYS.bus_exists("default"), 1)
    script = redis_client.register_script(APPEND_SCRIPT)
    limit = 100
    calls = [
        script(keys=append_keys(KEYS, "default"), args=append_args(limit, [(b'{"n": %d}' % i, None)] * 7))
        for i in range(40)
    ]
    results = await asyncio.gather(*calls)
    assert sum(len(ids) for ids in results) == limit
    assert await redis_client.xlen(KEYS.ingest("default")) == limit
    assert await redis_client.hget(KEYS.bus_counters("default"), "ThrottledEvents") == str(40 * 7 - limit).encode()


async def test_a_limit_of_zero_turns_the_bound_off(redis_client: aioredis.Redis) -> None:
    await redis_client.set(KEYS.bus_exists("default"), 1)
    script = redis_client.register_script(APPEND_SCRIPT)
    ids = await script(keys=append_keys(KEYS, "default"), args=append_args(0, [(b"{}", None)] * 20))
    assert len(ids) == 20
    assert await script(keys=append_keys(KEYS, "missing"), args=append_args(0, [(b"{}", None)])) is None


async def test_an_event_bus_target_into_a_full_bus_is_throttled_and_retried(redis_client: aioredis.Redis) -> None:
    from router.arns import Arns
    from router.delivery.bus_target import BusTransport
    from router.delivery.jobs import Job

    await redis_client.set(KEYS.bus_exists("full"), 1)
    for _ in range(LIMIT - 1):
        await redis_client.xadd(KEYS.ingest("full"), {"event": b"{}"})
    arns = Arns("us-east-1", "123456789012")
    target = {"Id": "t", "Arn": arns.bus("full")}
    jobs = [
        Job(str(n).encode(), f"d{n}", b'{"n": %d}' % n, "r", orjson.dumps(target), target, 0, 0, 0) for n in range(3)
    ]
    results = await BusTransport(redis_client, KEYS, arns, backlog_limit=LIMIT).deliver(jobs)
    assert results[0] is None  # the one that fit
    for failure in results[1:]:
        assert failure is not None
        assert (failure.code, failure.retryable) == ("THROTTLING", True)
    assert await redis_client.xlen(KEYS.ingest("full")) == LIMIT
