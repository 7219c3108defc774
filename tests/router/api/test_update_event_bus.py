"""UpdateEventBus: the members given change, the others stay; AWS's output shape; errors; the record left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.control_plane import ARN, control_api, hash_json

pytestmark = pytest.mark.integration

DLQ = "arn:aws:sqs:us-east-1:123456789012:bus-dlq"


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def test_update_changes_the_given_members_and_keeps_the_others(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "orders", "Description": "first", "KmsKeyIdentifier": "alias/a"})
    before = await api.ok("DescribeEventBus", {"Name": "orders"})
    updated = await api.ok(
        "UpdateEventBus",
        {"Name": "orders", "DeadLetterConfig": {"Arn": DLQ}, "LogConfig": {"IncludeDetail": "FULL", "Level": "INFO"}},
    )
    assert updated == {
        "Arn": f"{ARN}:event-bus/orders",
        "Name": "orders",
        "Description": "first",
        "KmsKeyIdentifier": "alias/a",
        "DeadLetterConfig": {"Arn": DLQ},
        "LogConfig": {"IncludeDetail": "FULL", "Level": "INFO"},
    }
    after = await api.ok("DescribeEventBus", {"Name": "orders"})
    assert after["DeadLetterConfig"] == {"Arn": DLQ}
    assert after["Description"] == "first"
    assert after["CreationTime"] == before["CreationTime"]
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]

    changed = await api.ok("UpdateEventBus", {"Name": "orders", "Description": "second", "KmsKeyIdentifier": ""})
    assert changed["Description"] == "second"
    assert "KmsKeyIdentifier" not in changed  # an empty value removes the member
    removed = await api.ok("UpdateEventBus", {"Name": "orders", "DeadLetterConfig": {}})
    assert "DeadLetterConfig" not in removed
    assert "DeadLetterConfig" not in await api.ok("DescribeEventBus", {"Name": "orders"})


async def test_update_without_name_is_the_default_bus(api: Api) -> None:
    assert (await api.ok("UpdateEventBus", {"Description": "the default"}))["Name"] == "default"
    assert (await api.ok("DescribeEventBus", {}))["Description"] == "the default"
    # The model's Name is a bus name (EventBusName), not a name or ARN: an ARN fails validation, as on AWS.
    status, code, _ = await api.error("UpdateEventBus", {"Name": f"{ARN}:event-bus/default"})
    assert (status, code) == (400, "ValidationException")


async def test_update_keeps_tags_and_leaves_one_record(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "orders", "Tags": [{"Key": "team", "Value": "a"}]})
    await api.ok("UpdateEventBus", {"Name": "orders", "Description": "d"})
    record = (await hash_json(redis_client, "sb:{meta}:buses"))["orders"]
    assert record["Tags"] == [{"Key": "team", "Value": "a"}]
    assert record["Description"] == "d"
    assert (await api.ok("ListTagsForResource", {"ResourceARN": f"{ARN}:event-bus/orders"}))["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]


async def test_update_unknown_bus(api: Api) -> None:
    assert await api.error("UpdateEventBus", {"Name": "nope", "Description": "x"}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )


@pytest.mark.parametrize(
    ("arn", "reason"),
    [
        ("arn:aws:sns:us-east-1:123456789012:topic", "arn:aws:sns:us-east-1:123456789012:topic is not a valid"),
        ("not-an-arn", "not-an-arn is not a valid Amazon SQS queue ARN."),
        ("arn:aws:sqs:us-east-1:123456789012:dlq.fifo", "A FIFO queue cannot be used as a dead-letter queue"),
    ],
)
@pytest.mark.parametrize("operation", ["CreateEventBus", "UpdateEventBus"])
async def test_dead_letter_config_must_be_a_standard_queue(api: Api, operation: str, arn: str, reason: str) -> None:
    if operation == "UpdateEventBus":
        await api.ok("CreateEventBus", {"Name": "orders"})
    status, code, message = await api.error(operation, {"Name": "orders", "DeadLetterConfig": {"Arn": arn}})
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(f"Parameter DeadLetterConfig.Arn is not valid. Reason: {reason}")
    if operation == "UpdateEventBus":
        assert "DeadLetterConfig" not in await api.ok("DescribeEventBus", {"Name": "orders"})


async def test_update_validates_log_config_against_the_model(api: Api) -> None:
    status, code, message = await api.error("UpdateEventBus", {"LogConfig": {"Level": "LOUD"}})
    assert (status, code) == (400, "ValidationException")
    assert "Member must satisfy enum value set: [OFF, ERROR, INFO, TRACE]" in message


def test_boto3_update_event_bus(events_client: Any) -> None:
    events_client.create_event_bus(Name="orders", Description="first")
    response = events_client.update_event_bus(
        Name="orders", Description="second", DeadLetterConfig={"Arn": DLQ}, LogConfig={"Level": "ERROR"}
    )
    assert response["Name"] == "orders"
    assert response["Description"] == "second"
    assert response["DeadLetterConfig"] == {"Arn": DLQ}
    described = events_client.describe_event_bus(Name="orders")
    assert described["LogConfig"] == {"Level": "ERROR"}
    assert described["LastModifiedTime"] >= described["CreationTime"]
    with pytest.raises(events_client.exceptions.ResourceNotFoundException):
        events_client.update_event_bus(Name="missing", Description="x")
