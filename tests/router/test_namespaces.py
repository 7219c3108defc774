"""Accounts and regions with real boto3 clients against a real uvicorn and real Redis (single and cluster): the same
names in two regions and two accounts are separate resources, bus targets deliver across namespaces, and another
account's bus is reached only when its policy allows it. The region is the client's signing region, the account a
12-digit access key id (router.namespace)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.keys import Keys, bus_partition
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

HOME = "123456789012"
OTHER = "111122223333"
THIRD = "444455556666"
KEYS = Keys()


def _client(server: ServerThread, region: str = "us-east-1", account: str | None = None) -> Any:
    return boto3_client(server.url, region=region, access_key=account or "testing")


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _queue_events(redis_url: str, queue: str) -> list[dict[str, Any]]:
    client = sync_client(redis_url)
    try:
        entries = client.xrange(KEYS.queue(queue))
    finally:
        client.close()
    return [json.loads(fields[b"body"]) for _, fields in entries]


def _route_to_queue(client: Any, bus: str, rule: str, queue_arn: str, pattern: dict[str, Any]) -> None:
    client.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    client.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])


def _put(client: Any, bus: str, source: str = "app") -> dict[str, Any]:
    entry = {"Source": source, "DetailType": "t", "Detail": "{}", "EventBusName": bus}
    result: dict[str, Any] = client.put_events(Entries=[entry])
    return result


def test_same_names_in_two_regions_and_two_accounts_are_separate(server: ServerThread, redis_url: str) -> None:
    east = _client(server)
    west = _client(server, "us-west-1")
    other = _client(server, "us-east-1", OTHER)
    arns = {}
    for client, account, region in ((east, HOME, "us-east-1"), (west, HOME, "us-west-1"), (other, OTHER, "us-east-1")):
        created = client.create_event_bus(Name="orders", Description=f"{account} {region}")
        arns[client] = created["EventBusArn"]
        assert created["EventBusArn"] == f"arn:aws:events:{region}:{account}:event-bus/orders"
        rule = client.put_rule(Name="big", EventBusName="orders", EventPattern='{"source": ["app"]}')
        assert rule["RuleArn"] == f"arn:aws:events:{region}:{account}:rule/orders/big"
        client.put_targets(
            Rule="big", EventBusName="orders", Targets=[{"Id": region, "Arn": f"arn:aws:sqs:{region}:{account}:q"}]
        )
    assert _error(east.create_event_bus, Name="orders") == (
        "ResourceAlreadyExistsException",
        "Event bus orders already exists.",
    )
    for client, account, region in ((east, HOME, "us-east-1"), (west, HOME, "us-west-1"), (other, OTHER, "us-east-1")):
        listed = client.list_event_buses()["EventBuses"]
        assert [(bus["Name"], bus["Arn"]) for bus in listed] == [
            ("default", f"arn:aws:events:{region}:{account}:event-bus/default"),
            ("orders", f"arn:aws:events:{region}:{account}:event-bus/orders"),
        ]
        assert client.describe_event_bus(Name="orders")["Description"] == f"{account} {region}"
        rules = client.list_rules(EventBusName="orders")["Rules"]
        assert [r["Arn"] for r in rules] == [f"arn:aws:events:{region}:{account}:rule/orders/big"]
        targets = client.list_targets_by_rule(Rule="big", EventBusName="orders")["Targets"]
        assert targets == [{"Id": region, "Arn": f"arn:aws:sqs:{region}:{account}:q"}]
        assert client.describe_rule(Name="big", EventBusName="orders")["CreatedBy"] == account

    # a bus's ARN of another namespace is not one of the caller's buses (no control-plane access across namespaces)
    assert _error(west.describe_event_bus, Name=arns[east]) == (
        "ResourceNotFoundException",
        "Event bus orders does not exist.",
    )
    # deleting in one namespace leaves the others' alone
    west.remove_targets(Rule="big", EventBusName="orders", Ids=["us-west-1"])
    west.delete_rule(Name="big", EventBusName="orders")
    west.delete_event_bus(Name="orders")
    assert [b["Name"] for b in west.list_event_buses()["EventBuses"]] == ["default"]
    assert east.describe_event_bus(Name="orders")["Arn"] == arns[east]
    assert other.list_rules(EventBusName="orders")["Rules"][0]["Name"] == "big"

    # the keys left behind: the home namespace keeps bare names, the others are ACCOUNT@REGION@NAME, one hash tag each
    client = sync_client(redis_url)
    try:
        registry = {field.decode() for field in client.hkeys(KEYS.buses)}
        assert registry == {
            "default",
            "orders",
            f"{HOME}@us-west-1@default",
            f"{OTHER}@us-east-1@default",
            f"{OTHER}@us-east-1@orders",
        }
        scoped = f"{OTHER}@us-east-1@orders"
        tag = f"sb:{{b:{bus_partition(scoped)}}}:bus:{scoped}"
        assert client.exists(f"{tag}:exists", f"{tag}:rules", f"{tag}:targets:big", f"{tag}:version") == 4
        west_tag = KEYS.bus_tag(f"{HOME}@us-west-1@orders")
        assert client.exists(f"{west_tag}:exists", f"{west_tag}:rules", f"{west_tag}:targets:big") == 0
    finally:
        client.close()


def test_events_stay_in_their_namespace(server: ServerThread, redis_url: str) -> None:
    east = _client(server)
    west = _client(server, "us-west-1")
    other = _client(server, "us-east-1", OTHER)
    clients = {
        "east": (east, HOME, "us-east-1"),
        "west": (west, HOME, "us-west-1"),
        "other": (other, OTHER, "us-east-1"),
    }
    for label, (client, account, region) in clients.items():
        client.create_event_bus(Name="orders")
        _route_to_queue(client, "orders", "all", f"arn:aws:sqs:{region}:{account}:ns-{label}", {"source": ["app"]})
    for client, _, _ in clients.values():
        assert _put(client, "orders")["FailedEntryCount"] == 0
    for label, (_, account, region) in clients.items():
        queue = f"ns-{label}"
        events = eventually_sync(lambda queue=queue: _queue_events(redis_url, queue), what=f"{label} event")  # type: ignore[misc]
        assert [(e["account"], e["region"]) for e in events] == [(account, region)]


def test_cross_region_bus_target_delivers_into_the_other_region(server: ServerThread, redis_url: str) -> None:
    east = _client(server)
    west = _client(server, "us-west-1")
    west.create_event_bus(Name="sink")
    _route_to_queue(west, "sink", "fwd", f"arn:aws:sqs:us-west-1:{HOME}:cross-region", {"source": ["app"]})
    east.put_rule(Name="to-west", EventPattern='{"source": ["app"]}')
    east.put_targets(Rule="to-west", Targets=[{"Id": "west", "Arn": f"arn:aws:events:us-west-1:{HOME}:event-bus/sink"}])
    sent = _put(east, "default")
    assert sent["FailedEntryCount"] == 0
    events = eventually_sync(lambda: _queue_events(redis_url, "cross-region"), what="the event in us-west-1")
    assert [(e["id"], e["region"]) for e in events] == [(sent["Entries"][0]["EventId"], "us-east-1")]


def test_cross_account_bus_target_needs_the_destination_policy(server: ServerThread, redis_url: str) -> None:
    sender = _client(server)
    receiver = _client(server, "us-east-1", OTHER)
    receiver.create_event_bus(Name="central")
    _route_to_queue(receiver, "central", "in", f"arn:aws:sqs:us-east-1:{OTHER}:cross-account", {"source": ["app"]})
    destination = f"arn:aws:events:us-east-1:{OTHER}:event-bus/central"
    sender.put_rule(Name="to-central", EventPattern='{"source": ["app"]}')
    refused = _error(sender.put_targets, Rule="to-central", Targets=[{"Id": "c", "Arn": destination}])
    assert refused == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{HOME}:root is not authorized to perform: events:PutEvents on resource: {destination} "
        "because no resource-based policy allows the events:PutEvents action",
    )
    assert sender.list_targets_by_rule(Rule="to-central")["Targets"] == []
    receiver.put_permission(EventBusName="central", Action="events:PutEvents", Principal=THIRD, StatementId="third")
    assert _error(sender.put_targets, Rule="to-central", Targets=[{"Id": "c", "Arn": destination}])[0] == (
        "AccessDeniedException"
    )
    receiver.put_permission(EventBusName="central", Action="events:PutEvents", Principal=HOME, StatementId="home")
    sender.put_targets(Rule="to-central", Targets=[{"Id": "c", "Arn": destination}])
    sent = _put(sender, "default")
    events = eventually_sync(lambda: _queue_events(redis_url, "cross-account"), what="the event in the other account")
    assert [(e["id"], e["account"]) for e in events] == [(sent["Entries"][0]["EventId"], HOME)]


def test_cross_account_put_events_is_checked_per_entry(server: ServerThread, redis_url: str) -> None:
    owner = _client(server, "us-east-1", OTHER)
    allowed = _client(server, "us-east-1", THIRD)
    refused = _client(server)
    owner.create_event_bus(Name="shared")
    _route_to_queue(owner, "shared", "in", f"arn:aws:sqs:us-east-1:{OTHER}:shared-in", {"source": ["app"]})
    owner.put_permission(EventBusName="shared", Action="events:PutEvents", Principal=THIRD, StatementId="third")
    shared = f"arn:aws:events:us-east-1:{OTHER}:event-bus/shared"
    entry = {"Source": "app", "DetailType": "t", "Detail": "{}"}

    result = refused.put_events(Entries=[{**entry, "EventBusName": shared}, entry])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0] == {
        "ErrorCode": "AccessDeniedException",
        "ErrorMessage": f"User: arn:aws:iam::{HOME}:root is not authorized to perform: events:PutEvents on resource: "
        f"{shared} because no resource-based policy allows the events:PutEvents action",
    }
    assert "EventId" in result["Entries"][1]  # the caller's own default bus

    missing = allowed.put_events(
        Entries=[{**entry, "EventBusName": f"arn:aws:events:us-east-1:{OTHER}:event-bus/nope"}]
    )
    assert missing["Entries"] == [
        {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus nope does not exist."}
    ]
    other_region = allowed.put_events(
        Entries=[{**entry, "EventBusName": f"arn:aws:events:us-west-1:{OTHER}:event-bus/shared"}]
    )
    assert other_region["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"

    accepted = allowed.put_events(Entries=[{**entry, "EventBusName": shared}])
    assert accepted["FailedEntryCount"] == 0
    events = eventually_sync(lambda: _queue_events(redis_url, "shared-in"), what="the allowed account's event")
    assert [(e["id"], e["account"]) for e in events] == [(accepted["Entries"][0]["EventId"], THIRD)]

    owner.remove_permission(EventBusName="shared", StatementId="third")
    again = allowed.put_events(Entries=[{**entry, "EventBusName": shared}])
    assert again["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_connections_and_api_destinations_are_per_namespace(server: ServerThread, redis_url: str) -> None:
    east = _client(server)
    west = _client(server, "us-west-1")
    other = _client(server, "us-east-1", OTHER)
    auth = {"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "secret"}}
    connections = {}
    for client, account, region in ((east, HOME, "us-east-1"), (west, HOME, "us-west-1"), (other, OTHER, "us-east-1")):
        created = client.create_connection(Name="hooks", AuthorizationType="API_KEY", AuthParameters=auth)
        assert created["ConnectionArn"].startswith(f"arn:aws:events:{region}:{account}:connection/hooks/")
        connections[region, account] = created["ConnectionArn"]
        destination = client.create_api_destination(
            Name="hook",
            ConnectionArn=created["ConnectionArn"],
            InvocationEndpoint=f"https://example.com/{region}/{account}",
            HttpMethod="POST",
        )
        assert destination["ApiDestinationArn"].startswith(f"arn:aws:events:{region}:{account}:api-destination/hook/")
    for client, account, region in ((east, HOME, "us-east-1"), (west, HOME, "us-west-1"), (other, OTHER, "us-east-1")):
        listed = client.list_connections()["Connections"]
        assert [c["ConnectionArn"] for c in listed] == [connections[region, account]]
        described = client.describe_api_destination(Name="hook")
        assert described["InvocationEndpoint"] == f"https://example.com/{region}/{account}"
        assert [d["Name"] for d in client.list_api_destinations()["ApiDestinations"]] == ["hook"]
    # another namespace's connection is not the caller's
    assert _error(
        west.create_api_destination,
        Name="foreign",
        ConnectionArn=connections["us-east-1", HOME],
        InvocationEndpoint="https://example.com/x",
        HttpMethod="POST",
    ) == ("ResourceNotFoundException", "Failed to describe the connection(s). Connection 'hooks' does not exist.")
    west.delete_api_destination(Name="hook")
    assert east.describe_api_destination(Name="hook")["Name"] == "hook"
    client = sync_client(redis_url)
    try:
        assert {f.decode() for f in client.hkeys(KEYS.connections)} == {
            "hooks",
            f"{HOME}@us-west-1@hooks",
            f"{OTHER}@us-east-1@hooks",
        }
        assert {f.decode() for f in client.hkeys(KEYS.connection_secrets)} == {
            "hooks",
            f"{HOME}@us-west-1@hooks",
            f"{OTHER}@us-east-1@hooks",
        }
        assert {f.decode() for f in client.hkeys(KEYS.api_destinations)} == {"hook", f"{OTHER}@us-east-1@hook"}
    finally:
        client.close()
