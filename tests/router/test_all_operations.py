"""Every operation of the botocore `events` model, called through boto3 against a real uvicorn and Redis: each one is
served (none answers UnsupportedOperationException) and each succeeds on valid input.

The operation list comes from the installed botocore model, so a new operation in a botocore upgrade fails this test
until it is served and added to CALLS (the model has 57 today: the assertion on the count says so). The calls run
in one order, each on what the previous ones made (a bus, a rule on it, a connection for the API destination, a
partner source for its bus, ...), and the last ones remove it all again; an operation is called more than once
only where a later call needs it (the partner bus is a second CreateEventBus).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore import xform_name

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
ARN = f"arn:aws:events:us-east-1:{ACCOUNT}"
BUS = "ops"
BUS_ARN = f"{ARN}:event-bus/{BUS}"
RULE_ARN = f"{ARN}:rule/{BUS}/r"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:ops"
SOURCE = "aws.partner/saas.example/acme/orders"
PATTERN = '{"source": ["shop"]}'
EVENT = (
    '{"id": "1", "account": "123456789012", "source": "shop", "time": "2024-01-01T00:00:00Z", '
    '"region": "us-east-1", "resources": [], "detail-type": "t", "detail": {}}'
)
ENTRY = {"Source": "shop", "DetailType": "t", "Detail": "{}", "EventBusName": BUS}
ROUTING = {
    "FailoverConfig": {
        "Primary": {"HealthCheck": "arn:aws:route53:::healthcheck/ops-check"},
        "Secondary": {"Route": "us-west-2"},
    }
}
ENDPOINT_BUSES = [
    {"EventBusArn": BUS_ARN},
    {"EventBusArn": f"arn:aws:events:us-west-2:{ACCOUNT}:event-bus/{BUS}"},
]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/replication"

Args = Callable[[dict[str, Any]], dict[str, Any]]
"""The arguments of one call, from what earlier calls answered (by operation name)."""


def args(**fixed: Any) -> Args:
    return lambda _answers: fixed


CALLS: list[tuple[str, Args]] = [
    # buses and permissions
    ("CreateEventBus", args(Name=BUS)),
    ("DescribeEventBus", args(Name=BUS)),
    ("ListEventBuses", args(NamePrefix="op")),
    ("UpdateEventBus", args(Name=BUS, Description="all the operations")),
    (
        "PutPermission",
        args(EventBusName=BUS, Action="events:PutEvents", Principal="111122223333", StatementId="other"),
    ),
    ("RemovePermission", args(EventBusName=BUS, StatementId="other")),
    # rules, targets, tags, patterns, events
    ("PutRule", args(Name="r", EventBusName=BUS, EventPattern=PATTERN)),
    ("DescribeRule", args(Name="r", EventBusName=BUS)),
    ("ListRules", args(EventBusName=BUS)),
    ("DisableRule", args(Name="r", EventBusName=BUS)),
    ("EnableRule", args(Name="r", EventBusName=BUS)),
    ("PutTargets", args(Rule="r", EventBusName=BUS, Targets=[{"Id": "q", "Arn": QUEUE_ARN}])),
    ("ListTargetsByRule", args(Rule="r", EventBusName=BUS)),
    ("ListRuleNamesByTarget", args(TargetArn=QUEUE_ARN, EventBusName=BUS)),
    ("TestEventPattern", args(EventPattern=PATTERN, Event=EVENT)),
    ("TagResource", args(ResourceARN=RULE_ARN, Tags=[{"Key": "team", "Value": "ops"}])),
    ("ListTagsForResource", args(ResourceARN=RULE_ARN)),
    ("UntagResource", args(ResourceARN=RULE_ARN, TagKeys=["team"])),
    ("PutEvents", args(Entries=[ENTRY])),
    # archives and replays
    ("CreateArchive", args(ArchiveName="history", EventSourceArn=BUS_ARN)),
    ("DescribeArchive", args(ArchiveName="history")),
    ("ListArchives", args(NamePrefix="hist")),
    ("UpdateArchive", args(ArchiveName="history", Description="kept")),
    (
        "StartReplay",
        args(
            ReplayName="again",
            EventSourceArn=f"{ARN}:archive/history",
            EventStartTime=time.time() - 3600,
            EventEndTime=time.time() + 3600,
            Destination={"Arn": BUS_ARN},
        ),
    ),
    ("DescribeReplay", args(ReplayName="again")),
    ("ListReplays", args(NamePrefix="ag")),
    ("CancelReplay", args(ReplayName="again")),
    # connections and API destinations
    (
        "CreateConnection",
        args(
            Name="c",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret"}},
        ),
    ),
    ("DescribeConnection", args(Name="c")),
    ("ListConnections", args(NamePrefix="c")),
    ("UpdateConnection", args(Name="c", Description="the key")),
    (
        "CreateApiDestination",
        lambda answers: {
            "Name": "d",
            "ConnectionArn": answers["CreateConnection"]["ConnectionArn"],
            "InvocationEndpoint": "https://example.com/hook",
            "HttpMethod": "POST",
        },
    ),
    ("DescribeApiDestination", args(Name="d")),
    ("ListApiDestinations", args(NamePrefix="d")),
    ("UpdateApiDestination", args(Name="d", Description="the hook")),
    ("DeleteApiDestination", args(Name="d")),
    ("DeauthorizeConnection", args(Name="c")),
    ("DeleteConnection", args(Name="c")),
    # partner event sources: the partner's side, then the customer's
    ("CreatePartnerEventSource", args(Name=SOURCE, Account=ACCOUNT)),
    ("DescribePartnerEventSource", args(Name=SOURCE)),
    ("ListPartnerEventSources", args(NamePrefix="aws.partner/saas.example/")),
    ("ListPartnerEventSourceAccounts", args(EventSourceName=SOURCE)),
    ("ListEventSources", args(NamePrefix="aws.partner/")),
    ("DescribeEventSource", args(Name=SOURCE)),
    ("ActivateEventSource", args(Name=SOURCE)),
    ("CreateEventBus", args(Name=SOURCE, EventSourceName=SOURCE)),  # the partner bus PutPartnerEvents puts to
    ("PutPartnerEvents", args(Entries=[{"Source": SOURCE, "DetailType": "t", "Detail": "{}"}])),
    ("DeactivateEventSource", args(Name=SOURCE)),
    ("DeletePartnerEventSource", args(Name=SOURCE, Account=ACCOUNT)),
    # global endpoints
    ("CreateEndpoint", args(Name="ops", RoutingConfig=ROUTING, EventBuses=ENDPOINT_BUSES, RoleArn=ROLE)),
    ("DescribeEndpoint", args(Name="ops")),
    ("ListEndpoints", args(NamePrefix="op")),
    ("UpdateEndpoint", args(Name="ops", Description="failover for ops")),
    ("DeleteEndpoint", args(Name="ops")),
    # and everything removed again
    ("RemoveTargets", args(Rule="r", EventBusName=BUS, Ids=["q"])),
    ("DeleteRule", args(Name="r", EventBusName=BUS)),
    ("DeleteArchive", args(ArchiveName="history")),
    ("DeleteEventBus", args(Name=BUS)),
    ("DeleteEventBus", args(Name=SOURCE)),
]


def model_operations() -> list[str]:
    import botocore.session

    return sorted(botocore.session.get_session().get_service_model("events").operation_names)


def test_calls_cover_the_model_exactly() -> None:
    called = {name for name, _ in CALLS}
    assert sorted(called) == model_operations()
    assert len(model_operations()) == 57


def test_every_operation_of_the_model_is_served(events_client: Any) -> None:
    answers: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for operation, arguments in CALLS:
        call = getattr(events_client, xform_name(operation))
        try:
            answers[operation] = call(**arguments(answers))
        except events_client.exceptions.ClientError as err:
            failed[operation] = f"{err.response['Error']['Code']}: {err.response['Error']['Message']}"
    unsupported = {name: text for name, text in failed.items() if text.startswith("UnsupportedOperationException")}
    assert unsupported == {}
    assert failed == {}
    assert set(answers) == set(model_operations())
    assert answers["PutEvents"]["FailedEntryCount"] == 0
    assert answers["PutPartnerEvents"]["FailedEntryCount"] == 0
    assert answers["CreateEndpoint"]["State"] == "CREATING"


def test_the_operation_table_of_the_docs_lists_the_model() -> None:
    """docs/api.md's "Operations: 57 of 57" table names every operation of the model once, and nothing else."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    table = text.split("## Operations: 57 of 57", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[2] for line in table.splitlines() if line.startswith("| ") and "(" in line.split("|")[1]]
    listed = [name.strip() for row in rows for name in row.split(",")]
    assert sorted(listed) == model_operations()
    for line in table.splitlines():
        if line.startswith("| ") and "(" in line.split("|")[1]:
            count = int(line.split("|")[1].rsplit("(", 1)[1].split(")")[0])
            assert count == len(line.split("|")[2].split(","))
