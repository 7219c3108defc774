"""router.namespace: a request's (account, region) from its SigV4 credential scope, and the key-layout names."""

from __future__ import annotations

import pytest

from router import namespace
from router.keys import Keys, UnreadableName, bus_partition
from router.namespace import DEFAULT, BusArn, Namespace, parse_bus_arn, resolve, resolve_scope
from router.settings import Settings

HOME = Namespace("123456789012", "us-east-1")


def _authorization(credential: str) -> dict[str, str]:
    return {"authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=abc"}


def test_the_default_is_the_settings_default() -> None:
    assert Namespace(Settings().account_id, Settings().region) == DEFAULT


def test_region_from_the_credential_scope_account_from_a_12_digit_key_id() -> None:
    found = resolve(_authorization("111122223333/20261202/us-west-1/events/aws4_request"), "", HOME)
    assert found == Namespace("111122223333", "us-west-1")


def test_a_key_id_that_is_not_12_digits_keeps_the_settings_account() -> None:
    for key_id in ("testing", "AKIAIOSFODNN7EXAMPLE", "11112222333", "1111222233334"):
        found = resolve(_authorization(f"{key_id}/20261202/eu-west-1/events/aws4_request"), "", HOME)
        assert found == Namespace("123456789012", "eu-west-1"), key_id


def test_no_or_an_unreadable_scope_falls_back_to_the_settings() -> None:
    assert resolve({}, "", HOME) is HOME
    assert resolve({"authorization": "Bearer x"}, "", HOME) is HOME
    assert resolve(_authorization("testing/20261202/us-east-1/events/aws4_request"), "", HOME) is HOME
    # a region that is no region name (it would end up in key names) is not taken
    assert resolve(_authorization("111122223333/20261202/not:a{region}/events/aws4_request"), "", HOME) == Namespace(
        "111122223333", "us-east-1"
    )
    assert resolve(_authorization("111122223333"), "", HOME) == Namespace("111122223333", "us-east-1")


def test_presigned_query_credential() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=444455556666%2F20261202%2Fap-south-1%2Fevents%2Faws4_request"
    )
    assert resolve({}, query, HOME) == Namespace("444455556666", "ap-south-1")


def test_asgi_scope() -> None:
    header = _authorization("111122223333/20261202/us-west-2/events/aws4_request")["authorization"]
    scope = {"type": "http", "headers": [(b"Authorization", header.encode())], "query_string": b""}
    assert resolve_scope(scope, HOME) == Namespace("111122223333", "us-west-2")
    assert resolve_scope({"type": "http", "headers": [], "query_string": b""}, HOME) is HOME


def test_entered_is_the_current_namespace_inside_only() -> None:
    other = Namespace("111122223333", "us-west-1")
    assert namespace.current() is None
    with namespace.entered(other):
        assert namespace.current() == other
    assert namespace.current() is None


def test_parse_bus_arn() -> None:
    west = Namespace("111122223333", "us-west-1")
    orders = parse_bus_arn("arn:aws:events:us-west-1:111122223333:event-bus/orders")
    assert orders == BusArn("aws", west, "orders")
    assert (orders.region, orders.account, orders.partner) == ("us-west-1", "111122223333", False)
    assert orders.arn == "arn:aws:events:us-west-1:111122223333:event-bus/orders"
    partner = parse_bus_arn("arn:aws:events:us-west-1:111122223333:event-bus/aws.partner/x.com/1")
    assert partner == BusArn("aws", west, "aws.partner/x.com/1")
    assert partner.partner
    china = parse_bus_arn("arn:aws-cn:events:cn-north-1:111122223333:event-bus/orders")
    assert china == BusArn("aws-cn", Namespace("111122223333", "cn-north-1"), "orders")
    assert china.arn == "arn:aws-cn:events:cn-north-1:111122223333:event-bus/orders"
    gov = parse_bus_arn("arn:aws-us-gov:events:us-gov-west-1:111122223333:event-bus/b")
    assert gov == BusArn("aws-us-gov", Namespace("111122223333", "us-gov-west-1"), "b")
    assert parse_bus_arn("arn:aws:events:us-west-1:111122223333:rule/orders") is None
    assert parse_bus_arn("arn:aws:events:us-west-1:1111:event-bus/orders") is None
    assert parse_bus_arn("arn:aws:events:west:111122223333:event-bus/orders") is None
    assert parse_bus_arn("arn:gcp:events:us-west-1:111122223333:event-bus/orders") is None
    assert parse_bus_arn("orders") is None


def test_home_names_stay_bare_others_are_qualified() -> None:
    keys = Keys(home=HOME)
    other = Namespace("111122223333", "us-west-1")
    assert keys.scoped("orders") == keys.scoped("orders", HOME) == "orders"
    scoped = keys.scoped("orders", other)
    assert scoped == "111122223333@us-west-1@orders"
    assert keys.unscoped(scoped) == (other, "orders")
    assert keys.unscoped("orders") == (HOME, "orders")
    assert keys.in_namespace(scoped, other) == "orders"
    assert keys.in_namespace(scoped, HOME) is None
    assert keys.in_namespace("orders", other) is None
    # each bus keeps one hash tag: its key-layout name decides its partition
    assert keys.rules(scoped) == f"sb:{{b:{bus_partition(scoped)}}}:bus:111122223333@us-west-1@orders:rules"
    assert keys.parse_deliveries(keys.deliveries(scoped, "r", "t")) == (scoped, "r", "t")
    assert keys.bus_of_arn("arn:aws:events:us-west-1:111122223333:event-bus/orders") == scoped
    assert keys.bus_of_arn("arn:aws:events:us-east-1:123456789012:event-bus/orders") == "orders"
    assert keys.rule_arn(scoped, "r") == "arn:aws:events:us-west-1:111122223333:rule/orders/r"
    assert keys.rule_arn("default", "r") == "arn:aws:events:us-east-1:123456789012:rule/r"


@pytest.mark.parametrize("name", ["default", "aws.partner/x.com/1", "a-b_c.d"])
def test_scoped_round_trip(name: str) -> None:
    keys = Keys(home=HOME)
    for where in (HOME, Namespace("444455556666", "eu-central-1")):
        assert keys.unscoped(keys.scoped(name, where)) == (where, name)


@pytest.mark.parametrize(
    "name",
    [
        "~scheduler~default",  # a delivery owner that is not a bus (EventBridge Scheduler's group)
        "~scheduler~111122223333@us-west-1@g",  # read as the home namespace's once: a Scheduler bug (keys.is_bus)
        "orders@x",
        "1111@us-west-1@orders",
        "111122223333@west@orders",
        "111122223333@us-west-1@",
        "111122223333@us-west-1@a@b",
    ],
)
def test_unscoped_refuses_what_scoped_cannot_have_made(name: str) -> None:
    """Regression: `unscoped` answered the home namespace for any name it could not read, so a Scheduler delivery
    owner of another account was taken for the home account's; it now says so, and registries skip such fields."""
    keys = Keys(home=HOME)
    with pytest.raises(UnreadableName, match="key-layout name"):
        keys.unscoped(name)
    with pytest.raises(UnreadableName):
        keys.rule_arn(name, "r")
    assert keys.in_namespace(name, HOME) is None
    assert keys.in_namespace(name, Namespace("111122223333", "us-west-1")) is None
