"""EventBridge Scheduler per (account, region) namespace (router.namespace), with real boto3 clients against a real
uvicorn and real Redis (single and cluster): the same group and schedule names in two regions and two accounts are
separate, each schedule fires into its own namespace's bus with its namespace's account and region, and the keys
carry the namespace."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import orjson
import pytest

from router.keys import Keys
from router.namespace import Namespace
from tests.conftest import sync_client
from tests.router.conftest import boto3_client
from tests.router.schedules.test_scheduler_api import T0, World, ms, world  # noqa: F401 - the fixture, reused
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

KEYS = Keys()
HOME = "123456789012"
OTHER = "111122223333"
NAMESPACES = ((HOME, "us-east-1"), (HOME, "us-west-1"), (OTHER, "us-east-1"))


def _queue(redis_url: str, name: str) -> list[dict[str, Any]]:
    client = sync_client(redis_url)
    try:
        entries: Any = client.xrange(KEYS.queue(name))
    finally:
        client.close()
    return [orjson.loads(fields[b"body"]) for _, fields in entries]


def test_groups_and_schedules_are_per_namespace_and_fire_into_their_own_bus(world: World, redis_url: str) -> None:  # noqa: F811
    server = world.server
    clients = {}
    for account, region in NAMESPACES:
        key_id = "testing" if account == HOME else account
        scheduler = boto3_client(server.url, "scheduler", region=region, access_key=key_id)
        events = boto3_client(server.url, region=region, access_key=key_id)
        clients[account, region] = (scheduler, events)
        queue = f"sched-{account}-{region}"
        events.put_rule(Name="ticks", EventPattern='{"source": ["my.app"]}')
        events.put_targets(Rule="ticks", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{region}:{account}:{queue}"}])
        group = scheduler.create_schedule_group(Name="ops")
        assert group["ScheduleGroupArn"] == f"arn:aws:scheduler:{region}:{account}:schedule-group/ops"
        created = scheduler.create_schedule(
            Name="tick",
            GroupName="ops",
            ScheduleExpression="at(2030-01-01T12:01:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "RoleArn": f"arn:aws:iam::{account}:role/scheduler",
                "Arn": f"arn:aws:events:{region}:{account}:event-bus/default",
                "Input": '{"n": 1}',
                "EventBridgeParameters": {"Source": "my.app", "DetailType": "Tick"},
            },
        )
        assert created["ScheduleArn"] == f"arn:aws:scheduler:{region}:{account}:schedule/ops/tick"
    for (account, region), (scheduler, _) in clients.items():
        groups = scheduler.list_schedule_groups()["ScheduleGroups"]
        assert [g["Arn"] for g in groups] == [
            f"arn:aws:scheduler:{region}:{account}:schedule-group/default",
            f"arn:aws:scheduler:{region}:{account}:schedule-group/ops",
        ]
        listed = scheduler.list_schedules()["Schedules"]
        assert [s["Arn"] for s in listed] == [f"arn:aws:scheduler:{region}:{account}:schedule/ops/tick"]

    client = sync_client(redis_url)
    try:
        client.set(KEYS.test_clock, ms(T0 + timedelta(minutes=1)))
        assert {f.decode() for f in client.hkeys(KEYS.schedule_groups)} == {
            "default",
            "ops",
            f"{HOME}@us-west-1@default",
            f"{HOME}@us-west-1@ops",
            f"{OTHER}@us-east-1@default",
            f"{OTHER}@us-east-1@ops",
        }
        assert client.hexists(KEYS.schedules(f"{OTHER}@us-east-1@ops"), "tick")
    finally:
        client.close()
    for account, region in NAMESPACES:
        queue = KEYS.scoped(f"sched-{account}-{region}", Namespace(account, region))  # that namespace's queue
        [event] = eventually_sync(partial(_queue, redis_url, queue), what=f"the tick in {account} {region}")
        assert (event["account"], event["region"], event["resources"], event["detail"]) == (
            account,
            region,
            [f"arn:aws:scheduler:{region}:{account}:schedule/ops/tick"],
            {"n": 1},
        )
    # deleting one namespace's group leaves the others'
    clients[HOME, "us-west-1"][0].delete_schedule_group(Name="ops")
    assert [g["Name"] for g in clients[HOME, "us-west-1"][0].list_schedule_groups()["ScheduleGroups"]] == ["default"]
    assert clients[OTHER, "us-east-1"][0].get_schedule(Name="tick", GroupName="ops")["Name"] == "tick"
