"""Partner event sources end to end: the partner creates a source, the customer sees it PENDING, creates the partner
bus (ACTIVE), the partner's PutPartnerEvents reach the customer's rule and queue; deactivate, activate, the
partner deletes it (DELETED), expiry of a PENDING source; every error path; the record left in Redis."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api, boto3_client
from tests.router.control_plane import ARN, control_api

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
SOURCE = "aws.partner/saas.example/acme/orders"
SOURCE_ARN = f"arn:aws:events:us-east-1::event-source/{SOURCE}"
FIELD = f"us-east-1/{SOURCE}"
DAY_S = 24 * 3600


def entry(**extra: Any) -> dict[str, Any]:
    return {"Source": SOURCE, "DetailType": "Order Created", "Detail": '{"order": 7}', **extra}


async def source_record(redis_client: aioredis.Redis) -> dict[str, Any]:
    raw = await redis_client.hget("sb:{meta}:event-sources", FIELD)
    assert raw is not None
    record: dict[str, Any] = orjson.loads(raw)
    return record


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def test_partner_creates_describes_and_lists(api: Api, redis_client: aioredis.Redis) -> None:
    created = await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    assert created == {"EventSourceArn": SOURCE_ARN}
    assert await api.ok("DescribePartnerEventSource", {"Name": SOURCE}) == {"Arn": SOURCE_ARN, "Name": SOURCE}
    await api.ok("CreatePartnerEventSource", {"Name": "aws.partner/saas.example/other/x", "Account": ACCOUNT})
    listed = await api.ok("ListPartnerEventSources", {"NamePrefix": "aws.partner/saas.example/acme"})
    assert listed == {"PartnerEventSources": [{"Arn": SOURCE_ARN, "Name": SOURCE}]}
    accounts = (await api.ok("ListPartnerEventSourceAccounts", {"EventSourceName": SOURCE}))[
        "PartnerEventSourceAccounts"
    ]
    assert [(a["Account"], a["State"]) for a in accounts] == [(ACCOUNT, "PENDING")]
    assert accounts[0]["ExpirationTime"] == pytest.approx(accounts[0]["CreationTime"] + 14 * DAY_S, abs=5)
    record = await source_record(redis_client)
    assert record["Account"] == ACCOUNT
    assert record["Partner"] == ACCOUNT
    assert record["CreatedBy"] == "saas.example"


async def test_a_name_is_unique_in_the_region(api: Api) -> None:
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    for account in (ACCOUNT, "210987654321"):
        assert await api.error("CreatePartnerEventSource", {"Name": SOURCE, "Account": account}) == (
            400,
            "ResourceAlreadyExistsException",
            f"Event source {SOURCE} already exists.",
        )


async def test_customer_lifecycle_pending_active_pending_deleted(api: Api) -> None:
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    described = await api.ok("DescribeEventSource", {"Name": SOURCE})
    assert (described["Arn"], described["Name"], described["State"], described["CreatedBy"]) == (
        SOURCE_ARN,
        SOURCE,
        "PENDING",
        "saas.example",
    )
    assert described["ExpirationTime"] > time.time() + 13 * DAY_S
    listed = await api.ok("ListEventSources", {"NamePrefix": "aws.partner/saas"})
    assert [s["Name"] for s in listed["EventSources"]] == [SOURCE]

    created = await api.ok("CreateEventBus", {"Name": SOURCE, "EventSourceName": SOURCE})
    assert created["EventBusArn"] == f"{ARN}:event-bus/{SOURCE}"
    active = await api.ok("DescribeEventSource", {"Name": SOURCE})
    assert active["State"] == "ACTIVE"
    assert "ExpirationTime" not in active

    await api.ok("DeactivateEventSource", {"Name": SOURCE})
    assert (await api.ok("DescribeEventSource", {"Name": SOURCE}))["State"] == "PENDING"
    await api.ok("DeactivateEventSource", {"Name": SOURCE})  # already PENDING: no change
    await api.ok("ActivateEventSource", {"Name": SOURCE})
    assert (await api.ok("DescribeEventSource", {"Name": SOURCE}))["State"] == "ACTIVE"

    await api.ok("DeletePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    assert (await api.ok("DescribeEventSource", {"Name": SOURCE}))["State"] == "DELETED"
    for operation in ("ActivateEventSource", "DeactivateEventSource"):
        assert await api.error(operation, {"Name": SOURCE}) == (
            400,
            "InvalidStateException",
            f"Event source {SOURCE} is in state DELETED.",
        )
    assert (await api.error("DescribePartnerEventSource", {"Name": SOURCE}))[1] == "ResourceNotFoundException"
    assert await api.ok("ListPartnerEventSources", {"NamePrefix": SOURCE}) == {"PartnerEventSources": []}
    # The partner may create it again: a DELETED source frees its name.
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    assert (await api.ok("DescribeEventSource", {"Name": SOURCE}))["State"] == "PENDING"


async def test_deleting_the_partner_bus_makes_the_source_pending(api: Api) -> None:
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    await api.ok("CreateEventBus", {"Name": SOURCE, "EventSourceName": SOURCE})
    await api.ok("DeleteEventBus", {"Name": SOURCE})
    assert (await api.ok("DescribeEventSource", {"Name": SOURCE}))["State"] == "PENDING"


async def test_partner_bus_errors(api: Api) -> None:
    missing = (400, "ResourceNotFoundException", f"Event source {SOURCE} does not exist.")
    assert await api.error("CreateEventBus", {"Name": SOURCE, "EventSourceName": SOURCE}) == missing
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": "210987654321"})
    assert await api.error("CreateEventBus", {"Name": SOURCE, "EventSourceName": SOURCE}) == missing  # not ours
    await api.ok("DeletePartnerEventSource", {"Name": SOURCE, "Account": "210987654321"})
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    assert await api.error("CreateEventBus", {"Name": "aws.partner/saas.example/x", "EventSourceName": SOURCE}) == (
        400,
        "ValidationException",
        "Parameter Name is not valid. Reason: A partner event bus must have the name of its event source.",
    )
    # A bus name with '/' needs an event source.
    assert (await api.error("CreateEventBus", {"Name": SOURCE}))[1] == "ValidationException"


async def test_unknown_sources(api: Api) -> None:
    missing = (400, "ResourceNotFoundException", f"Event source {SOURCE} does not exist.")
    for operation in ("DescribeEventSource", "ActivateEventSource", "DeactivateEventSource"):
        assert await api.error(operation, {"Name": SOURCE}) == missing
    assert await api.error("DescribePartnerEventSource", {"Name": SOURCE}) == missing
    assert await api.error("ListPartnerEventSourceAccounts", {"EventSourceName": SOURCE}) == missing
    await api.ok("DeletePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})  # nothing to delete: success
    assert await api.ok("ListEventSources", {}) == {"EventSources": []}


async def test_names_follow_the_partner_pattern(api: Api) -> None:
    for name in ("aws.partner/only-one", "partner/saas.example/x", "aws.partner/bad name/x"):
        status, code, message = await api.error("CreatePartnerEventSource", {"Name": name, "Account": ACCOUNT})
        assert (status, code) == (400, "ValidationException")
        assert r"Member must satisfy regular expression pattern: aws\.partner(/[\.\-_A-Za-z0-9]+){2,}" in message
    status, code, message = await api.error("CreatePartnerEventSource", {"Name": SOURCE, "Account": "12345"})
    assert "at 'account' failed to satisfy constraint" in message


async def test_a_pending_source_expires(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    record = await source_record(redis_client)
    record["ExpirationTime"] = time.time() - 1
    await redis_client.hset("sb:{meta}:event-sources", FIELD, orjson.dumps(record))
    assert (await api.error("DescribeEventSource", {"Name": SOURCE}))[1] == "ResourceNotFoundException"
    assert await api.ok("ListEventSources", {}) == {"EventSources": []}
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})  # the name is free again


async def test_put_partner_events_per_entry_outcomes(api: Api, redis_client: aioredis.Redis) -> None:
    other = "aws.partner/saas.example/acme/unknown"
    await api.ok("CreatePartnerEventSource", {"Name": SOURCE, "Account": ACCOUNT})
    pending = await api.ok("PutPartnerEvents", {"Entries": [entry(), entry(Source=other)]})
    assert pending == {
        "FailedEntryCount": 2,
        "Entries": [
            {"ErrorCode": "InvalidStateException", "ErrorMessage": f"Event source {SOURCE} is not active."},
            {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."},
        ],
    }
    await api.ok("CreateEventBus", {"Name": SOURCE, "EventSourceName": SOURCE})
    result = await api.ok("PutPartnerEvents", {"Entries": [entry(), entry(Detail="not json"), entry()]})
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    stored: Any = await redis_client.xrange(api.app.state.switchboard.keys.ingest(SOURCE))
    events = [orjson.loads(fields[b"event"]) for _, fields in stored]
    assert [e["id"] for e in events] == [result["Entries"][0]["EventId"], result["Entries"][2]["EventId"]]
    assert {(e["account"], e["source"], e["region"]) for e in events} == {(ACCOUNT, SOURCE, "us-east-1")}


async def test_put_partner_events_entry_count_and_size(api: Api) -> None:
    status, code, message = await api.error("PutPartnerEvents", {"Entries": [entry()] * 21})
    assert (status, code) == (400, "ValidationException")
    assert message.endswith("Member must have length less than or equal to 20")
    big = entry(Detail=json.dumps({"x": "a" * 1_100_000}))
    assert await api.error("PutPartnerEvents", {"Entries": [big]}) == (
        400,
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )


def test_boto3_partner_events_reach_the_customers_queue(server: Any) -> None:
    events = boto3_client(server.url)
    sqs = boto3_client(server.url, "sqs")
    arn = events.create_partner_event_source(Name=SOURCE, Account=ACCOUNT)["EventSourceArn"]
    assert arn == SOURCE_ARN
    assert events.list_event_sources()["EventSources"][0]["State"] == "PENDING"
    events.create_event_bus(Name=SOURCE, EventSourceName=SOURCE)
    url = sqs.create_queue(QueueName="partner-orders")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="orders", EventBusName=SOURCE, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="orders", EventBusName=SOURCE, Targets=[{"Id": "q", "Arn": queue_arn}])
    put = events.put_partner_events(Entries=[entry(Resources=["arn:aws:acme:thing/1"])])
    assert put["FailedEntryCount"] == 0
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    event = json.loads(message["Body"])
    assert event["id"] == put["Entries"][0]["EventId"]
    assert (event["source"], event["account"], event["detail-type"], event["detail"]) == (
        SOURCE,
        ACCOUNT,
        "Order Created",
        {"order": 7},
    )
    assert event["resources"] == ["arn:aws:acme:thing/1"]
    events.deactivate_event_source(Name=SOURCE)
    refused = events.put_partner_events(Entries=[entry()])
    assert refused["Entries"][0]["ErrorCode"] == "InvalidStateException"
    events.activate_event_source(Name=SOURCE)
    events.delete_partner_event_source(Name=SOURCE, Account=ACCOUNT)
    assert events.describe_event_source(Name=SOURCE)["State"] == "DELETED"
    with pytest.raises(events.exceptions.InvalidStateException):
        events.activate_event_source(Name=SOURCE)
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_partner_event_source(Name=SOURCE)
