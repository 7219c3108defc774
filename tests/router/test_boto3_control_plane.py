"""The control plane through a real boto3 client against a real uvicorn server on 127.0.0.1: every operation,
modeled exceptions parsed into `client.exceptions.*`, and the three paginators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.router.conftest import ServerThread
from tests.router.control_plane import ARN, EVENT, PATTERN, control_server, target

pytestmark = pytest.mark.integration


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    with control_server(redis_url) as srv:
        yield srv


def test_bus_lifecycle(events_client: Any) -> None:
    created = events_client.create_event_bus(Name="shop", Description="shop events", Tags=[{"Key": "a", "Value": "1"}])
    assert created["EventBusArn"] == f"{ARN}:event-bus/shop"
    described = events_client.describe_event_bus(Name="shop")
    assert described["Description"] == "shop events"
    assert isinstance(described["CreationTime"], datetime)
    names = [bus["Name"] for bus in events_client.list_event_buses()["EventBuses"]]
    assert names == ["default", "shop"]
    with pytest.raises(events_client.exceptions.ResourceAlreadyExistsException) as exists:
        events_client.create_event_bus(Name="shop")
    assert exists.value.response["Error"]["Message"] == "Event bus shop already exists."
    events_client.delete_event_bus(Name="shop")
    with pytest.raises(events_client.exceptions.ResourceNotFoundException) as missing:
        events_client.describe_event_bus(Name="shop")
    assert missing.value.response["Error"]["Message"] == "Event bus shop does not exist."
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as default:
        events_client.delete_event_bus(Name="default")
    assert default.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Cannot delete event bus default.",
    }


def test_rule_lifecycle(events_client: Any) -> None:
    arn = events_client.put_rule(Name="orders", EventPattern=PATTERN, State="DISABLED")["RuleArn"]
    assert arn == f"{ARN}:rule/orders"
    described = events_client.describe_rule(Name="orders")
    assert (described["State"], described["EventPattern"], described["EventBusName"]) == (
        "DISABLED",
        PATTERN,
        "default",
    )
    events_client.enable_rule(Name="orders")
    assert events_client.describe_rule(Name="orders")["State"] == "ENABLED"
    events_client.disable_rule(Name="orders")
    assert events_client.list_rules(NamePrefix="ord")["Rules"][0]["State"] == "DISABLED"
    with pytest.raises(events_client.exceptions.InvalidEventPatternException) as invalid:
        events_client.put_rule(Name="orders", EventPattern='{"source": []}')
    assert invalid.value.response["Error"]["Message"].startswith(
        "Event pattern is not valid. Reason: Empty arrays are not allowed"
    )
    with pytest.raises(events_client.exceptions.ResourceNotFoundException) as missing:
        events_client.describe_rule(Name="nope")
    assert missing.value.response["Error"]["Message"] == "Rule nope does not exist on EventBus default."
    events_client.delete_rule(Name="orders")
    events_client.delete_rule(Name="orders")
    assert events_client.list_rules()["Rules"] == []


def test_targets_and_limit(events_client: Any) -> None:
    events_client.put_rule(Name="r", EventPattern=PATTERN)
    response = events_client.put_targets(Rule="r", Targets=[target(f"t{i}") for i in range(5)])
    assert (response["FailedEntryCount"], response["FailedEntries"]) == (0, [])
    with pytest.raises(events_client.exceptions.LimitExceededException) as limit:
        events_client.put_targets(Rule="r", Targets=[target("t5")])
    assert limit.value.response["Error"]["Message"] == "The requested resource exceeds the maximum number allowed."
    listed = events_client.list_targets_by_rule(Rule="r")["Targets"]
    assert [t["Id"] for t in listed] == [f"t{i}" for i in range(5)]
    with pytest.raises(ClientError) as has_targets:
        events_client.delete_rule(Name="r")
    assert has_targets.value.response["Error"]["Message"] == "Rule can't be deleted since it has targets."
    removed = events_client.remove_targets(Rule="r", Ids=[f"t{i}" for i in range(5)])
    assert removed["FailedEntryCount"] == 0
    events_client.delete_rule(Name="r")


def test_tags(events_client: Any) -> None:
    arn = events_client.put_rule(Name="r", EventPattern=PATTERN, Tags=[{"Key": "a", "Value": "1"}])["RuleArn"]
    events_client.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}])
    events_client.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert events_client.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_test_event_pattern(events_client: Any) -> None:
    assert events_client.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(EVENT))["Result"] is True
    other = json.dumps({**EVENT, "source": "payments"})
    assert events_client.test_event_pattern(EventPattern=PATTERN, Event=other)["Result"] is False


def test_paginators(events_client: Any) -> None:
    shared = "arn:aws:sqs:us-east-1:123456789012:shared"
    for i in range(7):
        events_client.put_rule(Name=f"rule-{i}", EventPattern=PATTERN)
        events_client.put_targets(Rule=f"rule-{i}", Targets=[{"Id": "shared", "Arn": shared}])
    events_client.put_targets(Rule="rule-0", Targets=[target(f"t{i}") for i in range(4)])

    pages = list(events_client.get_paginator("list_rules").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["Rules"]) for page in pages] == [3, 3, 1]
    assert [r["Name"] for page in pages for r in page["Rules"]] == [f"rule-{i}" for i in range(7)]

    pages = list(
        events_client.get_paginator("list_targets_by_rule").paginate(Rule="rule-0", PaginationConfig={"PageSize": 2})
    )
    assert [t["Id"] for page in pages for t in page["Targets"]] == ["shared", "t0", "t1", "t2", "t3"]

    paginator = events_client.get_paginator("list_rule_names_by_target")
    names = paginator.paginate(TargetArn=shared, PaginationConfig={"PageSize": 4}).build_full_result()["RuleNames"]
    assert names == [f"rule-{i}" for i in range(7)]


def test_validation_errors_reach_boto3(events_client: Any) -> None:
    with pytest.raises(ClientError) as bad:
        events_client.describe_rule(Name="x" * 65)
    error = bad.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("1 validation error detected: Value 'xxxx")


def test_unsupported_operation_is_an_explicit_error(redis_url: str) -> None:
    """Every operation of the model is served (tests/router/test_all_operations.py); one whose handler is not
    installed (here the archive extension's, with no extensions) answers an explicit error, never a fake success."""
    from router.app import create_app
    from tests.router.conftest import boto3_client, make_settings

    srv = ServerThread(create_app(make_settings(redis_url), ingest=False, extensions=[]))
    srv.start()
    try:
        with pytest.raises(ClientError) as unsupported:
            boto3_client(srv.url).describe_archive(ArchiveName="history")
    finally:
        srv.stop()
    error = unsupported.value.response["Error"]
    assert error["Code"] == "UnsupportedOperationException"
    assert error["Message"] == "Operation DescribeArchive is not supported by Switchboard."
