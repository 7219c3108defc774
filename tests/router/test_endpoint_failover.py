"""Global endpoints across two regions, with boto3 against a real uvicorn and Redis (single and cluster): PutEvents
with `EndpointId` (signed with SigV4a) goes to the primary region's bus, to the secondary's while the primary's
health check is unhealthy and back when it is healthy again; replication copies every event to the other region;
states follow the buses' existence in their own regions. The regions are the clients' signing regions
(router.namespace); what reached a bus is read from its ingest stream (no ingest worker runs) or, end to end, from
the queues its rules deliver to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.app import create_app
from router.keys import Keys
from router.namespace import Namespace
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client, make_settings
from tests.router.test_health_cli import run as health_check
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
EAST, WEST = "us-east-1", "us-west-2"
CHECK_ID = "0b9c1d2e-aaaa-4bbb-8ccc-123456789abc"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/replication"
KEYS = Keys()


def bus_arn(region: str, name: str = "orders") -> str:
    return f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{name}"


def endpoint_body(
    name: str = "orders", primary: str = EAST, secondary: str = WEST, replication: str = "DISABLED"
) -> dict[str, Any]:
    return {
        "Name": name,
        "RoutingConfig": {
            "FailoverConfig": {
                "Primary": {"HealthCheck": f"arn:aws:route53:::healthcheck/{CHECK_ID}"},
                "Secondary": {"Route": secondary},
            }
        },
        "ReplicationConfig": {"State": replication},
        "EventBuses": [{"EventBusArn": bus_arn(primary)}, {"EventBusArn": bus_arn(secondary)}],
        "RoleArn": ROLE,
    }


def entry(n: int, **extra: Any) -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"n": n}), "EventBusName": "orders"} | (
        extra
    )


def ingested(redis_url: str, region: str, bus: str = "orders") -> list[dict[str, Any]]:
    """The envelopes in the ingest stream of bus `bus` of region `region` (the test account), in order."""
    client = sync_client(redis_url)
    try:
        entries: Any = client.xrange(KEYS.ingest(KEYS.scoped(bus, Namespace(ACCOUNT, region))))
    finally:
        client.close()
    return [json.loads(fields[b"event"]) for _, fields in entries]


def set_health(redis_url: str, status: str) -> None:
    done = health_check(redis_url, CHECK_ID, status)
    assert done.returncode == 0, done.stderr


def mark(redis_url: str, status: str) -> None:
    """What `switchboard health-check` writes (the CLI itself is run in the end-to-end test)."""
    client = sync_client(redis_url)
    try:
        client.hset(KEYS.health_checks, CHECK_ID, status)
    finally:
        client.close()


@pytest.fixture
def control(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url), ingest=False))
    srv.start()
    yield srv
    srv.stop()


def clients(server: ServerThread) -> tuple[Any, Any]:
    east, west = boto3_client(server.url, region=EAST), boto3_client(server.url, region=WEST)
    east.create_event_bus(Name="orders")
    west.create_event_bus(Name="orders")
    return east, west


def test_failover_follows_the_health_check_and_back(control: ServerThread, redis_url: str) -> None:
    east, west = clients(control)
    assert east.create_endpoint(**endpoint_body())["State"] == "CREATING"
    described = east.describe_endpoint(Name="orders")
    assert described["State"] == "ACTIVE"
    assert "StateReason" not in described
    endpoint_id = described["EndpointId"]
    sender = boto3_client(described["EndpointUrl"], region=EAST)  # the URL the endpoint gives reaches the router

    first = sender.put_events(EndpointId=endpoint_id, Entries=[entry(1)])
    assert first["FailedEntryCount"] == 0
    assert [(e["id"], e["region"], e["detail"]) for e in ingested(redis_url, EAST)] == [
        (first["Entries"][0]["EventId"], EAST, {"n": 1})
    ]
    assert ingested(redis_url, WEST) == []

    mark(redis_url, "UNHEALTHY")
    failed_over = sender.put_events(EndpointId=endpoint_id, Entries=[entry(2), entry(3, EventBusName=bus_arn(EAST))])
    assert failed_over["FailedEntryCount"] == 0
    west_events = ingested(redis_url, WEST)
    assert [(e["region"], e["account"], e["detail"]) for e in west_events] == [
        (WEST, ACCOUNT, {"n": 2}),
        (WEST, ACCOUNT, {"n": 3}),  # named by the primary's ARN: the bus of that name where the endpoint routes
    ]
    assert [e["id"] for e in west_events] == [r["EventId"] for r in failed_over["Entries"]]
    assert len(ingested(redis_url, EAST)) == 1

    mark(redis_url, "HEALTHY")
    back = sender.put_events(EndpointId=endpoint_id, Entries=[entry(4)])
    assert back["FailedEntryCount"] == 0
    assert [e["detail"] for e in ingested(redis_url, EAST)] == [{"n": 1}, {"n": 4}]
    assert len(ingested(redis_url, WEST)) == 2
    assert west.list_endpoints()["Endpoints"] == []  # the endpoint lives in its home region


def test_replication_copies_every_event_to_the_other_region(control: ServerThread, redis_url: str) -> None:
    east, _ = clients(control)
    east.create_endpoint(**endpoint_body(replication="ENABLED"))
    endpoint_id = east.describe_endpoint(Name="orders")["EndpointId"]
    healthy = east.put_events(EndpointId=endpoint_id, Entries=[entry(1), entry(2)])
    assert healthy["FailedEntryCount"] == 0
    mark(redis_url, "UNHEALTHY")
    failed_over = east.put_events(EndpointId=endpoint_id, Entries=[entry(3)])
    assert failed_over["FailedEntryCount"] == 0
    ids = [r["EventId"] for r in healthy["Entries"] + failed_over["Entries"]]
    east_events, west_events = ingested(redis_url, EAST), ingested(redis_url, WEST)
    assert [e["id"] for e in east_events] == ids  # each event in both regions, once, with the same envelope
    assert east_events == west_events
    assert [e["region"] for e in east_events] == [EAST, EAST, WEST]  # the region that took it first


def test_a_replica_that_cannot_be_stored_fails_the_entry(control: ServerThread, redis_url: str) -> None:
    east, west = clients(control)
    east.create_endpoint(**endpoint_body(replication="ENABLED"))
    endpoint_id = east.describe_endpoint(Name="orders")["EndpointId"]
    west.delete_event_bus(Name="orders")
    answer = east.put_events(EndpointId=endpoint_id, Entries=[entry(1)])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"] == [
        {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus orders does not exist."}
    ]
    assert len(ingested(redis_url, EAST)) == 1  # in the primary: a retry may put it there twice (documented)


def test_states_follow_the_buses_in_their_own_regions(control: ServerThread) -> None:
    east = boto3_client(control.url, region=EAST)
    west = boto3_client(control.url, region=WEST)
    east.create_event_bus(Name="orders")
    east.create_endpoint(**endpoint_body())
    failed = east.describe_endpoint(Name="orders")
    assert (failed["State"], failed["StateReason"]) == ("CREATE_FAILED", f"Event bus {bus_arn(WEST)} does not exist.")
    with pytest.raises(ClientError) as refused:
        east.put_events(EndpointId=failed["EndpointId"], Entries=[entry(1)])
    assert refused.value.response["Error"]["Code"] == "InvalidStateException"
    west.create_event_bus(Name="orders")
    assert east.update_endpoint(Name="orders", Description="now both")["State"] == "UPDATING"
    active = east.describe_endpoint(Name="orders")
    assert active["State"] == "ACTIVE"
    assert "StateReason" not in active
    assert east.put_events(EndpointId=active["EndpointId"], Entries=[entry(1)])["FailedEntryCount"] == 0


def test_an_endpoint_homed_in_another_region(control: ServerThread, redis_url: str) -> None:
    east, west = clients(control)
    created = west.create_endpoint(**endpoint_body("west-first", primary=WEST, secondary=EAST))
    assert created["Arn"] == f"arn:aws:events:{WEST}:{ACCOUNT}:endpoint/west-first"
    assert east.list_endpoints()["Endpoints"] == []
    described = east.describe_endpoint(Name="west-first", HomeRegion=WEST)
    assert (described["Name"], described["State"]) == ("west-first", "ACTIVE")
    assert [e["Name"] for e in east.list_endpoints(HomeRegion=WEST)["Endpoints"]] == ["west-first"]
    # SigV4a has no region in its scope: the id alone finds the endpoint, which routes to its primary, us-west-2
    assert east.put_events(EndpointId=described["EndpointId"], Entries=[entry(1)])["FailedEntryCount"] == 0
    assert [e["region"] for e in ingested(redis_url, WEST)] == [WEST]
    other_account = boto3_client(control.url, region=WEST, access_key="111122223333")
    with pytest.raises(ClientError) as hidden:
        other_account.put_events(EndpointId=described["EndpointId"], Entries=[entry(2)])
    assert hidden.value.response["Error"]["Message"] == f"Endpoint {described['EndpointId']} does not exist."


def queue_details(redis_url: str, queue: str) -> list[Any]:
    client = sync_client(redis_url)
    try:
        entries: Any = client.xrange(KEYS.queue(queue))
    finally:
        client.close()
    return [json.loads(fields[b"body"])["detail"] for _, fields in entries]


def test_end_to_end_the_cli_fails_over_and_back(server: ServerThread, redis_url: str) -> None:
    """With the router's workers running: each region's rule delivers to its own queue; `switchboard health-check`
    moves the events from one region's targets to the other's and back."""
    east, west = clients(server)
    for client, region in ((east, EAST), (west, WEST)):
        client.put_rule(Name="all", EventBusName="orders", EventPattern='{"source": ["shop"]}')
        queue = f"arn:aws:sqs:{region}:{ACCOUNT}:orders-{region}"
        client.put_targets(Rule="all", EventBusName="orders", Targets=[{"Id": "q", "Arn": queue}])
    east.create_endpoint(**endpoint_body())
    endpoint_id = east.describe_endpoint(Name="orders")["EndpointId"]

    east.put_events(EndpointId=endpoint_id, Entries=[entry(1)])
    eventually_sync(lambda: queue_details(redis_url, f"orders-{EAST}") == [{"n": 1}], what="the event in us-east-1")
    set_health(redis_url, "unhealthy")
    east.put_events(EndpointId=endpoint_id, Entries=[entry(2)])
    eventually_sync(
        lambda: queue_details(redis_url, f"{ACCOUNT}@{WEST}@orders-{WEST}") == [{"n": 2}], what="the event in us-west-2"
    )
    set_health(redis_url, "healthy")
    east.put_events(EndpointId=endpoint_id, Entries=[entry(3)])
    eventually_sync(
        lambda: queue_details(redis_url, f"orders-{EAST}") == [{"n": 1}, {"n": 3}], what="back in us-east-1"
    )
    assert queue_details(redis_url, f"{ACCOUNT}@{WEST}@orders-{WEST}") == [
        {"n": 2}
    ]  # the third went to us-east-1's queue first


def test_an_updated_health_check_is_the_one_that_counts(control: ServerThread, redis_url: str) -> None:
    east, _ = clients(control)
    east.create_endpoint(**endpoint_body())
    endpoint_id = east.describe_endpoint(Name="orders")["EndpointId"]
    routing = endpoint_body()["RoutingConfig"]
    routing["FailoverConfig"]["Primary"]["HealthCheck"] = "arn:aws:route53:::healthcheck/replacement"
    east.update_endpoint(Name="orders", RoutingConfig=routing)
    mark(redis_url, "UNHEALTHY")  # the old check: no longer the endpoint's
    east.put_events(EndpointId=endpoint_id, Entries=[entry(1)])
    assert [e["region"] for e in ingested(redis_url, EAST)] == [EAST]
    client = sync_client(redis_url)
    try:
        client.hset(KEYS.health_checks, "replacement", "UNHEALTHY")
    finally:
        client.close()
    east.put_events(EndpointId=endpoint_id, Entries=[entry(2)])
    assert [e["region"] for e in ingested(redis_url, WEST)] == [WEST]


def test_the_aws_cli_creates_an_endpoint_and_puts_through_it(
    control: ServerThread, redis_url: str, tmp_path: Any
) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    clients(control)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def aws(*args: str) -> Any:
        command = [str(Path(sys.executable).parent / "aws"), "events", *args, "--endpoint-url", control.url]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    body = endpoint_body()
    created = aws(
        "create-endpoint",
        "--name",
        "orders",
        "--routing-config",
        json.dumps(body["RoutingConfig"]),
        "--replication-config",
        json.dumps(body["ReplicationConfig"]),
        "--event-buses",
        json.dumps(body["EventBuses"]),
    )
    assert created["State"] == "CREATING"
    endpoint_id = aws("describe-endpoint", "--name", "orders")["EndpointId"]
    put = aws("put-events", "--endpoint-id", endpoint_id, "--entries", json.dumps([entry(1)]))
    assert put["FailedEntryCount"] == 0
    assert [e["id"] for e in ingested(redis_url, EAST)] == [put["Entries"][0]["EventId"]]
