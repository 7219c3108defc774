"""EventBridge Scheduler with the real boto3 `scheduler` client on uvicorn and redis-server: CRUD of schedules and
groups, tags, every error path's code and status, and schedules that fire: at() with ActionAfterCompletion DELETE,
time zones across DST, FlexibleTimeWindow bounds, event-bus and API-destination targets, and a retry then DLQ
on a failing target.

Time is the shared Redis test clock; the server polls for due timers every 50 ms, so a test moves the clock and
waits for the effect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from botocore.exceptions import ClientError

from router.app import create_app
from router.keys import Keys
from router.settings import Settings
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client
from tests.router.delivery.receiver import Receiver
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

KEYS = Keys()
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
OFF = {"Mode": "OFF"}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


class World:
    def __init__(self, server: ServerThread, redis_url: str) -> None:
        self.server = server
        self.redis = sync_client(redis_url)
        self.client: Any = boto3_client(server.url, "scheduler")
        self.events: Any = boto3_client(server.url)

    def clock(self, moment: datetime) -> None:
        self.redis.set(KEYS.test_clock, ms(moment))

    def queue(self, name: str) -> list[dict[str, Any]]:
        entries: Any = self.redis.xrange(KEYS.queue(name))
        return [{k.decode(): v for k, v in fields.items()} for _, fields in entries]

    def wait_queue(self, name: str, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        eventually_sync(lambda: len(self.queue(name)) >= count, timeout_s, what=f"{count} messages in {name}")
        return self.queue(name)

    def due(self, name: str, group: str = "default") -> int | None:
        score = self.redis.zscore(KEYS.timers(f"schedule-group:{group}"), name)
        return None if score is None else int(score)

    def error(self, call: Any, **kwargs: Any) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        response = caught.value.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    client = sync_client(redis_url)
    client.set(KEYS.test_clock, ms(T0))
    client.close()
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, timer_clock="redis", timer_poll_interval_s=0.05, timer_lease_s=2.0
    )
    server = ServerThread(create_app(settings))
    server.start()
    try:
        yield World(server, redis_url)
    finally:
        server.stop()


def create(world: World, name: str, expression: str, target: dict[str, Any], **extra: Any) -> str:
    arn: str = world.client.create_schedule(
        Name=name, ScheduleExpression=expression, FlexibleTimeWindow=extra.pop("FlexibleTimeWindow", OFF),
        Target={"RoleArn": ROLE, **target}, **extra,
    )["ScheduleArn"]  # fmt: skip
    return arn


# -- CRUD -----------------------------------------------------------------------------------------------------


def test_schedule_crud_echoes_aws_defaults(world: World) -> None:
    arn = create(world, "daily", "cron(0 9 * * ? *)", {"Arn": queue_arn("q"), "Input": '{"k": "v"}'})
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/daily"
    got = world.client.get_schedule(Name="daily")
    got.pop("ResponseMetadata")
    assert got.pop("CreationDate") == got.pop("LastModificationDate") == T0
    assert got == {
        "ActionAfterCompletion": "NONE",
        "Arn": arn,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "GroupName": "default",
        "Name": "daily",
        "ScheduleExpression": "cron(0 9 * * ? *)",
        "ScheduleExpressionTimezone": "UTC",
        "State": "ENABLED",
        "Target": {
            "Arn": queue_arn("q"),
            "Input": '{"k": "v"}',
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            "RoleArn": ROLE,
        },
    }
    world.clock(T0 + timedelta(seconds=20))  # before the reconciliation timer (30 s) is due
    world.client.update_schedule(
        Name="daily", ScheduleExpression="rate(2 minute)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 60},
        Target={"RoleArn": ROLE, "Arn": queue_arn("other")}, State="DISABLED", ActionAfterCompletion="DELETE",
        Description="updated",
    )  # fmt: skip
    updated = world.client.get_schedule(Name="daily")
    assert updated["ScheduleExpression"] == "rate(2 minute)"
    assert updated["State"] == "DISABLED"
    assert updated["Description"] == "updated"
    assert "Input" not in updated["Target"]  # UpdateSchedule replaces everything
    assert updated["CreationDate"] == T0
    assert updated["LastModificationDate"] == T0 + timedelta(seconds=20)
    assert world.due("daily") is None  # disabled: no timer
    listed = world.client.list_schedules()["Schedules"]
    assert [(s["Name"], s["GroupName"], s["State"], s["Target"]) for s in listed] == [
        ("daily", "default", "DISABLED", {"Arn": queue_arn("other")})
    ]
    assert world.client.list_schedules(State="ENABLED")["Schedules"] == []
    world.client.delete_schedule(Name="daily")
    assert world.client.list_schedules()["Schedules"] == []


def test_groups_and_tags(world: World) -> None:
    groups = world.client.list_schedule_groups()["ScheduleGroups"]
    assert [(g["Name"], g["State"], g["Arn"]) for g in groups] == [
        ("default", "ACTIVE", f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/default")
    ]
    arn = world.client.create_schedule_group(Name="team", Tags=[{"Key": "a", "Value": "1"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/team"
    assert world.client.get_schedule_group(Name="team")["State"] == "ACTIVE"
    world.client.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    assert world.client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    world.client.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert world.client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    create(world, "in-team", "rate(5 minutes)", {"Arn": queue_arn("q")}, GroupName="team")
    create(world, "in-default", "rate(5 minutes)", {"Arn": queue_arn("q")})
    assert [s["Name"] for s in world.client.list_schedules(GroupName="team")["Schedules"]] == ["in-team"]
    assert [s["Name"] for s in world.client.list_schedules(NamePrefix="in-")["Schedules"]] == ["in-default", "in-team"]
    assert world.client.get_schedule(Name="in-team", GroupName="team")["GroupName"] == "team"
    assert world.due("in-team", "team") is not None
    world.client.delete_schedule_group(Name="team")
    assert [g["Name"] for g in world.client.list_schedule_groups()["ScheduleGroups"]] == ["default"]
    assert world.due("in-team", "team") is None
    assert [s["Name"] for s in world.client.list_schedules()["Schedules"]] == ["in-default"]


def test_pagination(world: World) -> None:
    for i in range(5):
        create(world, f"s{i}", "rate(1 day)", {"Arn": queue_arn("q")})
    pages = list(world.client.get_paginator("list_schedules").paginate(PaginationConfig={"PageSize": 2}))
    assert [[s["Name"] for s in page["Schedules"]] for page in pages] == [["s0", "s1"], ["s2", "s3"], ["s4"]]


# -- errors ---------------------------------------------------------------------------------------------------


def test_error_paths(world: World) -> None:
    c = world.client
    target = {"RoleArn": ROLE, "Arn": queue_arn("q")}
    base = {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF, "Target": target}
    assert world.error(c.get_schedule, Name="nope") == (
        404,
        "ResourceNotFoundException",
        "Schedule nope does not exist.",
    )
    assert world.error(c.delete_schedule, Name="nope") == (
        404,
        "ResourceNotFoundException",
        "Schedule nope does not exist.",
    )
    assert world.error(c.update_schedule, Name="nope", **base)[:2] == (404, "ResourceNotFoundException")
    assert world.error(c.create_schedule, Name="x", GroupName="ghost", **base) == (
        404, "ResourceNotFoundException", "Schedule group ghost does not exist.",
    )  # fmt: skip
    assert world.error(c.list_schedules, GroupName="ghost")[:2] == (404, "ResourceNotFoundException")
    c.create_schedule(Name="x", **base)
    assert world.error(c.create_schedule, Name="x", **base) == (409, "ConflictException", "Schedule x already exists.")
    for bad in ["rate(10 seconds)", "cron(0 1 * * * *)", "at(2021-12-31)", " rate(10 minutes)"]:
        assert world.error(c.create_schedule, Name="y", **{**base, "ScheduleExpression": bad}) == (
            400, "ValidationException", f"Invalid Schedule Expression {bad}.",
        )  # fmt: skip
    assert world.error(c.create_schedule, Name="y", ScheduleExpressionTimezone="Mars/Olympus", **base) == (
        400, "ValidationException", "Invalid time zone Mars/Olympus.",
    )  # fmt: skip
    flexible = {**base, "FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}
    assert world.error(c.create_schedule, Name="y", **flexible)[:2] == (400, "ValidationException")
    off_with_window = {**base, "FlexibleTimeWindow": {"Mode": "OFF", "MaximumWindowInMinutes": 5}}
    assert world.error(c.create_schedule, Name="y", **off_with_window)[:2] == (400, "ValidationException")
    assert world.error(c.create_schedule, Name="y", StartDate=T0 - timedelta(minutes=6), **base) == (
        400, "ValidationException", "The StartDate you specify cannot be earlier than 5 minutes ago.",
    )  # fmt: skip
    c.create_schedule(Name="recent-start", StartDate=T0 - timedelta(minutes=4), **base)
    assert world.error(c.create_schedule, Name="y", EndDate=T0 - timedelta(minutes=1), **base)[:2] == (
        400, "ValidationException",
    )  # fmt: skip
    assert world.error(
        c.create_schedule, Name="y", StartDate=T0 + timedelta(hours=2), EndDate=T0 + timedelta(hours=1), **base
    )[:2] == (400, "ValidationException")
    bus_target = {"RoleArn": ROLE, "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default", "Input": "not json"}
    assert world.error(c.create_schedule, Name="y", **{**base, "Target": bus_target})[:2] == (
        400,
        "ValidationException",
    )
    default_only = (400, "ValidationException", "This operation cannot be performed on schedule group default.")
    assert world.error(c.create_schedule_group, Name="default") == default_only
    assert world.error(c.delete_schedule_group, Name="default") == default_only
    default_arn = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/default"
    assert world.error(c.tag_resource, ResourceArn=default_arn, Tags=[{"Key": "k", "Value": "v"}]) == default_only
    c.create_schedule_group(Name="g")
    assert world.error(c.create_schedule_group, Name="g") == (
        409,
        "ConflictException",
        "Schedule group g already exists.",
    )
    assert world.error(c.get_schedule_group, Name="ghost") == (
        404,
        "ResourceNotFoundException",
        "Schedule group ghost does not exist.",
    )
    assert world.error(c.delete_schedule_group, Name="ghost")[:2] == (404, "ResourceNotFoundException")
    ghost_arn = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/ghost"
    assert world.error(c.list_tags_for_resource, ResourceArn=ghost_arn)[:2] == (404, "ResourceNotFoundException")
    assert world.error(c.list_schedules, NextToken="garbage!")[:2] == (400, "ValidationException")
    assert [s["Name"] for s in c.list_schedules()["Schedules"]] == ["recent-start", "x"]


def test_model_validation_and_unknown_paths_on_the_wire(world: World) -> None:
    url = world.server.url
    long_name = "n" * 65
    body = {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF, "Target": {"RoleArn": ROLE, "Arn": "a"}}
    response = httpx.post(f"{url}/schedules/{long_name}", json=body)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json()["Message"].startswith("1 validation error detected: Value '")
    missing = httpx.post(f"{url}/schedules/ok", json={"ScheduleExpression": "rate(1 hour)"})
    assert missing.status_code == 400
    assert "Member must not be null" in missing.json()["Message"]
    not_json = httpx.post(f"{url}/schedules/ok", content=b"{nope")
    assert (not_json.status_code, not_json.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert httpx.patch(f"{url}/schedules/ok").status_code == 404
    assert httpx.get(f"{url}/schedule-groups/a/b").status_code == 404


def test_a_tag_arn_in_the_path_may_be_literal_or_percent_encoded(world: World) -> None:
    """The SDKs percent-encode the ARN label (`%2F` for its `/`); a hand-written request may not."""
    arn = world.client.create_schedule_group(Name="literal")["ScheduleGroupArn"]
    signed = {  # the signing name routes the request to the scheduler service (its signature is not checked)
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20301201/us-east-1/scheduler/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }
    url = world.server.url
    tagged = httpx.post(f"{url}/tags/{arn}", json={"Tags": [{"Key": "k", "Value": "v"}]}, headers=signed)
    assert tagged.status_code == 200, tagged.text
    listed = httpx.get(f"{url}/tags/{arn}", headers=signed)
    assert (listed.status_code, listed.json()) == (200, {"Tags": [{"Key": "k", "Value": "v"}]})
    assert world.client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    untagged = httpx.delete(f"{url}/tags/{arn}", params={"TagKeys": "k"}, headers=signed)
    assert untagged.status_code == 200, untagged.text
    assert world.client.list_tags_for_resource(ResourceArn=arn)["Tags"] == []


# -- firing ---------------------------------------------------------------------------------------------------


def test_at_with_action_after_completion_delete(world: World) -> None:
    create(
        world, "once", "at(2030-01-01T12:03:00)", {"Arn": queue_arn("once"), "Input": '{"hello": "world"}'},
        ActionAfterCompletion="DELETE",
    )  # fmt: skip
    assert world.due("once") == ms(T0 + timedelta(minutes=3))
    world.clock(T0 + timedelta(minutes=2, seconds=59))
    world.clock(T0 + timedelta(minutes=3))
    [message] = world.wait_queue("once", 1)
    assert orjson.loads(message["body"]) == {"hello": "world"}
    eventually_sync(lambda: world.client.list_schedules()["Schedules"] == [], what="the schedule deleted")
    assert world.error(world.client.get_schedule, Name="once")[:2] == (404, "ResourceNotFoundException")
    assert world.due("once") is None


def test_at_without_delete_stays_and_does_not_fire_again(world: World) -> None:
    create(world, "once", "at(2030-01-01T12:01:00)", {"Arn": queue_arn("keep")})
    world.clock(T0 + timedelta(minutes=1))
    [message] = world.wait_queue("keep", 1)
    assert message["body"] == b"{}"  # no Input: our default notification
    eventually_sync(lambda: world.due("once") is None, what="the timer removed")
    assert world.client.get_schedule(Name="once")["State"] == "ENABLED"


def test_time_zone_across_a_spring_forward(world: World) -> None:
    world.clock(datetime(2024, 3, 9, 12, tzinfo=UTC))
    create(world, "ny", "cron(30 2 * * ? *)", {"Arn": queue_arn("ny")}, ScheduleExpressionTimezone="America/New_York")
    # 2024-03-10 02:30 does not exist in New York: the first tick is 2024-03-11 02:30 EDT = 06:30 UTC
    assert world.due("ny") == ms(datetime(2024, 3, 11, 6, 30, tzinfo=UTC))
    world.clock(datetime(2024, 3, 11, 6, 30, tzinfo=UTC))
    world.wait_queue("ny", 1)
    eventually_sync(lambda: world.due("ny") == ms(datetime(2024, 3, 12, 6, 30, tzinfo=UTC)), what="the next tick")


def test_time_zone_across_a_fall_back(world: World) -> None:
    world.clock(datetime(2024, 11, 3, 4, 0, tzinfo=UTC))  # 00:00 EDT
    create(world, "ny", "cron(30 1 * * ? *)", {"Arn": queue_arn("ny")}, ScheduleExpressionTimezone="America/New_York")
    first = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first of the two 01:30s
    assert world.due("ny") == ms(first)
    world.clock(first)
    world.wait_queue("ny", 1)
    # 01:30 EST (06:30 UTC) is the same wall-clock time: it does not fire again; the next is the 4th at 06:30 UTC
    eventually_sync(lambda: world.due("ny") == ms(datetime(2024, 11, 4, 6, 30, tzinfo=UTC)), what="the next tick")


def test_flexible_time_window_bounds(world: World) -> None:
    window_ms = 10 * 60_000
    names = [f"flex{i}" for i in range(20)]
    for name in names:
        create(
            world, name, "cron(0 13 * * ? *)", {"Arn": queue_arn("flex")},
            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
        )  # fmt: skip
    tick = ms(T0 + timedelta(hours=1))
    offsets = []
    for name in names:
        due = world.due(name)
        assert due is not None
        offsets.append(due - tick)
    assert all(0 <= offset < window_ms for offset in offsets), offsets
    assert len(set(offsets)) > 1  # a random delay, not a fixed one
    world.clock(T0 + timedelta(hours=1, minutes=10))
    world.wait_queue("flex", 20)
    tomorrow = tick + 86_400_000

    def rescheduled(name: str) -> bool:
        due = world.due(name)
        return due is not None and due >= tomorrow

    for name in names:
        eventually_sync(partial(rescheduled, name), what=f"{name} rescheduled")
        due = world.due(name)
        assert due is not None
        assert 0 <= due - tomorrow < window_ms


def test_rate_fires_immediately_then_every_period(world: World) -> None:
    create(world, "every", "rate(5 minutes)", {"Arn": queue_arn("every")})
    world.wait_queue("every", 1)  # no StartDate: the first invocation is immediate
    eventually_sync(lambda: world.due("every") == ms(T0 + timedelta(minutes=5)), what="the second tick")
    world.clock(T0 + timedelta(minutes=5))
    world.wait_queue("every", 2)
    eventually_sync(lambda: world.due("every") == ms(T0 + timedelta(minutes=10)), what="the third tick")


def test_event_bus_target(world: World) -> None:
    world.events.put_rule(Name="from-scheduler", EventPattern='{"source": ["my.app"]}')
    world.events.put_targets(Rule="from-scheduler", Targets=[{"Id": "q", "Arn": queue_arn("bus-out")}])
    arn = create(
        world, "to-bus", "at(2030-01-01T12:01:00)",
        {"Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default", "Input": '{"order": 7}',
         "EventBridgeParameters": {"Source": "my.app", "DetailType": "Tick"}},
    )  # fmt: skip
    world.clock(T0 + timedelta(minutes=1))
    [message] = world.wait_queue("bus-out", 1)
    event = orjson.loads(message["body"])
    assert {k: event[k] for k in ("source", "detail-type", "detail", "resources", "time", "account", "region")} == {
        "source": "my.app",
        "detail-type": "Tick",
        "detail": {"order": 7},
        "resources": [arn],
        "time": "2030-01-01T12:01:00Z",
        "account": ACCOUNT,
        "region": "us-east-1",
    }


def test_api_destination_target(world: World) -> None:
    receiver = Receiver()
    try:
        connection = world.events.create_connection(
            Name="hook",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret"}},
        )["ConnectionArn"]
        destination = world.events.create_api_destination(
            Name="hook",
            ConnectionArn=connection,
            InvocationEndpoint=f"{receiver.url}/hook",
            HttpMethod="POST",
        )["ApiDestinationArn"]
        create(world, "call", "at(2030-01-01T12:01:00)", {"Arn": destination, "Input": '{"order": 7}'})
        world.clock(T0 + timedelta(minutes=1))
        eventually_sync(lambda: len(receiver.at("/hook")) == 1, what="the API destination called")
        [request] = receiver.at("/hook")
        assert request.json() == {"order": 7}
        assert request.headers["x-api-key"] == "secret"
    finally:
        receiver.stop()


def test_a_failing_target_is_retried_then_dead_lettered(world: World) -> None:
    receiver = Receiver()
    try:
        receiver.script("/fn", [500, 500, 500])
        world.redis.hset(KEYS.functions, "failing", f"{receiver.url}/fn")
        arn = create(
            world, "flaky", "at(2030-01-01T12:01:00)",
            {"Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:failing", "Input": '{"try": 1}',
             "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60},
             "DeadLetterConfig": {"Arn": queue_arn("dlq")}},
        )  # fmt: skip
        world.clock(T0 + timedelta(minutes=1))
        [dead] = world.wait_queue("dlq", 1, timeout_s=20)
        assert len(receiver.at("/fn")) == 2  # the first attempt and one retry
        assert all(request.json() == {"try": 1} for request in receiver.at("/fn"))
        assert orjson.loads(dead["body"]) == {"try": 1}
        attributes = orjson.loads(dead["attributes"])
        assert attributes == {
            "ERROR_CODE": "SERVER_ERROR",
            "ERROR_MESSAGE": attributes["ERROR_MESSAGE"],
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "INVOCATION_ID": attributes["INVOCATION_ID"],
            "RETRY_ATTEMPTS": "1",
            "SCHEDULE_ARN": arn,
            "TARGET_ARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:failing",
            "X-Amz-Scheduler-Attempt": "2",
            "X-Amz-Scheduler-Group": "default",
            "X-Amz-Scheduler-Schedule": "flaky",
        }
        assert attributes["ERROR_MESSAGE"].startswith("HTTP 500")
    finally:
        receiver.stop()
