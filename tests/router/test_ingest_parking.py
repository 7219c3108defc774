"""The ingest worker never acknowledges an event it failed to route (issue 7, item 1): internal matcher errors are
retried, then the event is parked where `switchboard ingest parked|redrive` show and re-drive it; an entry that is not
an event is parked at once. The bus's other events keep flowing."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.cli import main
from router.ingest import IngestWorker, WorkerOptions
from router.keys import INGEST_GROUP, Keys
from router.matchers import MatcherCache
from tests.router.wrapped_machine import WrappedMachine
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEYS = Keys()
BUS = "default"
PATTERN = '{"source": ["park.test"]}'


class FlakyMachine(WrappedMachine):
    """A matcher that raises for events whose detail says `boom` while `broken` holds (`failures_left` times, when
    set), and counts its calls."""

    broken = True
    failures_left: int | None = None
    calls = 0

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]:
        FlakyMachine.calls += 1
        if FlakyMachine.broken and b'"boom"' in (event if isinstance(event, bytes) else b""):
            if FlakyMachine.failures_left is not None:
                FlakyMachine.failures_left -= 1
                FlakyMachine.broken = FlakyMachine.failures_left > 0
            raise RecursionError("maximum recursion depth exceeded (a pattern the compiler could not handle)")
        return super().matches_for_event(event)


@pytest.fixture(autouse=True)
def _reset() -> None:
    FlakyMachine.broken = True
    FlakyMachine.failures_left = None
    FlakyMachine.calls = 0


def envelope(n: int, detail: Any) -> bytes:
    return orjson.dumps(
        {
            "version": "0",
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "detail-type": "t",
            "source": "park.test",
            "account": "123456789012",
            "time": "2024-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


async def setup_bus(redis: aioredis.Redis) -> None:
    await redis.hset(KEYS.buses, BUS, orjson.dumps({"Name": BUS}))
    await redis.set(KEYS.bus_exists(BUS), 1)
    await redis.hset(KEYS.rules(BUS), "r", orjson.dumps({"Name": "r", "EventPattern": PATTERN, "State": "ENABLED"}))
    await redis.incr(KEYS.version(BUS))


def worker(redis: aioredis.Redis) -> IngestWorker:
    options = WorkerOptions(block_ms=100, claim_interval_s=0.1, match_retry_delay_s=0.01)
    return IngestWorker(redis, KEYS, MatcherCache(redis, KEYS, 0.05, machine_factory=FlakyMachine), options=options)


async def counters(redis: aioredis.Redis) -> dict[str, int]:
    raw: Any = await redis.hgetall(KEYS.bus_counters(BUS))
    return {k.decode(): int(v) for k, v in raw.items()}


async def test_an_event_the_matcher_fails_on_is_retried_then_parked_not_lost(
    redis_client: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    await setup_bus(redis_client)
    stream = KEYS.ingest(BUS)
    ids: list[Any] = [
        await redis_client.xadd(stream, {"event": envelope(n, "boom" if n == 2 else n)}) for n in range(5)
    ]
    live = worker(redis_client)
    await live.start()
    try:
        await eventually(lambda: _counter(redis_client, "ParkedEvents", 1), what="the parked event")
        await eventually(lambda: _counter(redis_client, "TriggeredRules:r", 4), what="the other four routed")
    finally:
        await live.stop()
    assert await counters(redis_client) == {
        "IngestedEvents": 4,
        "MatchedEvents": 4,
        "TriggeredRules:r": 4,
        "ParkedEvents": 1,
    }
    found: Any = await redis_client.xrange(KEYS.ingest_parked(BUS))
    ((parked_id, fields),) = found
    assert fields[b"event"] == envelope(2, "boom")  # every field of the entry, as it was
    assert fields[b"parked_reason"] == b"internal-error"
    assert fields[b"parked_error"].startswith(b"RecursionError: maximum recursion depth exceeded")
    assert fields[b"parked_from"] == ids[2]
    assert (await redis_client.xpending(stream, INGEST_GROUP))["pending"] == 0  # acknowledged once parked
    assert FlakyMachine.calls >= 4 + 3  # the four good events, and three attempts at the bad one

    # The cause is fixed; `switchboard ingest redrive` puts the event back and it is routed like a new one.
    FlakyMachine.broken = False
    listed = await asyncio.to_thread(_cli, "ingest", "parked", BUS)
    (shown,) = [orjson.loads(line) for line in listed.splitlines()]
    assert shown["id"] == parked_id.decode()
    assert (shown["from"], shown["reason"]) == (ids[2].decode(), "internal-error")
    assert shown["event"]["detail"] == "boom"
    assert await asyncio.to_thread(_cli, "ingest", "redrive", BUS) == f"re-drove 1 parked event of bus {BUS}\n"
    assert await redis_client.xlen(KEYS.ingest_parked(BUS)) == 0
    live = worker(redis_client)
    await live.start()
    try:
        await eventually(lambda: _counter(redis_client, "TriggeredRules:r", 5), what="the re-driven event routed")
    finally:
        await live.stop()
    assert (await counters(redis_client))["IngestedEvents"] == 5


async def test_a_transient_matcher_error_is_retried_and_the_event_routed(redis_client: aioredis.Redis) -> None:
    await setup_bus(redis_client)
    FlakyMachine.failures_left = 2  # the third and last attempt succeeds
    await redis_client.xadd(KEYS.ingest(BUS), {"event": envelope(1, "boom")})
    live = worker(redis_client)
    await live.start()
    try:
        await eventually(lambda: _counter(redis_client, "TriggeredRules:r", 1), what="the retried event routed")
    finally:
        await live.stop()
    assert FlakyMachine.calls == 3
    assert "ParkedEvents" not in await counters(redis_client)
    assert await redis_client.xlen(KEYS.ingest_parked(BUS)) == 0


async def test_an_entry_that_is_no_event_is_parked_at_once(redis_client: aioredis.Redis) -> None:
    await setup_bus(redis_client)
    stream = KEYS.ingest(BUS)
    await redis_client.xadd(stream, {"event": b"not json {"})
    await redis_client.xadd(stream, {"something": b"else"})
    await redis_client.xadd(stream, {"event": envelope(9, 9)})
    live = worker(redis_client)
    await live.start()
    try:
        await eventually(lambda: _counter(redis_client, "ParkedEvents", 2), what="two parked entries")
        await eventually(lambda: _counter(redis_client, "TriggeredRules:r", 1), what="the event routed")
    finally:
        await live.stop()
    parked: Any = await redis_client.xrange(KEYS.ingest_parked(BUS))
    assert [fields[b"parked_reason"] for _, fields in parked] == [b"malformed", b"malformed"]
    assert parked[1][1][b"something"] == b"else"
    assert FlakyMachine.calls == 2  # the non-JSON entry once (no retry can help), the event once


def test_redrive_of_an_unknown_bus_says_so(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["ingest", "redrive", "nope"]) == 9


def _cli(*args: str) -> str:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


async def _counter(redis: aioredis.Redis, name: str, at_least: int) -> bool:
    return (await counters(redis)).get(name, 0) >= at_least


async def test_parked_and_redrive_act_in_the_namespace_they_name(
    redis_client: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from router.namespace import Namespace

    monkeypatch.setenv("REDIS_URL", redis_url)
    west = KEYS.scoped("orders", Namespace("111122223333", "us-west-1"))
    await redis_client.set(KEYS.bus_exists(west), 1)
    await redis_client.xadd(KEYS.ingest_parked(west), {"event": envelope(1, "x"), "parked_reason": "malformed"})
    where = ("--account", "111122223333", "--region", "us-west-1")
    assert await asyncio.to_thread(main, ["ingest", "redrive", "orders"]) == 9  # the home namespace has no orders
    (shown,) = [
        orjson.loads(line)
        for line in (await asyncio.to_thread(_cli, "ingest", "parked", "orders", *where)).splitlines()
    ]
    assert shown["reason"] == "malformed"
    said = await asyncio.to_thread(_cli, "ingest", "redrive", "orders", *where)
    assert said == "re-drove 1 parked event of bus orders (account 111122223333, us-west-1)\n"
    assert await redis_client.xlen(KEYS.ingest_parked(west)) == 0
    assert await redis_client.xlen(KEYS.ingest(west)) == 1
