"""Retries and dead-letter queues end to end, against a real HTTP receiver: 5xx retried with backoff, 4xx straight
to the DLQ with AWS's attributes, MaximumEventAgeInSeconds and MaximumRetryAttempts exhausted into the DLQ, and
the delivery metrics they leave."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis

from router.delivery.http import DELIVERY_ID_HEADER
from tests.router.conftest import Api
from tests.router.delivery.conftest import (
    KEYS,
    Clock,
    counters,
    function_arn,
    put,
    queue_arn,
    queue_length,
    read_queue,
    settled_counters,
    setup_rule,
    wait_for,
)
from tests.router.delivery.receiver import Receiver

pytestmark = pytest.mark.integration

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/r1"


async def _function(redis: aioredis.Redis, receiver: Receiver, name: str = "fn") -> str:
    await redis.hset(KEYS.functions, name, f"{receiver.url}/{name}")
    return function_arn(name)


async def test_500_twice_then_200_is_delivered_once_on_the_third_attempt(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver, clock: Clock
) -> None:
    receiver.script("/fn", [500, 503])
    arn = await _function(redis_client, receiver)
    await setup_rule(dapi, [{"Id": "t", "Arn": arn, "DeadLetterConfig": {"Arn": queue_arn("dlq")}}])
    event_id = await put(dapi, {"n": 1})

    async def settled() -> bool:
        return (await counters(redis_client)).get("Invocations:r1", 0) == 1

    await wait_for(settled, what="the delivery to settle")
    calls = receiver.at("/fn")
    assert len(calls) == 3
    assert {c.headers[DELIVERY_ID_HEADER] for c in calls} == {f"{event_id}:r1:t"}
    assert calls[1].at - calls[0].at >= 0.025  # backoff (base 0.05 s, jitter down to half)
    assert await _work_left(redis_client) == (0, 0, 0)  # no job, retry or unsettled attempt left to make
    # A marker through the same path: one failed attempt, a retry moved back once due (the clock is moved past
    # any retry of the first event), then delivered. Nothing of the first event comes along.
    receiver.script("/fn", [500])
    clock.offset_s = 10
    marker = await put(dapi, {"n": "marker"})
    await wait_for(lambda: _counter_is(redis_client, "Invocations:r1", 2), what="the marker to settle")
    ids = [c.headers[DELIVERY_ID_HEADER] for c in receiver.at("/fn")]
    assert ids == [f"{event_id}:r1:t"] * 3 + [f"{marker}:r1:t"] * 2  # delivered once: no further attempt
    assert await _work_left(redis_client) == (0, 0, 0)
    assert await queue_length(redis_client, "dlq") == 0
    stats = await counters(redis_client)
    assert stats["Invocations:r1"] == 2
    assert stats["InvocationAttempts:r1"] == 3 + 2
    assert stats["RetryInvocationAttempts:r1"] == 2 + 1
    assert stats["SuccessfulInvocationAttempts:r1"] == 2
    assert "FailedInvocations:r1" not in stats
    assert await redis_client.zcard(KEYS.delivery_retries("default")) == 0


async def test_a_400_goes_straight_to_the_dlq_with_the_attributes(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    receiver.script("/fn", [400])
    arn = await _function(redis_client, receiver)
    await setup_rule(dapi, [{"Id": "t", "Arn": arn, "DeadLetterConfig": {"Arn": queue_arn("dlq")}}])
    event_id = await put(dapi, {"n": 2})
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the DLQ message")
    (message,) = await read_queue(redis_client, "dlq")
    assert orjson.loads(message["body"])["id"] == event_id  # the event itself
    assert message["delivery_id"].decode() == f"{event_id}:r1:t"
    assert orjson.loads(message["attributes"]) == {
        "RULE_ARN": RULE_ARN,
        "TARGET_ARN": arn,
        "ERROR_CODE": "CLIENT_ERROR",
        "ERROR_MESSAGE": "HTTP 400: Bad Request",
        "RETRY_ATTEMPTS": "0",
    }
    assert len(receiver.at("/fn")) == 1
    await wait_for(lambda: _counter_is(redis_client, "InvocationsSentToDlq:r1", 1), what="the DLQ counter")
    stats = await counters(redis_client)
    assert stats["FailedInvocations:r1"] == 1
    assert stats["Invocations:r1"] == 1


async def test_maximum_retry_attempts_exhausted_goes_to_the_dlq(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    receiver.script("/fn", [502] * 10, headers={"Retry-After": "0"})
    arn = await _function(redis_client, receiver)
    target = {
        "Id": "t",
        "Arn": arn,
        "RetryPolicy": {"MaximumRetryAttempts": 2},
        "DeadLetterConfig": {"Arn": queue_arn("dlq")},
    }
    await setup_rule(dapi, [target])
    await put(dapi, {"n": 3})
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the DLQ message")
    attributes = orjson.loads((await read_queue(redis_client, "dlq"))[0]["attributes"])
    assert attributes["ERROR_CODE"] == "SERVER_ERROR"
    assert attributes["ERROR_MESSAGE"] == "HTTP 502: Bad Gateway"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert len(receiver.at("/fn")) == 3


async def test_maximum_event_age_expires_a_delivery_into_the_dlq(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver, clock: Clock
) -> None:
    receiver.script("/fn", [500] * 1000)
    arn = await _function(redis_client, receiver)
    target = {
        "Id": "t",
        "Arn": arn,
        "RetryPolicy": {"MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": queue_arn("dlq")},
    }
    await setup_rule(dapi, [target])
    await put(dapi, {"n": 4})

    async def failed_twice() -> bool:
        return len(receiver.at("/fn")) >= 2

    await wait_for(failed_twice, what="two failed attempts")
    clock.offset_s = 61  # the event is now older than MaximumEventAgeInSeconds
    await wait_for(lambda: _length_is(redis_client, "dlq", 1), what="the DLQ message")
    attributes = orjson.loads((await read_queue(redis_client, "dlq"))[0]["attributes"])
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert attributes["ERROR_CODE"] == "SERVER_ERROR"
    attempts = len(receiver.at("/fn"))
    assert attributes["RETRY_ATTEMPTS"] == str(attempts - 1)
    await settled_counters(redis_client, {"InvocationsSentToDlq:r1": 1})  # the DLQ message comes before the settle
    assert await _work_left(redis_client) == (0, 0, 0)  # no job, retry or unsettled attempt left to make
    # A marker through the same lane: already older than MaximumEventAgeInSeconds by the moved clock, it goes to the
    # DLQ without an attempt. Nothing of the first event is attempted meanwhile.
    marker = await put(dapi, {"n": "marker"})
    await wait_for(lambda: _length_is(redis_client, "dlq", 2), what="the marker in the DLQ")
    assert orjson.loads((await read_queue(redis_client, "dlq"))[1]["body"])["id"] == marker
    assert len(receiver.at("/fn")) == attempts  # no attempt after giving up
    assert (await settled_counters(redis_client, {"InvocationsSentToDlq:r1": 2}))["InvocationsSentToDlq:r1"] == 2
    assert await _work_left(redis_client) == (0, 0, 0)


async def test_without_a_dlq_a_failed_delivery_is_dropped_and_counted(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    receiver.script("/fn", [404])
    arn = await _function(redis_client, receiver)
    await setup_rule(dapi, [{"Id": "t", "Arn": arn}])
    await put(dapi, {"n": 5})
    await wait_for(lambda: _counter_is(redis_client, "FailedInvocations:r1", 1), what="the failure counter")
    stats = await counters(redis_client)
    assert "InvocationsSentToDlq:r1" not in stats
    assert await redis_client.xlen(KEYS.deliveries("default", "r1", "t")) == 0


async def test_a_slow_target_does_not_delay_a_fast_one(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    receiver.script("/slow", [200] * 20, delay_s=2.0)
    slow = await _function(redis_client, receiver, "slow")
    fast = await _function(redis_client, receiver, "fast")
    await setup_rule(dapi, [{"Id": "slow", "Arn": slow}, {"Id": "fast", "Arn": fast}])
    for n in range(5):
        await put(dapi, {"n": n})

    async def fast_done() -> bool:
        return len(receiver.at("/fast")) == 5

    await wait_for(fast_done, timeout_s=5, what="the fast target")
    fast_last = max(r.at for r in receiver.at("/fast"))
    await wait_for(lambda: _counter_is(redis_client, "Invocations:r1", 10), timeout_s=10, what="all deliveries")
    slow_first_answer = min(r.answered_at or 0.0 for r in receiver.at("/slow"))
    assert fast_last < slow_first_answer  # every fast delivery arrived while the slow ones were still in flight
    assert max(r.at for r in receiver.at("/slow")) < slow_first_answer  # and the slow ones ran concurrently


async def _work_left(redis: aioredis.Redis) -> tuple[int, int, int]:
    """(jobs in the target's stream, retries scheduled on the bus, jobs read but not settled) for rule r1's target t:
    all zero means nothing is left that could make another attempt."""
    stream = KEYS.deliveries("default", "r1", "t")
    pending = 0
    if await redis.exists(stream):
        for group in await redis.xinfo_groups(stream):
            pending += int(group["pending"])
    return int(await redis.xlen(stream)), int(await redis.zcard(KEYS.delivery_retries("default"))), pending


async def _length_is(redis: aioredis.Redis, queue: str, n: int) -> bool:
    return await queue_length(redis, queue) == n


async def _counter_is(redis: aioredis.Redis, field: str, n: int) -> bool:
    return (await counters(redis)).get(field, 0) == n
