"""Two ingest workers on one bus (two processes sharing a Redis): they split the events, count each once, and
trim the stream together without errors (issue 9: the trim floor used to be read in two steps, racing the other
process's acknowledgements, which raised AttributeError from `_parse_id` several times per run)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.ingest import IngestWorker, WorkerOptions
from router.keys import Keys
from router.matchers import MatcherCache
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEYS = Keys()
BUS = "default"
EVENTS = 3000


def envelope(n: int) -> bytes:
    return orjson.dumps({"version": "0", "id": f"id-{n}", "source": "two", "detail-type": "t", "detail": {"n": n}})


async def test_two_workers_share_a_stream_and_trim_it_without_errors(
    redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_client.hset(KEYS.buses, BUS, orjson.dumps({"Name": BUS}))
    await redis_client.set(KEYS.bus_exists(BUS), 1)
    await redis_client.hset(KEYS.rules(BUS), "r", orjson.dumps({"Name": "r", "EventPattern": '{"source": ["two"]}'}))
    options = WorkerOptions(block_ms=50, claim_interval_s=0.005, batch_size=50)  # maintenance all the time
    workers = [
        IngestWorker(redis_client, KEYS, MatcherCache(redis_client, KEYS, 0.05), options=options, consumer=name)
        for name in ("first", "second")
    ]
    caplog.set_level(logging.WARNING)
    for worker in workers:
        await worker.start()
    try:
        stream = KEYS.ingest(BUS)
        for start in range(0, EVENTS, 100):
            async with redis_client.pipeline(transaction=False) as pipe:
                for n in range(start, start + 100):
                    pipe.xadd(stream, {"event": envelope(n)})
                await pipe.execute()

        async def counted() -> int:
            raw: Any = await redis_client.hget(KEYS.bus_counters(BUS), "TriggeredRules:r")
            return int(raw or 0)

        await eventually(lambda: _at_least(counted, EVENTS), timeout_s=60, what="every event counted")
        await eventually(lambda: _shorter_than(redis_client, stream, 300), timeout_s=20, what="the stream trimmed")
    finally:
        for worker in workers:
            await worker.stop()
    assert await counted() == EVENTS  # once each
    assert all(w.processed_events > 0 for w in workers), [w.processed_events for w in workers]
    assert sum(w.processed_events for w in workers) == EVENTS
    problems = [r.getMessage() for r in caplog.records if r.name.startswith("switchboard")]
    assert problems == []


async def _at_least(read: Any, n: int) -> bool:
    return bool(await read() >= n)


async def _shorter_than(redis: aioredis.Redis, stream: str, n: int) -> bool:
    return bool(await redis.xlen(stream) < n)
