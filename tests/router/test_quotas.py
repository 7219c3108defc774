"""Quotas (router.quotas): AWS's defaults, read from the environment, and each one refused with AWS's text.

Each quota is exercised through the API with a small value set in the settings, so the tests stay fast: the
resource at the limit is accepted, the next is LimitExceededException "The requested resource exceeds the maximum
number allowed." and nothing of it is stored; replacing an existing resource at the limit is allowed; 0 means no
limit. Concurrent creates never overshoot, because the count is checked in the script that writes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import redis.asyncio as aioredis

from router.quotas import LIMIT_EXCEEDED_MESSAGE, QUOTA_VARIABLES, Quotas
from router.settings import Settings, SettingsError
from tests.router.conftest import ServerThread, boto3_client, make_settings
from tests.router.control_plane import ARN, control_api, control_keys, target

PATTERN = '{"source": ["a"]}'
LIMIT = (400, "LimitExceededException", LIMIT_EXCEEDED_MESSAGE)


def quotas(**values: int) -> Quotas:
    return dataclasses.replace(Quotas(), **values)


# --- settings (unit) -----------------------------------------------------------------------------------------


def test_defaults_are_awss() -> None:
    assert Settings().quotas == Quotas(
        event_buses=100,
        rules_per_bus=300,
        targets_per_rule=5,
        tags_per_resource=50,
        connections=3000,
        api_destinations=3000,
        archives=0,
        active_replays=10,
        endpoints=100,
        policy_size_chars=10_240,
    )


def test_every_quota_is_read_from_the_environment() -> None:
    env = {variable: str(index + 1) for index, variable in enumerate(QUOTA_VARIABLES.values())}
    read = Settings.from_env(env).quotas
    assert [getattr(read, name) for name in QUOTA_VARIABLES] == list(range(1, len(QUOTA_VARIABLES) + 1))
    assert QUOTA_VARIABLES["rules_per_bus"] == "SWITCHBOARD_QUOTA_RULES_PER_BUS"


def test_a_quota_that_is_not_a_count_is_named_in_the_error() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"SWITCHBOARD_QUOTA_EVENT_BUSES": "many", "SWITCHBOARD_QUOTA_TARGETS_PER_RULE": "-1"})
    assert info.value.problems == (
        "SWITCHBOARD_QUOTA_EVENT_BUSES=many: not an integer; use an integer from 0 to 1000000000, or unset it for 100",
        "SWITCHBOARD_QUOTA_TARGETS_PER_RULE=-1: not an integer; use an integer from 0 to 1000000000, or unset it for 5",
    )


# --- through the API -----------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_event_buses_quota_counts_the_default_bus(redis_url: str, redis_client: aioredis.Redis) -> None:
    async with control_api(redis_url, quotas=quotas(event_buses=3)) as api:
        await api.ok("CreateEventBus", {"Name": "a"})
        await api.ok("CreateEventBus", {"Name": "b"})
        assert await api.error("CreateEventBus", {"Name": "c"}) == LIMIT
        # A bus that exists is still reported as existing, not as over the quota.
        assert (await api.error("CreateEventBus", {"Name": "a"}))[1] == "ResourceAlreadyExistsException"
        assert b"sb:{bus:c}:exists" not in await control_keys(redis_client)
        await api.ok("DeleteEventBus", {"Name": "b"})
        await api.ok("CreateEventBus", {"Name": "c"})


@pytest.mark.integration
async def test_concurrent_bus_creates_never_pass_the_quota(redis_url: str, redis_client: aioredis.Redis) -> None:
    async with control_api(redis_url, quotas=quotas(event_buses=5)) as api:
        responses = await asyncio.gather(*(api.call("CreateEventBus", {"Name": f"bus-{i}"}) for i in range(12)))
        assert sorted(r.status_code for r in responses) == [200] * 4 + [400] * 8
        assert len(await redis_client.hkeys("sb:{meta}:buses")) == 5
        markers = [key for key in await control_keys(redis_client) if key.endswith(b":exists")]
        assert len(markers) == 5  # a refused bus leaves no marker behind


@pytest.mark.integration
async def test_rules_per_bus_quota(redis_url: str) -> None:
    async with control_api(redis_url, quotas=quotas(rules_per_bus=2)) as api:
        await api.ok("PutRule", {"Name": "r1", "EventPattern": PATTERN})
        await api.ok("PutRule", {"Name": "r2", "EventPattern": PATTERN})
        assert await api.error("PutRule", {"Name": "r3", "EventPattern": PATTERN}) == LIMIT
        await api.ok("PutRule", {"Name": "r2", "EventPattern": PATTERN, "Description": "replaced at the limit"})
        await api.ok("CreateEventBus", {"Name": "other"})
        await api.ok("PutRule", {"Name": "r3", "EventPattern": PATTERN, "EventBusName": "other"})  # per bus
        names = [rule["Name"] for rule in (await api.ok("ListRules", {}))["Rules"]]
        assert names == ["r1", "r2"]
        await api.ok("DeleteRule", {"Name": "r1"})
        await api.ok("PutRule", {"Name": "r3", "EventPattern": PATTERN})


@pytest.mark.integration
async def test_targets_per_rule_quota(redis_url: str) -> None:
    async with control_api(redis_url, quotas=quotas(targets_per_rule=2)) as api:
        await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
        await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t1"), target("t2")]})
        assert await api.error("PutTargets", {"Rule": "r", "Targets": [target("t3")]}) == LIMIT
        await api.ok("PutTargets", {"Rule": "r", "Targets": [target("t2", Input='{"replaced": true}')]})
        ids = [t["Id"] for t in (await api.ok("ListTargetsByRule", {"Rule": "r"}))["Targets"]]
        assert ids == ["t1", "t2"]


@pytest.mark.integration
async def test_tags_per_resource_quota(redis_url: str) -> None:
    three = [{"Key": f"k{i}", "Value": "v"} for i in range(3)]
    async with control_api(redis_url, quotas=quotas(tags_per_resource=2)) as api:
        assert await api.error("CreateEventBus", {"Name": "orders", "Tags": three}) == LIMIT
        assert (await api.error("DescribeEventBus", {"Name": "orders"}))[1] == "ResourceNotFoundException"
        assert await api.error("PutRule", {"Name": "r", "EventPattern": PATTERN, "Tags": three}) == LIMIT
        await api.ok("CreateEventBus", {"Name": "orders", "Tags": three[:2]})
        bus_arn = f"{ARN}:event-bus/orders"
        await api.ok("TagResource", {"ResourceARN": bus_arn, "Tags": [{"Key": "k0", "Value": "new"}]})  # replaces
        assert await api.error("TagResource", {"ResourceARN": bus_arn, "Tags": [three[2]]}) == LIMIT
        tags = (await api.ok("ListTagsForResource", {"ResourceARN": bus_arn}))["Tags"]
        assert tags == [{"Key": "k0", "Value": "new"}, {"Key": "k1", "Value": "v"}]
        await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
        rule_arn = f"{ARN}:rule/r"
        assert await api.error("TagResource", {"ResourceARN": rule_arn, "Tags": three}) == LIMIT
        assert (await api.ok("ListTagsForResource", {"ResourceARN": rule_arn}))["Tags"] == []


def _connection(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "AuthorizationType": "API_KEY",
        "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
    }


@pytest.mark.integration
async def test_connections_and_api_destinations_quotas(redis_url: str, tmp_path: Any) -> None:
    async with control_api(redis_url, data_dir=tmp_path, quotas=quotas(connections=1, api_destinations=1)) as api:
        created = await api.ok("CreateConnection", _connection("c1"))
        assert await api.error("CreateConnection", _connection("c2")) == LIMIT
        destination = {
            "ConnectionArn": created["ConnectionArn"],
            "InvocationEndpoint": "https://example.com/hook",
            "HttpMethod": "POST",
        }
        await api.ok("CreateApiDestination", {"Name": "d1", **destination})
        assert await api.error("CreateApiDestination", {"Name": "d2", **destination}) == LIMIT


@pytest.mark.integration
async def test_zero_means_no_limit(redis_url: str) -> None:
    async with control_api(redis_url, quotas=quotas(event_buses=0, targets_per_rule=0)) as api:
        for i in range(3):
            await api.ok("CreateEventBus", {"Name": f"b{i}"})
        await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
        await api.ok("PutTargets", {"Rule": "r", "Targets": [target(f"t{i}") for i in range(7)]})
        assert len((await api.ok("ListTargetsByRule", {"Rule": "r"}))["Targets"]) == 7


@pytest.mark.integration
def test_boto3_sees_limit_exceeded(redis_url: str) -> None:
    from router.app import create_app

    server = ServerThread(create_app(make_settings(redis_url, quotas=quotas(event_buses=1)), ingest=False))
    server.start()
    try:
        client = boto3_client(server.url)
        with pytest.raises(client.exceptions.LimitExceededException) as info:
            client.create_event_bus(Name="one-too-many")
        assert info.value.response["Error"]["Message"] == LIMIT_EXCEEDED_MESSAGE
    finally:
        server.stop()
