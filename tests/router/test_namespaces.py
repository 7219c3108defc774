"""Accounts and regions with real boto3 clients against a real uvicorn and real Redis (single and cluster): the same
names in two regions and two accounts are separate resources, bus targets deliver across namespaces, and another
account's bus is reached only when its policy allows it. The region is the client's signing region, the account a
12-digit access key id (router.namespace)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.keys import Keys, bus_partition
from router.namespace import Namespace
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client, make_settings
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
    """The events in the queue whose key-layout name is `queue` (NAME at home, ACCOUNT@REGION@NAME elsewhere)."""
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
        queue = KEYS.scoped(f"ns-{label}", Namespace(account, region))  # each namespace's own queue
        events = eventually_sync(partial(_queue_events, redis_url, queue), what=f"{label} event")
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
    events = eventually_sync(
        lambda: _queue_events(redis_url, f"{HOME}@us-west-1@cross-region"), what="the event in us-west-1"
    )
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
    events = eventually_sync(
        lambda: _queue_events(redis_url, f"{OTHER}@us-east-1@cross-account"), what="the event in the other account"
    )
    assert [(e["id"], e["account"]) for e in events] == [(sent["Entries"][0]["EventId"], HOME)]


def _queue_messages(redis_url: str, queue: str) -> list[dict[bytes, bytes]]:
    client = sync_client(redis_url)
    try:
        return [fields for _, fields in client.xrange(KEYS.queue(queue))]
    finally:
        client.close()


def _counter(redis_url: str, bus: str, field: str) -> int:
    client = sync_client(redis_url)
    try:
        return int(client.hget(KEYS.bus_counters(bus), field) or 0)
    finally:
        client.close()


def test_cross_account_bus_target_is_refused_at_delivery_once_the_policy_is_removed(
    server: ServerThread, redis_url: str
) -> None:
    sender = _client(server)
    receiver = _client(server, "us-east-1", OTHER)
    receiver.create_event_bus(Name="vault")
    _route_to_queue(receiver, "vault", "in", f"arn:aws:sqs:us-east-1:{OTHER}:vault-in", {"source": ["app"]})
    receiver.put_permission(EventBusName="vault", Action="events:PutEvents", Principal=HOME, StatementId="home")
    destination = f"arn:aws:events:us-east-1:{OTHER}:event-bus/vault"
    sender.put_rule(Name="to-vault", EventPattern='{"source": ["app"]}')
    target = {
        "Id": "v",
        "Arn": destination,
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": f"arn:aws:sqs:us-east-1:{HOME}:vault-dlq"},
    }
    sender.put_targets(Rule="to-vault", Targets=[target])
    first = _put(sender, "default")["Entries"][0]["EventId"]
    eventually_sync(
        lambda: _queue_events(redis_url, f"{OTHER}@us-east-1@vault-in"), what="the allowed event in the other account"
    )

    receiver.remove_permission(EventBusName="vault", StatementId="home")  # the target stays; the policy is gone
    refused = _put(sender, "default")["Entries"][0]["EventId"]
    [dead] = eventually_sync(lambda: _queue_messages(redis_url, "vault-dlq"), what="the refused event in the DLQ")
    assert json.loads(dead[b"body"])["id"] == refused
    attributes = json.loads(dead[b"attributes"])
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["ERROR_MESSAGE"] == (
        f"User: arn:aws:iam::{HOME}:root is not authorized to perform: events:PutEvents on resource: {destination} "
        "because no resource-based policy allows the events:PutEvents action"
    )
    assert attributes["RETRY_ATTEMPTS"] == "0"  # a missing permission is not retried (AWS: straight to the DLQ)
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert attributes["TARGET_ARN"] == destination
    eventually_sync(
        lambda: _counter(redis_url, "default", "FailedInvocations:to-vault") == 1, what="FailedInvocations counted"
    )
    assert _counter(redis_url, "default", "InvocationsSentToDlq:to-vault") == 1

    receiver.put_permission(EventBusName="vault", Action="events:PutEvents", Principal=HOME, StatementId="again")
    third = _put(sender, "default")["Entries"][0]["EventId"]
    events = eventually_sync(
        lambda: (
            [e for e in _queue_events(redis_url, f"{OTHER}@us-east-1@vault-in") if e["id"] == third]
            and _queue_events(redis_url, f"{OTHER}@us-east-1@vault-in")
        ),
        what="the event allowed again",
    )
    assert [e["id"] for e in events] == [first, third]  # the refused event never reached the other account's bus
    assert len(_queue_messages(redis_url, "vault-dlq")) == 1


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

    # the home account's bus is another account's bus too: its policy decides
    home_default = f"arn:aws:events:us-east-1:{HOME}:event-bus/default"
    assert allowed.put_events(Entries=[{**entry, "EventBusName": home_default}])["Entries"] == [
        {
            "ErrorCode": "AccessDeniedException",
            "ErrorMessage": f"User: arn:aws:iam::{THIRD}:root is not authorized to perform: events:PutEvents on "
            f"resource: {home_default} because no resource-based policy allows the events:PutEvents action",
        }
    ]
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
    events = eventually_sync(
        lambda: _queue_events(redis_url, f"{OTHER}@us-east-1@shared-in"), what="the allowed account's event"
    )
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


def test_partner_events_reach_the_customer_account(server: ServerThread, redis_url: str) -> None:
    partner = _client(server, "us-east-1", OTHER)
    customer = _client(server)
    customer_west = _client(server, "us-west-1")
    source = "aws.partner/saas.example/acct/orders"
    created = partner.create_partner_event_source(Name=source, Account=HOME)
    assert created["EventSourceArn"] == f"arn:aws:events:us-east-1::event-source/{source}"
    assert [s["Name"] for s in customer.list_event_sources()["EventSources"]] == [source]
    assert customer_west.list_event_sources()["EventSources"] == []  # sources are per region
    assert partner.list_event_sources()["EventSources"] == []  # the partner is not the customer
    bus = customer.create_event_bus(Name=source, EventSourceName=source)
    assert bus["EventBusArn"] == f"arn:aws:events:us-east-1:{HOME}:event-bus/{source}"
    _route_to_queue(customer, source, "in", f"arn:aws:sqs:us-east-1:{HOME}:partner-in", {"source": [source]})
    put = partner.put_partner_events(Entries=[{"Source": source, "DetailType": "Order Created", "Detail": "{}"}])
    assert put["FailedEntryCount"] == 0
    events = eventually_sync(lambda: _queue_events(redis_url, "partner-in"), what="the partner event")
    assert [(e["id"], e["account"], e["source"]) for e in events] == [(put["Entries"][0]["EventId"], HOME, source)]


def test_quotas_count_per_account_and_region(redis_url: str, tmp_path: Any) -> None:
    from router.app import create_app
    from router.quotas import LIMIT_EXCEEDED_MESSAGE, Quotas

    limits = dataclasses.replace(Quotas(), event_buses=2, connections=1)
    server = ServerThread(create_app(make_settings(redis_url, quotas=limits, data_dir=tmp_path), ingest=False))
    server.start()
    try:
        auth = {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}}
        for region, account in (("us-east-1", None), ("us-west-1", None), ("us-east-1", OTHER)):
            client = _client(server, region, account)
            client.create_event_bus(Name="a")  # with the namespace's own default bus: 2
            assert _error(client.create_event_bus, Name="b") == ("LimitExceededException", LIMIT_EXCEEDED_MESSAGE)
            client.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters=auth)
            assert _error(client.create_connection, Name="d", AuthorizationType="API_KEY", AuthParameters=auth) == (
                "LimitExceededException",
                LIMIT_EXCEEDED_MESSAGE,
            )
    finally:
        server.stop()


def test_the_aws_cli_works_in_the_region_and_account_it_is_given(server: ServerThread) -> None:
    def aws(*args: str, region: str, key_id: str) -> Any:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_MAX_ATTEMPTS": "1",
        }
        command = [str(Path(sys.executable).parent / "aws"), "events", *args, "--region", region]
        command += ["--endpoint-url", server.url, "--output", "json"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    west = aws("create-event-bus", "--name", "cli", region="eu-west-1", key_id=OTHER)
    assert west["EventBusArn"] == f"arn:aws:events:eu-west-1:{OTHER}:event-bus/cli"
    listed = aws("list-event-buses", region="eu-west-1", key_id=OTHER)["EventBuses"]
    assert [b["Arn"] for b in listed] == [
        f"arn:aws:events:eu-west-1:{OTHER}:event-bus/cli",
        f"arn:aws:events:eu-west-1:{OTHER}:event-bus/default",
    ]
    home = aws("list-event-buses", region="us-east-1", key_id="testing")["EventBuses"]
    assert [b["Arn"] for b in home] == [f"arn:aws:events:us-east-1:{HOME}:event-bus/default"]
