"""Input transformers end to end, with the examples of AWS's user guide ("Amazon EventBridge input
transformation"): the EC2 state-change event, delivered through a rule into a queue."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.delivery.conftest import queue_arn, queue_length, read_queue, setup_rule, wait_for

pytestmark = pytest.mark.integration

DETAIL = {"instance-id": "i-0123456789", "state": "RUNNING"}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}

CASES = [
    # (InputTemplate, what the queue receives), from the user guide's table of examples
    ('"instance <instance> is in <state>"', b'"instance i-0123456789 is in RUNNING"'),
    ('{"instance": <instance>, "state": <state>}', b'{"instance":"i-0123456789","state":"RUNNING"}'),
    ('{"instance" : "<instance>", "state": "<state>"}', b'{"instance":"i-0123456789","state":"RUNNING"}'),
    ("<instance> is in state <state>", b"i-0123456789 is in state RUNNING"),
    (
        '{"instance": <instance>, "rule": "<aws.events.rule-name>"}',
        b'{"instance":"i-0123456789","rule":"ec2"}',
    ),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
async def test_transformer_output_reaches_the_queue(
    dapi: Api, redis_client: aioredis.Redis, template: str, expected: bytes
) -> None:
    target = {
        "Id": "t",
        "Arn": queue_arn("shaped"),
        "InputTransformer": {"InputPathsMap": PATHS, "InputTemplate": template},
    }
    await setup_rule(dapi, [target], rule="ec2", source="aws.ec2")
    entry = {
        "Source": "aws.ec2",
        "DetailType": "EC2 Instance State-change Notification",
        "Detail": orjson.dumps(DETAIL).decode(),
    }
    assert (await dapi.ok("PutEvents", {"Entries": [entry]}))["FailedEntryCount"] == 0

    async def arrived() -> bool:
        return await queue_length(redis_client, "shaped") == 1

    await wait_for(arrived, what="the shaped message")
    assert (await read_queue(redis_client, "shaped"))[0]["body"] == expected


async def test_input_constant_and_whole_event_paths(dapi: Api, redis_client: aioredis.Redis) -> None:
    targets: list[dict[str, Any]] = [
        {"Id": "constant", "Arn": queue_arn("constant"), "Input": '{"alert": "payment failed"}'},
        {"Id": "path", "Arn": queue_arn("path"), "InputPath": "$.detail.state"},
        {
            "Id": "ingestion",
            "Arn": queue_arn("ingestion"),
            "InputTransformer": {
                "InputTemplate": '{"at": "<aws.events.event.ingestion-time>", "event": <aws.events.event>}'
            },
        },
    ]
    await setup_rule(dapi, targets, rule="ec2", source="aws.ec2")
    entry = {"Source": "aws.ec2", "DetailType": "x", "Detail": orjson.dumps(DETAIL).decode()}
    await dapi.ok("PutEvents", {"Entries": [entry]})

    async def arrived() -> bool:
        return all([await queue_length(redis_client, q) == 1 for q in ("constant", "path", "ingestion")])

    await wait_for(arrived, what="three messages")
    assert (await read_queue(redis_client, "constant"))[0]["body"] == b'{"alert": "payment failed"}'
    assert (await read_queue(redis_client, "path"))[0]["body"] == b'"RUNNING"'
    shaped = orjson.loads((await read_queue(redis_client, "ingestion"))[0]["body"])
    assert shaped["at"].endswith("Z")
    assert shaped["event"]["source"] == "aws.ec2"
    assert "detail" not in shaped["event"]
