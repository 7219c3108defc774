"""PutPermission and RemovePermission, and the bus's Policy in DescribeEventBus: AWS's recorded shapes and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from router.quotas import Quotas
from tests.router.conftest import Api
from tests.router.control_plane import ARN, control_api

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
SECONDARY = "210987654321"


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def described_policy(api: Api, bus: str) -> dict[str, Any] | None:
    described = await api.ok("DescribeEventBus", {"Name": bus})
    return json.loads(described["Policy"]) if "Policy" in described else None


def grant(sid: str, principal: str, bus: str) -> dict[str, Any]:
    return {"EventBusName": bus, "Action": "events:PutEvents", "Principal": principal, "StatementId": sid}


@pytest.mark.parametrize("bus", ["default", "custom"])
async def test_put_permission_statements_as_aws_writes_them(api: Api, bus: str) -> None:
    if bus == "custom":
        await api.ok("CreateEventBus", {"Name": bus})
    resource = f"{ARN}:event-bus/{bus}"
    assert await described_policy(api, bus) is None
    response = await api.call("PutPermission", grant("statement-1", ACCOUNT, bus))
    assert (response.status_code, response.content) == (200, b"")
    await api.ok("PutPermission", grant("statement-2", ACCOUNT, bus))
    await api.ok("PutPermission", grant("statement-3", SECONDARY, bus))
    await api.ok("PutPermission", grant("statement-4", "*", bus))
    await api.ok("PutPermission", grant("statement-4", "*", bus))  # the same Sid replaces its statement
    assert await described_policy(api, bus) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"statement-{i}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "events:PutEvents",
                "Resource": resource,
            }
            for i, account in ((1, ACCOUNT), (2, ACCOUNT), (3, SECONDARY))
        ]
        + [
            {
                "Sid": "statement-4",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": resource,
            }
        ],
    }
    whole = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "statement-5",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "events:ListRules",
                "Resource": "*",
            }
        ],
    }
    await api.ok("PutPermission", {"EventBusName": bus, "Policy": json.dumps(whole)})
    assert await described_policy(api, bus) == whole  # a whole Policy replaces the document


async def test_condition_statement(api: Api) -> None:
    condition = {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1234567890"}
    await api.ok("PutPermission", {**grant("org", "*", "default"), "Condition": condition})
    [statement] = (await described_policy(api, "default") or {})["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}
    assert statement["Principal"] == "*"
    assert await api.error("PutPermission", {**grant("org", ACCOUNT, "default"), "Condition": condition}) == (
        400,
        "ValidationException",
        "Value of the parameter 'principal' must be '*' when the parameter 'condition' is set.",
    )


@pytest.mark.parametrize("bus", ["default", "custom"])
async def test_remove_permission_by_id_and_all(api: Api, bus: str) -> None:
    if bus == "custom":
        await api.ok("CreateEventBus", {"Name": bus})
    await api.ok("PutPermission", grant("primary", ACCOUNT, bus))
    await api.ok("PutPermission", grant("secondary", SECONDARY, bus))
    response = await api.call("RemovePermission", {"EventBusName": bus, "StatementId": "primary"})
    assert (response.status_code, response.content) == (200, b"")
    policy = await described_policy(api, bus)
    assert [s["Sid"] for s in (policy or {})["Statement"]] == ["secondary"]
    await api.ok("RemovePermission", {"EventBusName": bus, "RemoveAllPermissions": True})
    assert await described_policy(api, bus) is None
    await api.ok("PutPermission", grant("only", ACCOUNT, bus))
    await api.ok("RemovePermission", {"EventBusName": bus, "StatementId": "only"})
    assert await described_policy(api, bus) is None  # no statement left: no policy


@pytest.mark.parametrize("policy_exists", [True, False])
async def test_remove_unknown_statement(api: Api, policy_exists: bool) -> None:
    if policy_exists:
        await api.ok("PutPermission", grant("present", ACCOUNT, "default"))
    assert await api.error("RemovePermission", {"StatementId": "non-existing-sid"}) == (
        400,
        "ResourceNotFoundException",
        "Statement with the provided id does not exist.",
    )


async def test_permission_errors(api: Api) -> None:
    assert await api.error("PutPermission", grant("s", "*", "non-existing-bus")) == (
        400,
        "ResourceNotFoundException",
        "Event bus non-existing-bus does not exist.",
    )
    assert await api.error("RemovePermission", {"EventBusName": "non-existing-bus", "StatementId": "s"}) == (
        400,
        "ResourceNotFoundException",
        "Event bus non-existing-bus does not exist.",
    )
    assert await api.error("PutPermission", {**grant("s", ACCOUNT, "default"), "Action": "events:PutRule"}) == (
        400,
        "ValidationException",
        "Provided value in parameter 'action' is not supported.",
    )
    assert await api.error("PutPermission", {"Principal": ACCOUNT}) == (
        400,
        "ValidationException",
        "Parameter(s) Action, StatementId must be specified.",
    )
    assert await api.error("RemovePermission", {}) == (
        400,
        "ValidationException",
        "Parameter(s) StatementId or RemoveAllPermissions must be specified.",
    )
    assert await api.error("RemovePermission", {"RemoveAllPermissions": True}) == (
        400,
        "ResourceNotFoundException",
        "EventBus does not have a policy.",
    )
    status, code, message = await api.error("PutPermission", grant("s", "12345", "default"))
    assert (status, code) == (400, "ValidationException")
    assert r"Member must satisfy regular expression pattern: (\d{12}|\*)" in message
    for text, reason in (
        ("{not json", "Policy is not valid JSON."),
        ('{"Version": "x"}', "Policy must have a Statement."),
    ):
        assert await api.error("PutPermission", {"Policy": text}) == (
            400,
            "ValidationException",
            f"Parameter Policy is not valid. Reason: {reason}",
        )


async def test_policy_length_quota(redis_url: str) -> None:
    async with control_api(redis_url, quotas=Quotas(policy_size_chars=400)) as api:
        await api.ok("PutPermission", grant("a", ACCOUNT, "default"))
        assert await api.error("PutPermission", grant("b" * 60, SECONDARY, "default")) == (
            400,
            "PolicyLengthExceededException",
            "The policy of event bus default would be longer than the 400 characters allowed.",
        )
        assert [s["Sid"] for s in (await described_policy(api, "default") or {})["Statement"]] == ["a"]


def test_boto3_permissions(events_client: Any) -> None:
    events_client.create_event_bus(Name="shared")
    events_client.put_permission(
        EventBusName="shared", Action="events:PutEvents", Principal=SECONDARY, StatementId="partner"
    )
    policy = json.loads(events_client.describe_event_bus(Name="shared")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{SECONDARY}:root"}
    with pytest.raises(events_client.exceptions.ResourceNotFoundException):
        events_client.remove_permission(EventBusName="shared", StatementId="nope")
    events_client.remove_permission(EventBusName="shared", RemoveAllPermissions=True)
    assert "Policy" not in events_client.describe_event_bus(Name="shared")
    with pytest.raises(events_client.exceptions.PolicyLengthExceededException):
        events_client.put_permission(
            EventBusName="shared",
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "x" * 11_000}]}),
        )
