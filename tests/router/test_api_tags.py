"""Tag operations in process: TagResource, UntagResource, ListTagsForResource on bus and rule ARNs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from tests.router.conftest import Api
from tests.router.control_plane import ARN, PATTERN, control_api, hash_json

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def test_tag_a_bus(api: Api, redis_client: aioredis.Redis) -> None:
    bus_arn = (await api.ok("CreateEventBus", {"Name": "shop", "Tags": [{"Key": "a", "Value": "1"}]}))["EventBusArn"]
    assert (
        await api.ok(
            "TagResource", {"ResourceARN": bus_arn, "Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}]}
        )
        == {}
    )
    assert await api.ok("ListTagsForResource", {"ResourceARN": bus_arn}) == {
        "Tags": [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    }
    assert await api.ok("UntagResource", {"ResourceARN": bus_arn, "TagKeys": ["a", "zzz"]}) == {}
    assert (await hash_json(redis_client, "sb:{meta}:buses"))["shop"]["Tags"] == [{"Key": "b", "Value": "2"}]


async def test_tag_a_rule_on_default_and_custom_bus(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "shop"})
    for bus in ["default", "shop"]:
        arn = (await api.ok("PutRule", {"Name": "r", "EventBusName": bus, "EventPattern": PATTERN}))["RuleArn"]
        await api.ok("TagResource", {"ResourceARN": arn, "Tags": [{"Key": "team", "Value": bus}]})
        assert await api.ok("ListTagsForResource", {"ResourceARN": arn}) == {"Tags": [{"Key": "team", "Value": bus}]}
        rules = await hash_json(redis_client, Keys().rules(bus))
        assert rules["r"]["Tags"] == [{"Key": "team", "Value": bus}]
    assert await redis_client.get("sb:{b:34}:bus:shop:version") == b"2"


async def test_default_bus_can_be_tagged(api: Api) -> None:
    arn = f"{ARN}:event-bus/default"
    await api.ok("TagResource", {"ResourceARN": arn, "Tags": [{"Key": "k", "Value": "v"}]})
    assert await api.ok("ListTagsForResource", {"ResourceARN": arn}) == {"Tags": [{"Key": "k", "Value": "v"}]}


async def test_missing_resources(api: Api) -> None:
    assert await api.error("ListTagsForResource", {"ResourceARN": f"{ARN}:rule/nope"}) == (
        400,
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    assert await api.error("TagResource", {"ResourceARN": f"{ARN}:rule/shop/r", "Tags": []}) == (
        400,
        "ResourceNotFoundException",
        "Event bus shop does not exist.",
    )
    assert await api.error("UntagResource", {"ResourceARN": f"{ARN}:event-bus/nope", "TagKeys": ["a"]}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )


async def test_not_our_arn(api: Api) -> None:
    assert await api.error("ListTagsForResource", {"ResourceARN": "arn:aws:sqs:us-east-1:123456789012:q"}) == (
        400,
        "ValidationException",
        "Parameter arn:aws:sqs:us-east-1:123456789012:q is not valid. Reason: Provided Arn is not in correct format.",
    )


async def test_duplicate_tag_keys(api: Api) -> None:
    tags = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
    assert await api.error("TagResource", {"ResourceARN": f"{ARN}:event-bus/default", "Tags": tags}) == (
        400,
        "ValidationException",
        "Invalid parameter: Duplicated keys are not allowed.",
    )
