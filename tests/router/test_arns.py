"""Unit tests of EventBridge ARNs (router/arns.py): building bus and rule ARNs, and reading what clients send."""

from __future__ import annotations

import pytest

from router.arns import DEFAULT_BUS, Arns, ResourceRef
from router.errors import ResourceNotFoundException

ARNS = Arns("eu-west-1", "111122223333")
PREFIX = "arn:aws:events:eu-west-1:111122223333:"


def test_bus_and_rule_arns_follow_aws_formats() -> None:
    assert ARNS.bus("orders") == f"{PREFIX}event-bus/orders"
    assert ARNS.rule(DEFAULT_BUS, "r") == f"{PREFIX}rule/r"  # the default bus is left out
    assert ARNS.rule("orders", "r") == f"{PREFIX}rule/orders/r"
    assert Arns("cn-north-1", "1", partition="aws-cn").bus("b") == "arn:aws-cn:events:cn-north-1:1:event-bus/b"


@pytest.mark.parametrize(
    ("given", "bus"),
    [
        (None, "default"),
        ("", "default"),
        ("orders", "orders"),
        (f"{PREFIX}event-bus/orders", "orders"),
        (f"{PREFIX}event-bus/aws.partner/acme.com/x", "aws.partner/acme.com/x"),  # partner buses hold `/`
    ],
)
def test_bus_name_reads_a_name_or_one_of_our_bus_arns(given: str | None, bus: str) -> None:
    assert ARNS.bus_name(given) == bus


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:events:us-east-1:111122223333:event-bus/orders",  # another region
        "arn:aws:events:eu-west-1:999999999999:event-bus/orders",  # another account
    ],
)
def test_a_bus_arn_of_another_account_or_region_is_a_missing_bus(arn: str) -> None:
    with pytest.raises(ResourceNotFoundException, match=r"^Event bus orders does not exist\.$"):
        ARNS.bus_name(arn)


@pytest.mark.parametrize(
    ("arn", "ref"),
    [
        (f"{PREFIX}event-bus/orders", ResourceRef("orders")),
        (f"{PREFIX}rule/r", ResourceRef("default", "r")),
        (f"{PREFIX}rule/orders/r", ResourceRef("orders", "r")),
        (f"{PREFIX}rule/aws.partner/acme.com/x/r", ResourceRef("aws.partner/acme.com/x", "r")),  # split at the last /
        (f"{PREFIX}event-bus/", None),
        (f"{PREFIX}rule/", None),
        (f"{PREFIX}rule/orders/", None),
        (f"{PREFIX}connection/c", None),
        ("arn:aws:events:us-east-1:111122223333:rule/r", None),
        ("not an arn", None),
    ],
)
def test_resource_reads_our_bus_and_rule_arns_only(arn: str, ref: ResourceRef | None) -> None:
    assert ARNS.resource(arn) == ref


def test_built_arns_read_back() -> None:
    for bus in ("default", "orders", "a.b-c_d/e"):
        assert ARNS.bus_name(ARNS.bus(bus)) == bus
        assert ARNS.resource(ARNS.bus(bus)) == ResourceRef(bus)
        assert ARNS.resource(ARNS.rule(bus, "rule-1")) == ResourceRef(bus, "rule-1")
