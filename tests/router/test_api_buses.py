"""Event bus operations in process: CreateEventBus, DescribeEventBus, ListEventBuses, DeleteEventBus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.control_plane import ARN, control_api, control_keys, hash_json

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def test_default_bus_exists_at_start(api: Api) -> None:
    described = await api.ok("DescribeEventBus", {})
    assert described["Name"] == "default"
    assert described["Arn"] == f"{ARN}:event-bus/default"
    assert isinstance(described["CreationTime"], float)
    assert await api.ok("DescribeEventBus", {"Name": "default"}) == described


async def test_create_describe_and_list(api: Api) -> None:
    created = await api.ok(
        "CreateEventBus",
        {"Name": "orders", "Description": "order events", "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:1:dlq"}},
    )
    assert created == {
        "EventBusArn": f"{ARN}:event-bus/orders",
        "Description": "order events",
        "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:1:dlq"},
    }
    described = await api.ok("DescribeEventBus", {"Name": "orders"})
    assert described["Name"] == "orders"
    assert described["Description"] == "order events"
    assert described["DeadLetterConfig"] == {"Arn": "arn:aws:sqs:us-east-1:1:dlq"}
    assert described["LastModifiedTime"] == described["CreationTime"]
    by_arn = await api.ok("DescribeEventBus", {"Name": f"{ARN}:event-bus/orders"})
    assert by_arn == described
    listed = await api.ok("ListEventBuses", {})
    assert [bus["Name"] for bus in listed["EventBuses"]] == ["default", "orders"]
    assert "NextToken" not in listed
    assert set(listed["EventBuses"][1]) == {"Name", "Arn", "Description", "CreationTime", "LastModifiedTime"}


async def test_create_leaves_registry_entry_and_marker(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "orders", "Tags": [{"Key": "team", "Value": "a"}]})
    assert await control_keys(redis_client) == [
        b"sb:{b:31}:bus:default:exists",
        b"sb:{b:46}:bus:orders:exists",
        b"sb:{meta}:buses",
    ]
    record = (await hash_json(redis_client, "sb:{meta}:buses"))["orders"]
    assert record["Name"] == "orders"
    assert record["Tags"] == [{"Key": "team", "Value": "a"}]


async def test_duplicate_bus(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "orders"})
    assert await api.error("CreateEventBus", {"Name": "orders"}) == (
        400,
        "ResourceAlreadyExistsException",
        "Event bus orders already exists.",
    )
    assert await api.error("CreateEventBus", {"Name": "default"}) == (
        400,
        "ResourceAlreadyExistsException",
        "Event bus default already exists.",
    )


async def test_custom_bus_name_may_not_contain_slash(api: Api) -> None:
    status, code, _ = await api.error("CreateEventBus", {"Name": "a/b"})
    assert (status, code) == (400, "ValidationException")


async def test_partner_bus_needs_an_event_source(api: Api) -> None:
    assert await api.error(
        "CreateEventBus", {"Name": "aws.partner/x.com/1", "EventSourceName": "aws.partner/x.com/1"}
    ) == (
        400,
        "ResourceNotFoundException",
        "Event source aws.partner/x.com/1 does not exist.",
    )


async def test_invalid_bus_name_is_a_validation_error(api: Api) -> None:
    assert await api.error("CreateEventBus", {"Name": "bad name"}) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'bad name' at 'name' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [/\.\-_A-Za-z0-9]+",
    )


async def test_unknown_bus(api: Api) -> None:
    assert await api.error("DescribeEventBus", {"Name": "nope"}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )


async def test_foreign_bus_arn_is_not_ours(api: Api) -> None:
    arn = "arn:aws:events:eu-west-1:999999999999:event-bus/default"
    assert await api.error("DescribeEventBus", {"Name": arn}) == (
        400,
        "ResourceNotFoundException",
        "Event bus default does not exist.",
    )


async def test_list_with_prefix_and_pages(api: Api) -> None:
    for name in ["b-1", "b-2", "b-3", "other"]:
        await api.ok("CreateEventBus", {"Name": name})
    first = await api.ok("ListEventBuses", {"NamePrefix": "b-", "Limit": 2})
    assert [bus["Name"] for bus in first["EventBuses"]] == ["b-1", "b-2"]
    second = await api.ok("ListEventBuses", {"NamePrefix": "b-", "Limit": 2, "NextToken": first["NextToken"]})
    assert [bus["Name"] for bus in second["EventBuses"]] == ["b-3"]
    assert "NextToken" not in second
    exact = await api.ok("ListEventBuses", {"NamePrefix": "b-", "Limit": 3})
    assert "NextToken" not in exact


async def test_delete_bus(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "orders"})
    response = await api.call("DeleteEventBus", {"Name": "orders"})
    assert response.status_code == 200
    assert response.content == b""
    await api.error("DescribeEventBus", {"Name": "orders"})
    assert not await redis_client.exists("sb:{b:46}:bus:orders:exists")
    assert await redis_client.hkeys("sb:{meta}:buses") == [b"default"]


async def test_delete_missing_bus_succeeds(api: Api) -> None:
    await api.ok("DeleteEventBus", {"Name": "never-was"})


async def test_default_bus_cannot_be_deleted(api: Api) -> None:
    assert await api.error("DeleteEventBus", {"Name": "default"}) == (
        400,
        "ValidationException",
        "Cannot delete event bus default.",
    )


async def test_bus_with_rules_cannot_be_deleted(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "orders"})
    await api.ok("PutRule", {"Name": "r", "EventBusName": "orders", "EventPattern": '{"source": ["a"]}'})
    assert await api.error("DeleteEventBus", {"Name": "orders"}) == (
        400,
        "ValidationException",
        "EventBus can't be deleted since it has rules.",
    )
    await api.ok("DeleteRule", {"Name": "r", "EventBusName": "orders"})
    await api.ok("DeleteEventBus", {"Name": "orders"})


async def test_recreated_bus_starts_empty(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "orders"})
    await api.ok("DeleteEventBus", {"Name": "orders"})
    await api.ok("CreateEventBus", {"Name": "orders"})
    assert (await api.ok("ListRules", {"EventBusName": "orders"}))["Rules"] == []


async def test_invalid_next_token(api: Api) -> None:
    assert await api.error("ListEventBuses", {"NextToken": "%%%"}) == (
        400,
        "ValidationException",
        "Parameter NextToken is not valid.",
    )
