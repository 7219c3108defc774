"""Input transformers end to end, with the examples of AWS's user guide ("Amazon EventBridge input
transformation"): the EC2 state-change event, delivered through a rule into a queue."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.transform import MAX_INPUT_BYTES
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


async def test_an_amplifying_transformer_fails_for_good_into_the_dlq_and_other_targets_still_get_the_event(
    dapi: Api, redis_client: aioredis.Redis
) -> None:
    # The reproduction: 2,047 copies of a 260 KB Detail would be a 537 MB message.
    template = "[" + ",".join(["<d>"] * 2047) + "]"
    targets: list[dict[str, Any]] = [
        {
            "Id": "amp",
            "Arn": queue_arn("amplified"),
            "InputTransformer": {"InputPathsMap": {"d": "$.detail"}, "InputTemplate": template},
            "DeadLetterConfig": {"Arn": queue_arn("dlq")},
        },
        {"Id": "plain", "Arn": queue_arn("plain")},
    ]
    await setup_rule(dapi, targets, rule="big", source="big")
    detail = orjson.dumps({"blob": "x" * 260_000}).decode()
    result = await dapi.ok("PutEvents", {"Entries": [{"Source": "big", "DetailType": "x", "Detail": detail}]})
    assert result["FailedEntryCount"] == 0

    async def settled() -> bool:
        return await queue_length(redis_client, "dlq") == 1 and await queue_length(redis_client, "plain") == 1

    await wait_for(settled, what="the DLQ message and the plain delivery")
    (message,) = await read_queue(redis_client, "dlq")
    assert orjson.loads(message["body"])["id"] == result["Entries"][0]["EventId"]
    attributes = orjson.loads(message["attributes"])
    assert attributes["ERROR_CODE"] == "INPUT_ERROR"
    assert attributes["ERROR_MESSAGE"] == (
        f"The input for target amp is larger than {MAX_INPUT_BYTES} bytes, the most a target receives; "
        "it was not delivered."
    )
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert await queue_length(redis_client, "amplified") == 0


async def test_a_detail_999_levels_deep_is_shaped_and_delivered(dapi: Api, redis_client: aioredis.Redis) -> None:
    # 999, not PutEvents' 1000: the matcher refuses an envelope deeper than 1000 (the Detail plus the envelope's own
    # level), a limit of patterns/. Shaping itself takes 1000 (tests/router/test_transform.py); orjson alone stops
    # at 254.
    deep = '{"a":' * 998 + '{"leaf":"v"}' + "}" * 998
    targets: list[dict[str, Any]] = [
        {"Id": "path", "Arn": queue_arn("path"), "InputPath": "$.detail"},
        {
            "Id": "shaped",
            "Arn": queue_arn("shaped"),
            "InputTransformer": {"InputPathsMap": {"d": "$.detail.a"}, "InputTemplate": '{"inner": <d>}'},
        },
    ]
    await setup_rule(dapi, targets, rule="deep", source="deep")
    result = await dapi.ok("PutEvents", {"Entries": [{"Source": "deep", "DetailType": "x", "Detail": deep}]})
    assert result["FailedEntryCount"] == 0

    async def arrived() -> bool:
        return await queue_length(redis_client, "path") == 1 and await queue_length(redis_client, "shaped") == 1

    await wait_for(arrived, what="both shaped deliveries")
    assert (await read_queue(redis_client, "path"))[0]["body"] == deep.encode()
    inner = '{"a":' * 997 + '{"leaf":"v"}' + "}" * 997
    assert (await read_queue(redis_client, "shaped"))[0]["body"] == f'{{"inner":{inner}}}'.encode()
