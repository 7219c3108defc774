"""Internal targets (router.extensions): a rule target whose ARN names an extension's kind is handed to that
extension's handler, whose commands commit with the ingest acknowledgement, once per matched event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from router.app import create_app
from router.extensions import (
    Extension,
    ExtensionError,
    InternalDelivery,
    internal_target_arn,
    internal_target_kind,
    merge_internal_targets,
)
from tests.router.conftest import ServerThread, make_settings


def test_internal_arns_round_trip() -> None:
    arn = internal_target_arn("schemas-discovery", "events-event-bus-orders", "us-east-1", "123456789012")
    assert arn == "arn:aws:events:us-east-1:123456789012:internal/schemas-discovery/events-event-bus-orders"
    assert internal_target_kind(arn) == ("schemas-discovery", "events-event-bus-orders")
    assert internal_target_kind("arn:aws:sqs:us-east-1:123456789012:q") is None
    assert internal_target_kind("arn:aws:events:us-east-1:1:internal/") is None


def test_a_kind_declared_twice_is_refused() -> None:
    def handler(delivery: InternalDelivery) -> list[tuple[str | bytes | int, ...]]:
        return []

    with pytest.raises(ExtensionError, match="kind k is declared by both a and b"):
        merge_internal_targets(
            [Extension("a", internal_targets={"k": handler}), Extension("b", internal_targets={"k": handler})]
        )


SEEN: list[InternalDelivery] = []


def _copy(delivery: InternalDelivery) -> list[tuple[str | bytes | int, ...]]:
    SEEN.append(delivery)
    return [
        ("XADD", f"{delivery.keys.bus_tag(delivery.bus)}:copies", "*", "event", delivery.event, "name", delivery.name)
    ]


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    demo = Extension("demo", internal_targets={"copy": _copy})
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[demo]))
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.integration
def test_matched_events_reach_the_handler_and_its_commands_commit(events_client: Any, redis_url: str) -> None:
    SEEN.clear()
    events_client.create_event_bus(Name="orders")
    events_client.put_rule(Name="r", EventBusName="orders", EventPattern=json.dumps({"source": ["shop"]}))
    arn = internal_target_arn("copy", "my-copy", "us-east-1", "123456789012")
    events_client.put_targets(Rule="r", EventBusName="orders", Targets=[{"Id": "t", "Arn": arn}])
    entries = [
        {"EventBusName": "orders", "Source": source, "DetailType": "d", "Detail": json.dumps({"n": n})}
        for n, source in enumerate(["shop", "other", "shop"])
    ]
    assert events_client.put_events(Entries=entries)["FailedEntryCount"] == 0
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while client.xlen("sb:{bus:orders}:copies") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    copies: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange("sb:{bus:orders}:copies")  # type: ignore[assignment]
    assert [json.loads(fields[b"event"])["detail"]["n"] for _, fields in copies] == [0, 2]
    assert {fields[b"name"] for _, fields in copies} == {b"my-copy"}
    assert {(d.bus, d.rule, d.name) for d in SEEN} == {("orders", "r", "my-copy")}
    # no delivery job or lane was made for it
    assert client.keys("sb:{bus:orders}:deliveries:*") == []
    assert client.smembers("sb:{bus:orders}:delivery-lanes") == set()
