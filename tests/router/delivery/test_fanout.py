"""Fan-out end to end: one rule's five targets of mixed kinds each receive the event, input shaping follows AWS's
documented transformer examples, and the keys delivery leaves behind."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis

from router.delivery.http import DELIVERY_ID_HEADER
from tests.router.conftest import Api
from tests.router.delivery.conftest import (
    KEYS,
    counters,
    function_arn,
    put,
    queue_arn,
    queue_length,
    read_queue,
    setup_rule,
    wait_for,
)
from tests.router.delivery.receiver import Receiver

pytestmark = pytest.mark.integration


async def test_a_queue_target_gets_the_event_with_its_delivery_id(dapi: Api, redis_client: aioredis.Redis) -> None:
    await setup_rule(dapi, [{"Id": "q", "Arn": queue_arn("orders")}])
    event_id = await put(dapi, {"order": 1})
    await wait_for(lambda: _has(redis_client, "orders", 1), what="the queue message")
    (message,) = await read_queue(redis_client, "orders")
    event = orjson.loads(message["body"])
    assert event["id"] == event_id
    assert event["detail"] == {"order": 1}
    assert message["delivery_id"].decode() == f"{event_id}:r1:q"
    assert set(message) == {"message_id", "delivery_id", "body", "sent_ms"}
    await wait_for(lambda: _settled(redis_client), what="the job to be settled")
    assert await redis_client.xlen(KEYS.deliveries("default", "r1", "q")) == 0
    assert await redis_client.smembers(KEYS.delivery_lanes("default")) == {b"sb:{b:31}:bus:default:deliveries:r1:q"}


async def _has(redis: aioredis.Redis, queue: str, n: int) -> bool:
    return await queue_length(redis, queue) >= n


async def _settled(redis: aioredis.Redis) -> bool:
    raw = await redis.hget(KEYS.bus_counters("default"), "Invocations:r1")
    return raw is not None and int(raw) >= 1


async def test_five_targets_of_mixed_kinds_all_receive_the_event(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    await redis_client.hset(KEYS.functions, "process", f"{receiver.url}/fn")
    connection = await dapi.ok(
        "CreateConnection",
        {
            "Name": "key",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key", "ApiKeyValue": "k3y"}},
        },
    )
    destination = await dapi.ok(
        "CreateApiDestination",
        {
            "Name": "hook",
            "ConnectionArn": connection["ConnectionArn"],
            "InvocationEndpoint": f"{receiver.url}/hook/*",
            "HttpMethod": "POST",
        },
    )
    await setup_rule(dapi, [{"Id": "audit", "Arn": queue_arn("audit")}], bus="audit-bus", rule="all")
    await setup_rule(
        dapi,
        [
            {"Id": "queue", "Arn": queue_arn("orders")},
            {"Id": "shaped", "Arn": queue_arn("shaped"), "InputPath": "$.detail"},
            {"Id": "bus", "Arn": "arn:aws:events:us-east-1:123456789012:event-bus/audit-bus"},
            {"Id": "fn", "Arn": function_arn("process")},
            {
                "Id": "api",
                "Arn": destination["ApiDestinationArn"],
                "HttpParameters": {
                    "PathParameterValues": ["orders"],
                    "HeaderParameters": {"X-Order": "$.detail.order"},
                    "QueryStringParameters": {"src": "switchboard"},
                },
            },
        ],
    )
    event_id = await put(dapi, {"order": 7})
    await wait_for(lambda: _has(redis_client, "orders", 1), what="queue")
    await wait_for(lambda: _has(redis_client, "shaped", 1), what="shaped queue")
    await wait_for(lambda: _has(redis_client, "audit", 1), what="queue behind the bus target")

    async def http_done() -> bool:
        return len(receiver.at("/fn")) == 1 and len(receiver.at("/hook/orders")) == 1

    await wait_for(http_done, what="the function and the API destination")

    async def all_settled() -> bool:
        here, there = await counters(redis_client), await counters(redis_client, "audit-bus")
        return here.get("Invocations:r1") == 5 and there.get("Invocations:all") == 1

    # Every delivery settled: nothing is left to arrive, so each target must hold exactly one copy.
    await wait_for(all_settled, what="all six deliveries settled")
    (ordered,) = await read_queue(redis_client, "orders")
    assert orjson.loads(ordered["body"])["id"] == event_id
    (shaped,) = await read_queue(redis_client, "shaped")
    assert orjson.loads(shaped["body"]) == {"order": 7}
    (forwarded,) = await read_queue(redis_client, "audit")
    assert orjson.loads(forwarded["body"])["id"] == event_id  # the same event, through the second bus
    assert forwarded["delivery_id"].decode() == f"{event_id}:all:audit"
    (fn,) = receiver.at("/fn")
    assert fn.json()["id"] == event_id
    assert fn.headers[DELIVERY_ID_HEADER] == f"{event_id}:r1:fn"
    (hook,) = receiver.at("/hook/orders")
    assert hook.method == "POST"
    assert hook.json()["detail"] == {"order": 7}
    assert hook.query == {"src": ["switchboard"]}
    assert hook.headers["X-Api-Key"] == "k3y"
    assert hook.headers["X-Order"] == "7"
    assert hook.headers["User-Agent"] == "Amazon/EventBridge/ApiDestinations"
    assert hook.headers["Content-Type"] == "application/json; charset=utf-8"
    assert hook.headers["Range"] == "bytes=0-1048575"
    assert hook.headers[DELIVERY_ID_HEADER] == f"{event_id}:r1:api"
