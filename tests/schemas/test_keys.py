"""The registry's key layout: every key of one registry shares its hash tag; account-wide keys share `{schemas}`."""

from __future__ import annotations

import re

from router.keys import Keys
from router.namespace import Namespace
from schemas.arns import ArnRef, SchemaArns
from schemas.keys import SchemaKeys, registry_key, split_registry


def _tag(key: str) -> str:
    found = re.search(r"\{([^}]*)\}", key)
    assert found is not None, key
    return found.group(1)


def test_registry_keys_share_one_slot() -> None:
    keys = SchemaKeys.of(Keys("pfx"))
    registry = [
        keys.registry_exists("R"),
        keys.schemas("R"),
        keys.registry_policy("R"),
        *keys.schema_keys("R", "aws.partner/x@Y"),
    ]
    assert {_tag(key) for key in registry} == {"registry:R"}
    assert all(key.startswith("pfx:") for key in registry)
    assert {_tag(keys.registries), _tag(keys.account_policy), _tag(keys.discoverers)} == {"schemas"}


def test_the_discovery_stream_lives_in_the_bus_slot() -> None:
    keys = Keys("sb")
    assert _tag(SchemaKeys.discovery_stream(keys, "orders")) == _tag(keys.ingest("orders"))


def test_arns_round_trip() -> None:
    arns = SchemaArns("eu-west-1", "111122223333")
    assert arns.schema("R", "a/b@C") == "arn:aws:schemas:eu-west-1:111122223333:schema/R/a/b@C"
    assert arns.parse(arns.schema("R", "a/b@C")) == ArnRef("schema", "a/b@C", "R")
    assert arns.parse(arns.registry("R")) == ArnRef("registry", "R")
    assert arns.parse(arns.discoverer("events-event-bus-x")) == ArnRef("discoverer", "events-event-bus-x")
    assert arns.parse("arn:aws:schemas:us-east-1:111122223333:registry/R") is None  # another region
    assert arns.parse("arn:aws:schemas:eu-west-1:111122223333:schema/R") is None
    assert arns.parse("arn:aws:schemas:eu-west-1:111122223333:thing/R") is None


def test_registry_key_layout_names_per_namespace() -> None:
    home, west = Namespace("123456789012", "us-east-1"), Namespace("111122223333", "us-west-1")
    assert registry_key("shop", home, home) == "shop"  # the home namespace keeps bare names (data stays valid)
    assert registry_key("shop", west, home) == "111122223333@us-west-1@shop"
    assert registry_key("x@Y", west, home) == "111122223333@us-west-1@x@Y"  # a registry name may hold `@`
    for name in ("shop", "x@Y", "a@b@c"):
        for namespace in (home, west):
            assert split_registry(registry_key(name, namespace, home), home) == (namespace, name)
    keys = SchemaKeys.of(Keys())
    assert keys.namespace_policy(home, home) == keys.account_policy == "sb:{schemas}:policy"
    assert keys.namespace_policy(west, home) == "sb:{schemas}:policy:111122223333@us-west-1"
