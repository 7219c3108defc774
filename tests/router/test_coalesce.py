"""router.coalesce.ScriptBatcher on a real Redis: the calls made in one loop tick share one pipelined round trip
(on a single Redis; one by one on a cluster), each caller gets its own call's result or error, a failed round trip
fails every call of its batch, and PutEvents requests in flight together fail only their own entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from router import redis_client
from router.coalesce import ScriptBatcher
from router.keys import Keys
from tests.conftest import free_port
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The router's own command client (a BoundedCluster on the cluster)."""
    found = redis_client.connect(redis_url)
    await _warm(found)
    yield found
    await found.aclose()


async def _warm(client: aioredis.Redis) -> None:
    """One call before the concurrent ones: redis-py's cluster client can fail calls made concurrently while it
    opens its first connection to a node (seen here without this call; not the batcher's concern)."""
    await client.register_script(INCR)(keys=["{c}:warm"], args=[1])


def _batcher(client: aioredis.Redis, **kwargs: Any) -> ScriptBatcher:
    return ScriptBatcher(client, client.register_script(INCR), **kwargs)


async def test_calls_of_one_tick_share_a_round_trip_and_each_gets_its_own_result(
    client: aioredis.Redis, redis_kind: str
) -> None:
    batcher = _batcher(client)
    results = await asyncio.gather(*(batcher.run([f"{{c}}:n{i % 3}"], [i]) for i in range(20)))
    expected, totals = [], [0, 0, 0]
    for i in range(20):
        totals[i % 3] += i
        expected.append(totals[i % 3])
    if redis_kind == "single":
        assert results == expected  # in call order, as if made one by one
        assert batcher.batches == 1
    else:  # a cluster runs them one by one, concurrently: each once
        assert [int(await client.get(f"{{c}}:n{i}") or 0) for i in range(3)] == totals
        assert batcher.batches == 0


async def test_a_tick_of_more_than_the_batch_bound_is_sent_in_several_pipelines(
    client: aioredis.Redis, redis_kind: str
) -> None:
    batcher = _batcher(client, max_batch=8)
    results = await asyncio.gather(*(batcher.run(["{c}:n"], [1]) for _ in range(20)))
    assert sorted(results) == list(range(1, 21))  # each call ran once
    assert batcher.batches == (3 if redis_kind == "single" else 0)


async def test_a_failing_call_fails_only_itself(client: aioredis.Redis) -> None:
    await client.set("{c}:text", "not a number")
    batcher = _batcher(client)
    calls = [batcher.run(["{c}:text" if i == 2 else "{c}:n"], [1]) for i in range(5)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(outcomes[2], redis.exceptions.ResponseError)
    assert "not an integer" in str(outcomes[2])
    assert sorted(int(o) for i, o in enumerate(outcomes) if i != 2) == [1, 2, 3, 4]  # type: ignore[arg-type]
    assert await client.get("{c}:n") == b"4"


async def test_a_script_redis_lost_is_loaded_again(client: aioredis.Redis) -> None:
    batcher = _batcher(client)
    assert sorted(await asyncio.gather(*(batcher.run(["{c}:n"], [1]) for _ in range(3)))) == [1, 2, 3]
    await client.script_flush()  # a restart or failover: every node forgot the script
    assert sorted(await asyncio.gather(*(batcher.run(["{c}:n"], [1]) for _ in range(3)))) == [4, 5, 6]


async def test_redis_down_fails_every_call_of_the_batch() -> None:
    gone = redis_client.connect(f"redis://127.0.0.1:{free_port()}/0", cluster=False, socket_connect_timeout=1)
    try:
        batcher = _batcher(gone)
        outcomes = await asyncio.gather(*(batcher.run(["{c}:n"], [1]) for _ in range(4)), return_exceptions=True)
        assert all(isinstance(o, redis.exceptions.ConnectionError) for o in outcomes), outcomes
        assert batcher.batches == 1
    finally:
        await gone.aclose()


async def test_a_cancelled_caller_leaves_the_others_their_results(client: aioredis.Redis) -> None:
    batcher = _batcher(client)
    tasks = [asyncio.create_task(batcher.run(["{c}:n"], [1])) for _ in range(4)]
    await asyncio.sleep(0)  # every task has queued its call
    tasks[1].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[1], asyncio.CancelledError)
    others = sorted(int(o) for i, o in enumerate(outcomes) if i != 1)  # type: ignore[arg-type]
    assert others in ([1, 2, 3], [1, 2, 4], [1, 3, 4], [2, 3, 4])


async def test_put_events_in_flight_together_fail_only_their_own_entries(
    api: Api, redis_client: aioredis.Redis, redis_kind: str
) -> None:
    """Requests for a broken bus (its ingest stream key holds a string: WRONGTYPE) and for the default bus, sent at
    once: the broken bus's entries are InternalFailure, every other request's entries are stored."""
    keys = Keys()
    assert (await api.ok("CreateEventBus", {"Name": "broken"}))["EventBusArn"]
    await redis_client.delete(keys.ingest("broken"))
    await redis_client.set(keys.ingest("broken"), "not a stream")
    entry = {"Source": "coalesce.test", "DetailType": "t", "Detail": "{}"}

    async def put(bus: str) -> dict[str, Any]:
        response = await api.raw("PutEvents", orjson.dumps({"Entries": [{**entry, "EventBusName": bus}] * 3}))
        assert response.status_code == 200
        parsed: dict[str, Any] = orjson.loads(response.content)
        return parsed

    buses = ["default", "broken", "default", "default", "broken", "default"]
    answers = await asyncio.gather(*(put(bus) for bus in buses))
    for bus, answer in zip(buses, answers, strict=True):
        if bus == "broken":
            assert answer["FailedEntryCount"] == 3
            assert {e["ErrorCode"] for e in answer["Entries"]} == {"InternalFailure"}
        else:
            assert answer["FailedEntryCount"] == 0
    assert await redis_client.xlen(keys.ingest("default")) == 12
    batcher = api.app.state.switchboard.extras["put_events.append_script"]
    if redis_kind == "single":
        assert batcher.batches < len(buses)  # some requests shared a round trip
