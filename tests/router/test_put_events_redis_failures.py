"""PutEvents when Redis fails under it: the entries it could not store answer `InternalFailure` (retryable), in their
positions, next to the entries that failed validation or were stored; nothing is half-stored; and the router
recovers once Redis does. Each test runs its own redis-server, so stopping or starving it harms no other test.

Four ways Redis fails: it is gone (stopped: connection refused), it refuses writes (`maxmemory` reached: OOM), one
bus's append is refused while another bus's succeeds (its stream key holds another type: WRONGTYPE), and it stops
answering (frozen with SIGSTOP: the client's read times out).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from router.app import create_app
from router.keys import Keys
from router.settings import Settings
from tests.conftest import RedisServer
from tests.router._serve import parse_metrics
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

KEYS = Keys()
INTERNAL_FAILURE = {"ErrorCode": "InternalFailure", "ErrorMessage": "The event could not be stored. Retry the entry."}
MISSING_SOURCE = {
    "ErrorCode": "InvalidArgument",
    "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
}


def entry(n: int, bus: str | None = None, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Source": "failures.test", "DetailType": "t", "Detail": orjson.dumps({"n": n}).decode()}
    if bus is not None:
        base["EventBusName"] = bus
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data, appendonly=True)
    yield server
    server.stop()


@pytest.fixture
async def failing(own_redis: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[Api, aioredis.Redis]]:
    # No ingest worker: nothing reads or trims the ingest streams, so they show exactly what PutEvents stored.
    app = create_app(Settings(redis_url=own_redis.url, data_dir=tmp_path), ingest=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            redis = aioredis.Redis.from_url(own_redis.url)
            try:
                yield Api(client, app), redis
            finally:
                await redis.aclose()


async def stored_ns(redis: aioredis.Redis, bus: str = "default") -> list[int]:
    entries: Any = await redis.xrange(KEYS.ingest(bus))
    return [orjson.loads(fields[b"event"])["detail"]["n"] for _, fields in entries]


async def failed_entries_metric(api: Api) -> float:
    response = await api.client.get("/metrics")
    return parse_metrics(response.text).get(("switchboard_put_events_failed_entries_total", ()), 0.0)


async def test_redis_gone_fails_the_entries_with_internal_failure_then_recovers(
    failing: tuple[Api, aioredis.Redis], own_redis: RedisServer
) -> None:
    api, redis = failing
    first = await api.ok("PutEvents", {"Entries": [entry(1)]})
    assert first["FailedEntryCount"] == 0
    own_redis.stop()  # SIGTERM: the append-only file keeps what was stored

    result = await api.ok("PutEvents", {"Entries": [entry(2), entry(3, Source=None), entry(4)]})
    assert result == {"FailedEntryCount": 3, "Entries": [INTERNAL_FAILURE, MISSING_SOURCE, INTERNAL_FAILURE]}

    restarted = RedisServer(own_redis.data_dir, appendonly=True, port=own_redis.port)
    own_redis.proc = restarted.proc  # the fixture stops the running one
    again = await api.ok("PutEvents", {"Entries": [entry(5)]})
    assert again["FailedEntryCount"] == 0
    assert await stored_ns(redis) == [1, 5]  # nothing of the failed request was stored


async def test_redis_out_of_memory_fails_every_entry_and_stores_none(failing: tuple[Api, aioredis.Redis]) -> None:
    api, redis = failing
    await api.ok("PutEvents", {"Entries": [entry(1)]})
    await redis.config_set("maxmemory", 1)  # noeviction: every write is refused with OOM
    try:
        result = await api.ok("PutEvents", {"Entries": [entry(n) for n in range(2, 12)]})
        assert result == {"FailedEntryCount": 10, "Entries": [INTERNAL_FAILURE] * 10}
    finally:
        await redis.config_set("maxmemory", 0)
    assert await stored_ns(redis) == [1]
    again = await api.ok("PutEvents", {"Entries": [entry(12)]})
    assert again["FailedEntryCount"] == 0
    assert await stored_ns(redis) == [1, 12]


async def test_one_bus_refused_fails_only_its_entries_in_their_positions(failing: tuple[Api, aioredis.Redis]) -> None:
    api, redis = failing
    await api.ok("CreateEventBus", {"Name": "orders"})
    # The orders bus's ingest stream key holds a string: its append (one script for all its entries) is refused.
    await redis.delete(KEYS.ingest("orders"))
    await redis.set(KEYS.ingest("orders"), "not a stream")
    before = await failed_entries_metric(api)
    body = {"Entries": [entry(1), entry(2, "orders"), entry(3, Source=None), entry(4), entry(5, "orders")]}
    result = await api.ok("PutEvents", body)
    entries = result["Entries"]
    assert result["FailedEntryCount"] == 3
    assert [entries[1], entries[2], entries[4]] == [INTERNAL_FAILURE, MISSING_SOURCE, INTERNAL_FAILURE]
    assert [set(entries[0]), set(entries[3])] == [{"EventId"}, {"EventId"}]
    events: Any = await redis.xrange(KEYS.ingest("default"))
    assert [orjson.loads(fields[b"event"])["id"] for _, fields in events] == [
        entries[0]["EventId"],
        entries[3]["EventId"],
    ]
    assert await redis.get(KEYS.ingest("orders")) == b"not a stream"  # nothing was appended
    assert await failed_entries_metric(api) == before + 3


async def test_redis_frozen_answers_internal_failure_without_hanging_and_never_stores_twice(
    failing: tuple[Api, aioredis.Redis], own_redis: RedisServer
) -> None:
    """A Redis that stops answering (SIGSTOP) fails the entries once the client's read times out (redis-py's 5 s
    default), never a hang. The append may still be applied when Redis wakes up (the client then retries: at least
    once), but never more than once."""
    api, redis = failing
    await api.ok("PutEvents", {"Entries": [entry(1)]})
    before = int((await redis.xinfo_stream(KEYS.ingest("default")))["entries-added"])
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = await asyncio.wait_for(api.ok("PutEvents", {"Entries": [entry(2)]}), timeout=30)
        assert result == {"FailedEntryCount": 1, "Entries": [INTERNAL_FAILURE]}
        assert time.monotonic() - started < 30
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    again = await api.ok("PutEvents", {"Entries": [entry(3)]})
    assert again["FailedEntryCount"] == 0
    stored = await stored_ns(redis)
    assert stored in ([1, 3], [1, 2, 3]), stored  # event 2 at most once
    assert int((await redis.xinfo_stream(KEYS.ingest("default")))["entries-added"]) - before == len(stored) - 1


async def test_entry_checks_that_cannot_be_read_fail_their_entries_not_the_request(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    """An extension's per-bus entry check (schemas' validation) reads Redis; when that read meets a storage fault (a
    failover, an outage) the bus's entries fail with the retryable InternalFailure, like a failed append, and the
    other buses' entries are stored: never a 500 for the whole request."""
    from router.extensions import Extension
    from tests.router.conftest import make_settings

    async def flaky(state: Any, bus: str) -> None:
        if bus == "flaky":
            raise redis.exceptions.ConnectionError("Connection closed by server.")

    app = create_app(make_settings(redis_url), ingest=False, extensions=[Extension(name="t", entry_checks=[flaky])])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            api = Api(client, app)
            await api.ok("CreateEventBus", {"Name": "flaky"})
            result = await api.ok("PutEvents", {"Entries": [entry(1, "flaky"), entry(2), entry(3, "flaky")]})
    assert result["FailedEntryCount"] == 2
    assert [result["Entries"][0], result["Entries"][2]] == [INTERNAL_FAILURE, INTERNAL_FAILURE]
    assert await stored_ns(redis_client) == [2]
