"""Rule operations in process: PutRule, DescribeRule, ListRules, Enable/DisableRule, DeleteRule,
ListRuleNamesByTarget and TestEventPattern, with the Redis state each leaves behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from tests.router.conftest import Api
from tests.router.control_plane import ARN, EVENT, PATTERN, control_api, control_keys, hash_json, target

pytestmark = pytest.mark.integration


EMPTY_ARRAY_ERROR = (
    'Event pattern is not valid. Reason: Empty arrays are not allowed\n at [Source: (String)"{"source": []}"; '
    "line: 1, column: 14]"
)


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def version(redis: aioredis.Redis, bus: str = "default") -> int:
    raw = await redis.get(Keys().version(bus))
    return int(raw) if raw is not None else 0


async def test_put_rule_creates_and_describes(api: Api, redis_client: aioredis.Redis) -> None:
    created = await api.ok("PutRule", {"Name": "orders", "EventPattern": PATTERN, "Description": "all orders"})
    assert created == {"RuleArn": f"{ARN}:rule/orders"}
    assert await api.ok("DescribeRule", {"Name": "orders"}) == {
        "Name": "orders",
        "Arn": f"{ARN}:rule/orders",
        "EventPattern": PATTERN,
        "State": "ENABLED",
        "Description": "all orders",
        "EventBusName": "default",
        "CreatedBy": "123456789012",
    }
    record = (await hash_json(redis_client, "sb:{b:31}:bus:default:rules"))["orders"]
    assert record["EventPattern"] == PATTERN
    assert record["State"] == "ENABLED"
    assert record["Tags"] == []
    assert await version(redis_client) == 1


async def test_rule_on_custom_bus_has_bus_in_arn(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "shop"})
    created = await api.ok("PutRule", {"Name": "r", "EventBusName": "shop", "EventPattern": PATTERN})
    assert created["RuleArn"] == f"{ARN}:rule/shop/r"
    by_arn = await api.ok("DescribeRule", {"Name": "r", "EventBusName": f"{ARN}:event-bus/shop"})
    assert by_arn["EventBusName"] == "shop"


async def test_put_rule_replaces_and_omitted_arguments_become_null(api: Api) -> None:
    tags = [{"Key": "team", "Value": "a"}]
    await api.ok(
        "PutRule", {"Name": "r", "EventPattern": PATTERN, "Description": "d", "State": "DISABLED", "Tags": tags}
    )
    await api.ok("PutRule", {"Name": "r", "EventPattern": '{"source": ["b"]}', "Tags": [{"Key": "x", "Value": "y"}]})
    described = await api.ok("DescribeRule", {"Name": "r"})
    assert described["EventPattern"] == '{"source": ["b"]}'
    assert described["State"] == "ENABLED"
    assert "Description" not in described
    # tags given on an update are ignored: TagResource changes them
    assert (await api.ok("ListTagsForResource", {"ResourceARN": f"{ARN}:rule/r"}))["Tags"] == tags


async def test_disabled_state_is_stored(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN, "State": "DISABLED"})
    assert (await hash_json(redis_client, "sb:{b:31}:bus:default:rules"))["r"]["State"] == "DISABLED"
    await api.ok("EnableRule", {"Name": "r"})
    assert (await api.ok("DescribeRule", {"Name": "r"}))["State"] == "ENABLED"
    response = await api.call("DisableRule", {"Name": "r"})
    assert (response.status_code, response.content) == (200, b"")
    assert (await hash_json(redis_client, "sb:{b:31}:bus:default:rules"))["r"]["State"] == "DISABLED"
    assert await version(redis_client) == 3


async def test_invalid_pattern_is_rejected_with_aws_text_and_old_rule_stays(
    api: Api, redis_client: aioredis.Redis
) -> None:
    await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
    before = await redis_client.hget("sb:{b:31}:bus:default:rules", "r")
    assert await api.error("PutRule", {"Name": "r", "EventPattern": '{"source": []}'}) == (
        400,
        "InvalidEventPatternException",
        EMPTY_ARRAY_ERROR,
    )
    assert await redis_client.hget("sb:{b:31}:bus:default:rules", "r") == before
    assert await version(redis_client) == 1


async def test_pattern_that_is_not_json(api: Api) -> None:
    status, code, message = await api.error("PutRule", {"Name": "r", "EventPattern": "{not json"})
    assert (status, code) == (400, "InvalidEventPatternException")
    assert message.startswith("Event pattern is not valid. Reason: ")


async def test_put_rule_needs_pattern_or_schedule(api: Api) -> None:
    assert await api.error("PutRule", {"Name": "r"}) == (
        400,
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.",
    )


async def test_schedules_are_checked_and_stored_on_the_default_bus_only(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "shop"})
    assert await api.error(
        "PutRule", {"Name": "r", "EventBusName": "shop", "ScheduleExpression": "rate(5 minutes)"}
    ) == (
        400,
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    )
    assert await api.error("PutRule", {"Name": "r", "ScheduleExpression": "every day"}) == (
        400,
        "ValidationException",
        "Parameter ScheduleExpression is not valid.",
    )
    assert not await redis_client.exists(Keys().rules("default"))
    assert not await redis_client.exists(Keys().rules("shop"))
    await api.ok("PutRule", {"Name": "r", "ScheduleExpression": "rate(5 minutes)"})
    described = await api.ok("DescribeRule", {"Name": "r"})
    assert (described["ScheduleExpression"], described["State"]) == ("rate(5 minutes)", "ENABLED")


async def test_unknown_bus_and_rule(api: Api) -> None:
    assert await api.error("PutRule", {"Name": "r", "EventBusName": "nope", "EventPattern": PATTERN}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )
    assert await api.error("DescribeRule", {"Name": "r"}) == (
        400,
        "ResourceNotFoundException",
        "Rule r does not exist on EventBus default.",
    )
    assert await api.error("EnableRule", {"Name": "r"}) == (
        400,
        "ResourceNotFoundException",
        "Rule r does not exist on EventBus default.",
    )
    assert await api.error("ListRules", {"EventBusName": "nope"}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )


async def test_list_rules_pages_with_prefix(api: Api) -> None:
    for name in ["a-1", "a-2", "a-3", "a-4", "b-1"]:
        await api.ok("PutRule", {"Name": name, "EventPattern": PATTERN})
    first = await api.ok("ListRules", {"NamePrefix": "a-", "Limit": 3})
    assert [rule["Name"] for rule in first["Rules"]] == ["a-1", "a-2", "a-3"]
    assert set(first["Rules"][0]) == {"Name", "Arn", "EventPattern", "State", "EventBusName"}
    second = await api.ok("ListRules", {"NamePrefix": "a-", "Limit": 3, "NextToken": first["NextToken"]})
    assert [rule["Name"] for rule in second["Rules"]] == ["a-4"]
    assert "NextToken" not in second
    everything = await api.ok("ListRules", {})
    assert len(everything["Rules"]) == 5
    assert "NextToken" not in everything


async def test_delete_rule_with_targets_is_refused(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t1")]})
    assert await api.error("DeleteRule", {"Name": "r"}) == (
        400,
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    )
    assert await api.error("DeleteRule", {"Name": "r", "Force": True}) == (
        400,
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    )
    await api.ok("RemoveTargets", {"Rule": "r", "Ids": ["t1"]})
    response = await api.call("DeleteRule", {"Name": "r"})
    assert (response.status_code, response.content) == (200, b"")
    assert await control_keys(redis_client) == [
        b"sb:{b:31}:bus:default:exists",
        b"sb:{b:31}:bus:default:version",
        b"sb:{meta}:buses",
    ]
    assert await version(redis_client) == 4  # put rule, put targets, remove targets, delete rule


async def test_delete_rule_is_idempotent(api: Api) -> None:
    await api.ok("DeleteRule", {"Name": "never-was"})
    await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
    await api.ok("DeleteRule", {"Name": "r"})
    await api.ok("DeleteRule", {"Name": "r"})
    assert await api.error("DeleteRule", {"Name": "r", "EventBusName": "nope"}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )


async def test_managed_rules_need_force(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutRule", {"Name": "Events-Archive-a", "EventPattern": PATTERN})
    await api.ok("PutTargets", {"Rule": "Events-Archive-a", "Targets": [target("archive")]})
    # another service (archives) owns the rule: mark it managed the way it would
    records = await hash_json(redis_client, "sb:{b:31}:bus:default:rules")
    managed = {**records["Events-Archive-a"], "ManagedBy": "prod.vhs.events.aws.internal"}
    await redis_client.hset("sb:{b:31}:bus:default:rules", "Events-Archive-a", orjson.dumps(managed))
    assert await api.error("DeleteRule", {"Name": "Events-Archive-a"}) == (
        400,
        "ManagedRuleException",
        "Events-Archive-a is a managed rule. Set 'force' parameter to true to override.",
    )
    status, code, _ = await api.error("PutRule", {"Name": "Events-Archive-a", "EventPattern": PATTERN})
    assert (status, code) == (400, "ManagedRuleException")
    assert (await api.ok("DescribeRule", {"Name": "Events-Archive-a"}))["ManagedBy"] == "prod.vhs.events.aws.internal"
    await api.ok("DeleteRule", {"Name": "Events-Archive-a", "Force": True})
    assert not await redis_client.exists("sb:{b:31}:bus:default:targets:Events-Archive-a")
    assert not await redis_client.hexists("sb:{b:31}:bus:default:rules", "Events-Archive-a")


async def test_list_rule_names_by_target(api: Api) -> None:
    shared = "arn:aws:sqs:us-east-1:123456789012:shared"
    for name in ["r1", "r2", "r3", "r4"]:
        await api.ok("PutRule", {"Name": name, "EventPattern": PATTERN})
    for name in ["r1", "r3", "r4"]:
        await api.ok("PutTargets", {"Rule": name, "Targets": [{"Id": "t", "Arn": shared}]})
    first = await api.ok("ListRuleNamesByTarget", {"TargetArn": shared, "Limit": 2})
    assert first["RuleNames"] == ["r1", "r3"]
    second = await api.ok("ListRuleNamesByTarget", {"TargetArn": shared, "Limit": 2, "NextToken": first["NextToken"]})
    assert second == {"RuleNames": ["r4"]}
    assert await api.ok("ListRuleNamesByTarget", {"TargetArn": "arn:aws:sqs:us-east-1:1:none"}) == {"RuleNames": []}


async def test_test_event_pattern(api: Api) -> None:
    event = orjson.dumps(EVENT).decode()
    assert await api.ok("TestEventPattern", {"EventPattern": PATTERN, "Event": event}) == {"Result": True}
    other = '{"source": ["payments"]}'
    assert await api.ok("TestEventPattern", {"EventPattern": other, "Event": event}) == {"Result": False}


async def test_test_event_pattern_without_resources_is_accepted(api: Api) -> None:
    event = {key: value for key, value in EVENT.items() if key != "resources"}
    result = await api.ok("TestEventPattern", {"EventPattern": PATTERN, "Event": orjson.dumps(event).decode()})
    assert result == {"Result": True}


@pytest.mark.parametrize("missing", ["id", "account", "source", "time", "region", "detail-type"])
async def test_test_event_pattern_needs_envelope_fields(api: Api, missing: str) -> None:
    event = {key: value for key, value in EVENT.items() if key != missing}
    body = {"EventPattern": PATTERN, "Event": orjson.dumps(event).decode()}
    assert await api.error("TestEventPattern", body) == (400, "ValidationException", "Parameter Event is not valid.")


async def test_test_event_pattern_bad_inputs(api: Api) -> None:
    body = {"EventPattern": PATTERN, "Event": "not json"}
    assert await api.error("TestEventPattern", body) == (400, "ValidationException", "Parameter Event is not valid.")
    body = {"EventPattern": PATTERN, "Event": "[1]"}
    assert await api.error("TestEventPattern", body) == (400, "ValidationException", "Parameter Event is not valid.")
    body = {"EventPattern": '{"source": []}', "Event": orjson.dumps(EVENT).decode()}
    assert await api.error("TestEventPattern", body) == (
        400,
        "InvalidEventPatternException",
        EMPTY_ARRAY_ERROR,
    )
