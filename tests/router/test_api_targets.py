"""Target operations in process: PutTargets (atomic, five per rule), RemoveTargets, ListTargetsByRule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.control_plane import PATTERN, control_api, control_keys, hash_json, target

pytestmark = pytest.mark.integration

LIMIT_ERROR = (400, "LimitExceededException", "The requested resource exceeds the maximum number allowed.")


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        await client.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
        yield client


async def test_bus_rule_and_targets_leave_exactly_these_keys(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "shop"})
    await api.ok("PutRule", {"Name": "orders", "EventBusName": "shop", "EventPattern": PATTERN})
    response = await api.ok(
        "PutTargets", {"Rule": "orders", "EventBusName": "shop", "Targets": [target("q1"), target("q2")]}
    )
    assert response == {"FailedEntryCount": 0, "FailedEntries": []}
    assert await control_keys(redis_client) == [
        b"sb:{b:31}:bus:default:exists",
        b"sb:{b:31}:bus:default:rule-changes",
        b"sb:{b:31}:bus:default:rules",
        b"sb:{b:31}:bus:default:version",
        b"sb:{b:34}:bus:shop:exists",
        b"sb:{b:34}:bus:shop:rule-changes",
        b"sb:{b:34}:bus:shop:rules",
        b"sb:{b:34}:bus:shop:targets:orders",
        b"sb:{b:34}:bus:shop:version",
        b"sb:{meta}:buses",
    ]
    assert await redis_client.get("sb:{b:34}:bus:shop:version") == b"2"
    targets = await hash_json(redis_client, "sb:{b:34}:bus:shop:targets:orders")
    assert targets == {"q1": target("q1"), "q2": target("q2")}
    assert list(await hash_json(redis_client, "sb:{b:34}:bus:shop:rules")) == ["orders"]


async def test_list_targets_returns_the_full_target(api: Api) -> None:
    full = target(
        "t1",
        InputTransformer={"InputPathsMap": {"total": "$.detail.total"}, "InputTemplate": '{"t": <total>}'},
        RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
    )
    await api.ok("PutTargets", {"Rule": "r", "Targets": [full]})
    assert await api.ok("ListTargetsByRule", {"Rule": "r"}) == {"Targets": [full]}


async def test_same_id_updates_in_place(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t1"), target("t2")]})
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t1", Input='{"v": 2}')]})
    targets = await hash_json(redis_client, "sb:{b:31}:bus:default:targets:r")
    assert targets == {"t1": target("t1", Input='{"v": 2}'), "t2": target("t2")}


async def test_sixth_target_fails_and_stores_nothing(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target(f"t{i}") for i in range(1, 5)]})
    before_version = await redis_client.get("sb:{b:31}:bus:default:version")
    # t4 is an update, t5 would be the fifth and t6 the sixth: the whole call fails, even the update and t5
    call = {"Rule": "r", "Targets": [target("t4", Input="{}"), target("t5"), target("t6")]}
    assert await api.error("PutTargets", call) == LIMIT_ERROR
    assert await hash_json(redis_client, "sb:{b:31}:bus:default:targets:r") == {
        f"t{i}": target(f"t{i}") for i in range(1, 5)
    }
    assert await redis_client.get("sb:{b:31}:bus:default:version") == before_version
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t5"), target("t1", Input="{}")]})
    assert len(await hash_json(redis_client, "sb:{b:31}:bus:default:targets:r")) == 5
    assert await api.error("PutTargets", {"Rule": "r", "Targets": [target("t6")]}) == LIMIT_ERROR


async def test_six_new_targets_in_one_call(api: Api, redis_client: aioredis.Redis) -> None:
    call = {"Rule": "r", "Targets": [target(f"t{i}") for i in range(6)]}
    assert await api.error("PutTargets", call) == LIMIT_ERROR
    assert not await redis_client.exists("sb:{b:31}:bus:default:targets:r")


async def test_repeated_id_in_one_call_counts_once_and_last_wins(api: Api, redis_client: aioredis.Redis) -> None:
    call = {"Rule": "r", "Targets": [target("t", Input='{"n": 1}'), target("t", Input='{"n": 2}')]}
    await api.ok("PutTargets", call)
    assert await hash_json(redis_client, "sb:{b:31}:bus:default:targets:r") == {"t": target("t", Input='{"n": 2}')}


async def test_unknown_rule_and_bus(api: Api) -> None:
    assert await api.error("PutTargets", {"Rule": "nope", "Targets": [target("t")]}) == (
        400,
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    assert await api.error("PutTargets", {"Rule": "r", "EventBusName": "nope", "Targets": [target("t")]}) == (
        400,
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    )
    assert await api.error("ListTargetsByRule", {"Rule": "nope"}) == (
        400,
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    assert await api.error("RemoveTargets", {"Rule": "nope", "Ids": ["t"]}) == (
        400,
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            target("t", Input="{}", InputPath="$.detail"),
            "Only one of Input, InputPath, or InputTransformer must be provided for target t.",
        ),
        (
            {"Id": "t", "Arn": "my-queue"},
            "Parameter my-queue is not valid. Reason: Provided Arn is not in correct format.",
        ),
        (
            target("t", InputTransformer={"InputTemplate": '{"a": <missing>}'}),
            "InputTemplate for target t contains invalid placeholder missing.",
        ),
    ],
)
async def test_invalid_target_fails_the_whole_call(
    api: Api, redis_client: aioredis.Redis, bad: dict[str, object], message: str
) -> None:
    assert await api.error("PutTargets", {"Rule": "r", "Targets": [target("good"), bad]}) == (
        400,
        "ValidationException",
        message,
    )
    assert not await redis_client.exists("sb:{b:31}:bus:default:targets:r")


async def test_more_than_ten_targets_per_request(api: Api) -> None:
    status, code, message = await api.error(
        "PutTargets", {"Rule": "r", "Targets": [target(f"t{i}") for i in range(11)]}
    )
    assert (status, code) == (400, "ValidationException")
    assert message.endswith(
        "at 'targets' failed to satisfy constraint: Member must have length less than or equal to 10"
    )


async def test_remove_targets(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t1"), target("t2")]})
    response = await api.ok("RemoveTargets", {"Rule": "r", "Ids": ["t1", "not-there"]})
    assert response == {"FailedEntryCount": 0, "FailedEntries": []}
    assert await hash_json(redis_client, "sb:{b:31}:bus:default:targets:r") == {"t2": target("t2")}
    assert await redis_client.get("sb:{b:31}:bus:default:version") == b"3"
    await api.ok("RemoveTargets", {"Rule": "r", "Ids": ["not-there"]})
    assert await redis_client.get("sb:{b:31}:bus:default:version") == b"3"


async def test_list_targets_pages(api: Api) -> None:
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target(f"t{i}") for i in range(5)]})
    first = await api.ok("ListTargetsByRule", {"Rule": "r", "Limit": 2})
    assert [t["Id"] for t in first["Targets"]] == ["t0", "t1"]
    second = await api.ok("ListTargetsByRule", {"Rule": "r", "Limit": 2, "NextToken": first["NextToken"]})
    third = await api.ok("ListTargetsByRule", {"Rule": "r", "Limit": 2, "NextToken": second["NextToken"]})
    assert [t["Id"] for t in second["Targets"] + third["Targets"]] == ["t2", "t3", "t4"]
    assert "NextToken" not in third


async def test_wrong_types_and_malformed_json_never_500(api: Api) -> None:
    assert await api.error("PutTargets", {"Rule": "r", "Targets": "t"}) == (
        400,
        "SerializationException",
        "Member Targets must be a list, not a string.",
    )
    response = await api.raw("PutTargets", b'{"Rule": "r", "Targets": [')
    assert response.status_code == 400
    assert response.json() == {"__type": "SerializationException", "message": "Request body is not valid JSON."}
    response = await api.raw("PutTargets", b"[]")
    assert response.json()["__type"] == "SerializationException"
