"""router.policies: the statements PutPermission writes, and resource-policy evaluation (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from router.policies import VERSION, allows, permission_statement

BUS = "arn:aws:events:us-east-1:111111111111:event-bus/orders"
OTHER = "222222222222"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def test_statement_for_an_account_and_for_everyone() -> None:
    assert permission_statement("s1", "events:PutEvents", OTHER, BUS, None) == {
        "Sid": "s1",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "events:PutEvents",
        "Resource": BUS,
    }
    condition = {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1234567890"}
    assert permission_statement("s2", "events:PutEvents", "*", BUS, condition) == {
        "Sid": "s2",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": BUS,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}},
    }


def test_an_account_statement_allows_that_account_only() -> None:
    granted = policy(permission_statement("s", "events:PutEvents", OTHER, BUS, None))
    assert allows(granted, OTHER, "events:PutEvents", BUS)
    assert not allows(granted, "333333333333", "events:PutEvents", BUS)
    assert not allows(granted, OTHER, "events:PutRule", BUS)
    assert not allows(granted, OTHER, "events:PutEvents", BUS.replace("orders", "other"))
    assert not allows(None, OTHER, "events:PutEvents", BUS)
    assert not allows(policy(), OTHER, "events:PutEvents", BUS)


@pytest.mark.parametrize(
    "principal",
    ["*", {"AWS": "*"}, {"AWS": OTHER}, {"AWS": [f"arn:aws:iam::{OTHER}:role/x", "arn:aws:iam::1:root"]}],
)
def test_principal_forms(principal: Any) -> None:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "events:PutEvents", "Resource": BUS}
    assert allows(policy(statement), OTHER, "events:PutEvents", BUS)


def test_service_principals_do_not_name_accounts() -> None:
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "*", "Resource": "*"}
    assert not allows(policy(statement), OTHER, "events:PutEvents", BUS)


def test_wildcards_lists_and_not_forms() -> None:
    base = {"Effect": "Allow", "Principal": "*"}
    assert allows(
        policy({**base, "Action": "events:*", "Resource": "arn:aws:events:*:*:event-bus/*"}),
        OTHER,
        "events:PutEvents",
        BUS,
    )
    assert allows(
        policy({**base, "Action": ["events:PutRule", "EVENTS:putevents"], "Resource": BUS}),
        OTHER,
        "events:PutEvents",
        BUS,
    )
    assert allows(policy({**base, "Action": "events:Put?vents", "Resource": "*"}), OTHER, "events:PutEvents", BUS)
    assert not allows(
        policy({**base, "NotAction": "events:PutEvents", "Resource": "*"}), OTHER, "events:PutEvents", BUS
    )
    assert allows(
        policy({**base, "Action": "*", "NotResource": "arn:aws:events:*:*:event-bus/x"}), OTHER, "events:PutEvents", BUS
    )


def test_an_explicit_deny_wins() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": BUS}
    deny = {"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "events:*", "Resource": "*"}
    assert not allows(policy(allow, deny), OTHER, "events:PutEvents", BUS)
    assert allows(policy(allow, deny), "333333333333", "events:PutEvents", BUS)


def test_conditions() -> None:
    def with_condition(condition: dict[str, Any]) -> dict[str, Any]:
        return policy(
            {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": BUS, "Condition": condition}
        )

    assert allows(with_condition({"StringEquals": {"aws:PrincipalAccount": OTHER}}), OTHER, "events:PutEvents", BUS)
    assert not allows(with_condition({"StringEquals": {"aws:PrincipalAccount": "1"}}), OTHER, "events:PutEvents", BUS)
    assert allows(with_condition({"StringLike": {"aws:SourceAccount": "2222*"}}), OTHER, "events:PutEvents", BUS)
    assert allows(with_condition({"StringNotEquals": {"aws:PrincipalAccount": "1"}}), OTHER, "events:PutEvents", BUS)
    # No AWS Organizations here: an organization condition never holds, nor does one on a key we do not know.
    assert not allows(with_condition({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}), OTHER, "events:PutEvents", BUS)
    assert not allows(with_condition({"StringEquals": {"aws:SourceArn": BUS}}), OTHER, "events:PutEvents", BUS)
    assert not allows(
        with_condition({"NumericLessThan": {"aws:PrincipalAccount": "3"}}), OTHER, "events:PutEvents", BUS
    )


def test_a_single_statement_object_and_junk_are_read_safely() -> None:
    single = {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": BUS}}
    assert allows(single, OTHER, "events:PutEvents", BUS)
    for junk in ({"Statement": "x"}, {"Statement": [1, None, "x"]}, {"Statement": [{"Effect": "Allow"}]}):
        assert not allows(junk, OTHER, "events:PutEvents", BUS)
