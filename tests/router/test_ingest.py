"""The ingest worker on a real Redis, without the HTTP layer: claiming a dead consumer's events, exactly-once counting
when an event is claimed away, DISABLED and broken rules, and trimming only acknowledged entries."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.ingest import IngestWorker, WorkerOptions
from router.keys import INGEST_GROUP, Keys
from router.matchers import MatcherCache, compile_rules

pytestmark = pytest.mark.integration

KEYS = Keys()
BUS = "default"


def envelope(source: str = "ingest.test", n: int = 0) -> bytes:
    return orjson.dumps(
        {
            "version": "0",
            "id": f"id-{n}",
            "detail-type": "t",
            "source": source,
            "account": "1",
            "time": "2024-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"n": n},
        }
    )


async def setup_bus(redis: aioredis.Redis, rules: dict[str, dict[str, Any]]) -> None:
    await redis.hset(KEYS.buses, BUS, orjson.dumps({"Name": BUS}))
    await redis.set(KEYS.bus_exists(BUS), 1)
    for name, record in rules.items():
        await redis.hset(KEYS.rules(BUS), name, orjson.dumps({"Name": name, **record}))
    await redis.incr(KEYS.version(BUS))


def worker(redis: aioredis.Redis, consumer: str | None = None, **options: Any) -> IngestWorker:
    opts = WorkerOptions(**{"block_ms": 100, "claim_interval_s": 0.1, **options})
    return IngestWorker(redis, KEYS, MatcherCache(redis, KEYS, 0.05), options=opts, consumer=consumer)


async def counters(redis: aioredis.Redis) -> dict[str, int]:
    raw = await redis.hgetall(KEYS.bus_counters(BUS))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


async def wait_until(predicate: Any, timeout_s: float = 10) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


PATTERN = '{"source": ["ingest.test"]}'


async def test_events_of_a_dead_consumer_are_claimed_and_counted_once(redis_client: aioredis.Redis) -> None:
    await setup_bus(redis_client, {"r": {"EventPattern": PATTERN, "State": "ENABLED"}})
    stream = KEYS.ingest(BUS)
    await redis_client.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
    for n in range(25):
        await redis_client.xadd(stream, {"event": envelope(n=n)})
    # A consumer that read everything and died before acknowledging anything.
    await redis_client.xreadgroup(INGEST_GROUP, "dead", {stream: ">"}, count=100)
    live = worker(redis_client, claim_min_idle_ms=300)
    await live.start()
    try:

        async def all_counted() -> bool:
            return (await counters(redis_client)).get("TriggeredRules:r") == 25

        await wait_until(all_counted)
        await asyncio.sleep(0.5)
        assert await counters(redis_client) == {"IngestedEvents": 25, "MatchedEvents": 25, "TriggeredRules:r": 25}
        pending = await redis_client.xpending(stream, INGEST_GROUP)
        assert pending["pending"] == 0
    finally:
        await live.stop()


async def test_an_event_claimed_away_is_not_counted_by_its_former_owner(redis_client: aioredis.Redis) -> None:
    await setup_bus(redis_client, {"r": {"EventPattern": PATTERN, "State": "ENABLED"}})
    stream = KEYS.ingest(BUS)
    await redis_client.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
    await redis_client.xadd(stream, {"event": envelope()})
    slow = worker(redis_client, "slow")
    reply: Any = await redis_client.xreadgroup(INGEST_GROUP, "slow", {stream: ">"}, count=10)
    entries = reply[0][1]
    # Another consumer claims the entry (the slow one looked dead) and settles it first.
    await redis_client.xclaim(stream, INGEST_GROUP, "fast", 0, [entries[0][0]])
    fast = worker(redis_client, "fast")
    await fast._process(BUS, stream, entries)
    await slow._process(BUS, stream, entries)  # the former owner finishes late: must change nothing
    assert await counters(redis_client) == {"IngestedEvents": 1, "MatchedEvents": 1, "TriggeredRules:r": 1}
    assert (fast.processed_events, slow.processed_events) == (1, 0)


async def test_disabled_schedule_only_and_broken_rules_never_match_and_do_not_break_others(
    redis_client: aioredis.Redis,
) -> None:
    await setup_bus(
        redis_client,
        {
            "on": {"EventPattern": PATTERN, "State": "ENABLED"},
            "off": {"EventPattern": PATTERN, "State": "DISABLED"},
            "cron": {"EventPattern": None, "ScheduleExpression": "rate(1 minute)", "State": "ENABLED"},
            "broken": {"EventPattern": '{"source": [{"numeric": [">", "x"]}]}', "State": "ENABLED"},
            "other": {"EventPattern": '{"source": ["something.else"]}', "State": "ENABLED"},
        },
    )
    live = worker(redis_client)
    await live.start()
    try:
        await redis_client.xadd(KEYS.ingest(BUS), {"event": envelope()})

        async def counted() -> bool:
            return (await counters(redis_client)).get("IngestedEvents") == 1

        await wait_until(counted)
        assert await counters(redis_client) == {"IngestedEvents": 1, "MatchedEvents": 1, "TriggeredRules:on": 1}
        compiled = await live.matchers.get(BUS)
        assert compiled.rule_names == {"on", "other"}
        assert set(compiled.broken) == {"broken"}
    finally:
        await live.stop()


async def test_a_new_bus_is_picked_up_within_a_second(redis_client: aioredis.Redis) -> None:
    live = worker(redis_client)
    await live.start()
    try:
        await setup_bus(redis_client, {"r": {"EventPattern": PATTERN}})
        await redis_client.xadd(KEYS.ingest(BUS), {"event": envelope()})

        async def counted() -> bool:
            return (await counters(redis_client)).get("TriggeredRules:r") == 1

        await wait_until(counted, timeout_s=1.5)
    finally:
        await live.stop()


async def test_trimming_drops_acknowledged_entries_only(redis_client: aioredis.Redis) -> None:
    await setup_bus(redis_client, {})
    stream = KEYS.ingest(BUS)
    await redis_client.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
    await redis_client.xgroup_create(stream, "archive", id="0")
    for n in range(500):
        await redis_client.xadd(stream, {"event": envelope(n=n)})
    # The other group has read (and holds unacknowledged) the first 300 entries only.
    held: Any = await redis_client.xreadgroup("archive", "a", {stream: ">"}, count=300)
    oldest_held = held[0][1][0][0]
    live = worker(redis_client)
    await live.start()
    try:

        async def processed() -> bool:
            return (await counters(redis_client)).get("IngestedEvents") == 500

        await wait_until(processed)
        await asyncio.sleep(0.3)  # a maintenance round
        first: Any = await redis_client.xrange(stream, count=1)
        assert first[0][0] == oldest_held  # nothing the archive group still holds was trimmed

        await redis_client.xack(stream, "archive", *[entry_id for entry_id, _ in held[0][1]])
        await redis_client.xreadgroup("archive", "a", {stream: ">"}, count=1000)
        pending: Any = await redis_client.xreadgroup("archive", "a", {stream: "0"}, count=1000)
        await redis_client.xack(stream, "archive", *[entry_id for entry_id, _ in pending[0][1]])

        async def trimmed() -> bool:
            return int(await redis_client.xlen(stream)) < 500

        await wait_until(trimmed, timeout_s=5)
    finally:
        await live.stop()


def test_compile_rules_keeps_only_enabled_rules_with_a_pattern() -> None:
    records = {
        b"a": orjson.dumps({"Name": "a", "EventPattern": PATTERN, "State": "ENABLED"}),
        b"b": orjson.dumps({"Name": "b", "EventPattern": PATTERN, "State": "DISABLED"}),
        b"c": b"not json",
    }
    compiled = compile_rules(BUS, 7, records)
    assert (compiled.version, set(compiled.rule_names), set(compiled.broken)) == (7, {"a"}, {"c"})
    assert compiled.match(envelope()) == ["a"]
