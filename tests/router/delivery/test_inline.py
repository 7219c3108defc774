"""Queue and event-bus targets are delivered inline by the ingest worker (router.delivery.sink); these tests pin
that both paths behave as one: counters and the latency histogram count each delivery once, a target whose append
fails falls back to a job (retries, DLQ) without holding up the others, and the bus hop bound still holds."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.delivery.conftest import (
    KEYS,
    counters,
    put,
    queue_arn,
    queue_length,
    read_queue,
    settled_counters,
    setup_rule,
    wait_for,
)

pytestmark = pytest.mark.integration

BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/{}"


async def _counter_at_least(redis: aioredis.Redis, field: str, n: int, bus: str = "default") -> bool:
    return (await counters(redis, bus)).get(field, 0) >= n


async def _length_is(redis: aioredis.Redis, queue: str, n: int) -> bool:
    return await queue_length(redis, queue) == n


async def test_an_inline_delivery_counts_once_and_observes_its_latency_once(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    await setup_rule(dapi, [{"Id": "q", "Arn": queue_arn("orders")}, {"Id": "p", "Arn": queue_arn("picks")}])
    await put(dapi, {"n": 1})
    await wait_for(lambda: _counter_at_least(redis_client, "Invocations:r1", 2), what="the counters")
    stats = await counters(redis_client)
    assert stats["Invocations:r1"] == 2
    assert stats["InvocationAttempts:r1"] == 2
    assert stats["SuccessfulInvocationAttempts:r1"] == 2
    assert "RetryInvocationAttempts:r1" not in stats
    assert "FailedInvocations:r1" not in stats
    assert await queue_length(redis_client, "orders") == 1
    assert await queue_length(redis_client, "picks") == 1
    assert await redis_client.xlen(KEYS.deliveries("default", "r1", "q")) == 0  # no job was made
    text = (await dapi.client.get("/metrics")).text
    line = 'switchboard_ingestion_to_invocation_start_latency_seconds_count{event_bus_name="default",rule_name="r1"}'
    assert f"{line} 2.0" in text


async def test_a_queue_whose_append_fails_falls_back_to_a_job_and_its_dlq_without_holding_up_others(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    await redis_client.set(KEYS.queue("broken"), "not a stream")  # every XADD to it fails with WRONGTYPE
    broken = {
        "Id": "broken",
        "Arn": queue_arn("broken"),
        "RetryPolicy": {"MaximumRetryAttempts": 0},
        "DeadLetterConfig": {"Arn": queue_arn("dlq")},
    }
    await setup_rule(dapi, [broken, {"Id": "ok", "Arn": queue_arn("ok")}])
    event_id = await put(dapi, {"n": 2})
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the DLQ message")
    (ok,) = await read_queue(redis_client, "ok")
    assert ok["delivery_id"].decode() == f"{event_id}:r1:ok"
    (dead,) = await read_queue(redis_client, "dlq")
    assert dead["delivery_id"].decode() == f"{event_id}:r1:broken"
    assert orjson.loads(dead["body"])["id"] == event_id
    attributes = orjson.loads(dead["attributes"])
    assert attributes["ERROR_CODE"] == "CONNECTION_ERROR"
    assert "WRONGTYPE" in attributes["ERROR_MESSAGE"]
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "0"
    await wait_for(lambda: _counter_at_least(redis_client, "InvocationsSentToDlq:r1", 1), what="the DLQ counter")
    stats = await counters(redis_client)
    assert stats["Invocations:r1"] == 2
    assert stats["InvocationAttempts:r1"] == 2  # one inline, one through the job
    assert stats["SuccessfulInvocationAttempts:r1"] == 1
    assert stats["FailedInvocations:r1"] == 1
    assert await redis_client.xlen(KEYS.deliveries("default", "r1", "broken")) == 0


async def test_a_failed_inline_append_is_retried_until_the_queue_takes_it(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    await redis_client.set(KEYS.queue("later"), "not a stream")
    await setup_rule(dapi, [{"Id": "t", "Arn": queue_arn("later")}])
    event_id = await put(dapi, {"n": 3})
    await wait_for(lambda: _counter_at_least(redis_client, "RetryInvocationAttempts:r1", 1), what="a retry")
    await redis_client.delete(KEYS.queue("later"))
    await wait_for(lambda: _length_is(redis_client, "later", 1), what="the retried delivery")
    (message,) = await read_queue(redis_client, "later")
    assert message["delivery_id"].decode() == f"{event_id}:r1:t"
    await wait_for(lambda: _counter_at_least(redis_client, "Invocations:r1", 1), what="the settle")
    stats = await counters(redis_client)
    assert stats["Invocations:r1"] == 1
    assert stats["SuccessfulInvocationAttempts:r1"] == 1
    assert stats["InvocationAttempts:r1"] == stats["RetryInvocationAttempts:r1"] + 1


async def test_input_shaping_applies_inline_and_a_path_that_selects_nothing_delivers_nothing(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    transformer = {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": '{"number": <n>}'}
    nothing: dict[str, Any] = {"Id": "nothing", "Arn": queue_arn("nothing"), "InputPath": "$.detail.missing"}
    await setup_rule(dapi, [{"Id": "t", "Arn": queue_arn("shaped"), "InputTransformer": transformer}, nothing])
    await put(dapi, {"n": 7})
    await wait_for(lambda: _length_is(redis_client, "shaped", 1), what="the shaped message")
    (message,) = await read_queue(redis_client, "shaped")
    assert orjson.loads(message["body"]) == {"number": 7}
    await wait_for(lambda: _counter_at_least(redis_client, "Invocations:r1", 2), what="both outcomes")
    assert await queue_length(redis_client, "nothing") == 0  # AWS: no delivery; counted as one, as on the job path
    assert (await counters(redis_client))["SuccessfulInvocationAttempts:r1"] == 2


async def test_a_bus_loop_stops_after_five_hops_with_loop_detected(dapi: Api, redis_client: aioredis.Redis) -> None:
    await setup_rule(dapi, [{"Id": "to-b", "Arn": BUS_ARN.format("b"), "DeadLetterConfig": {"Arn": queue_arn("dlq")}}])
    back = {"Id": "to-default", "Arn": BUS_ARN.format("default"), "DeadLetterConfig": {"Arn": queue_arn("dlq")}}
    await setup_rule(dapi, [back, {"Id": "seen", "Arn": queue_arn("seen-on-b")}], bus="b", rule="r2")
    event_id = await put(dapi, {"n": 8})
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the loop to be cut")
    (dead,) = await read_queue(redis_client, "dlq")
    assert dead["delivery_id"].decode() == f"{event_id}:r2:to-default"
    attributes = orjson.loads(dead["attributes"])
    assert attributes["ERROR_CODE"] == "LOOP_DETECTED"
    assert attributes["ERROR_MESSAGE"] == "The event already passed through 5 event bus targets."
    # default -> b three times (hops 0, 2, 4), b -> default twice (hops 1, 3), then b -> default is cut (hops 5)
    # Each bus commits its own counters with its own ack: wait for both (default's last hop settles on its own time).
    b_stats = await settled_counters(redis_client, {"InvocationsSentToDlq:r2": 1, "Invocations:r2": 6}, "b")
    assert (await settled_counters(redis_client, {"Invocations:r1": 3}))["Invocations:r1"] == 3
    assert await queue_length(redis_client, "seen-on-b") == 3
    assert b_stats["Invocations:r2"] == 3 + 3  # two deliveries and one loop cut to `default`, three to the queue
    assert b_stats["FailedInvocations:r2"] == 1


async def test_a_missing_target_bus_is_no_resource_in_the_dlq(dapi: Api, redis_client: aioredis.Redis) -> None:
    target = {"Id": "gone", "Arn": BUS_ARN.format("nowhere"), "DeadLetterConfig": {"Arn": queue_arn("dlq")}}
    await setup_rule(dapi, [target])
    await put(dapi, {"n": 9})
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the DLQ message")
    attributes = orjson.loads((await read_queue(redis_client, "dlq"))[0]["attributes"])
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


async def test_a_batch_to_one_queue_keeps_event_order_with_fresh_message_ids_and_each_targets_group(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    # Two targets on one queue, one with a MessageGroupId: two script calls to one stream in one flush.
    await setup_rule(
        dapi,
        [
            {"Id": "a", "Arn": queue_arn("orders")},
            {"Id": "g", "Arn": queue_arn("orders"), "SqsParameters": {"MessageGroupId": "grp-1"}},
        ],
    )
    entries = [{"Source": "shop", "DetailType": "Test", "Detail": orjson.dumps({"n": n}).decode()} for n in range(10)]
    result = await dapi.ok("PutEvents", {"Entries": entries})
    event_ids = [e["EventId"] for e in result["Entries"]]
    await wait_for(lambda: _length_is(redis_client, "orders", 20), what="the 20 messages")
    messages = await read_queue(redis_client, "orders")
    plain = [m for m in messages if "group_id" not in m]
    grouped = [m for m in messages if "group_id" in m]
    for target_id, got in (("a", plain), ("g", grouped)):
        assert [orjson.loads(m["body"])["detail"]["n"] for m in got] == list(range(10))
        assert [m["delivery_id"].decode() for m in got] == [f"{e}:r1:{target_id}" for e in event_ids]
    assert {m["group_id"] for m in grouped} == {b"grp-1"}
    assert {frozenset(m) for m in plain} == {frozenset({"message_id", "delivery_id", "body", "sent_ms"})}
    message_ids = [m["message_id"].decode() for m in messages]
    assert len(set(message_ids)) == 20
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in message_ids)
    assert len({m["sent_ms"] for m in messages}) == 1  # one flush
    stats = await settled_counters(redis_client, {"Invocations:r1": 20})  # the messages come before the ack
    assert stats["Invocations:r1"] == stats["SuccessfulInvocationAttempts:r1"] == 20
