"""The internal discovery target: one stream append per new (bus, schema, shape), none for repeated shapes until
the re-send window passes."""

from __future__ import annotations

import orjson

from router.extensions import InternalDelivery
from router.keys import Keys
from schemas.discovery.target import DiscoveryTarget


def delivery(detail: object, source: str = "shop", bus: str = "orders") -> InternalDelivery:
    event = orjson.dumps({"source": source, "detail-type": "Order Created", "detail": detail})
    return InternalDelivery(bus, "Schemas-events-event-bus-orders", {}, "events-event-bus-orders", event, Keys())


def test_repeated_shapes_are_not_sent_again_until_the_window_passes() -> None:
    now = [0.0]
    target = DiscoveryTarget(resend_s=60, clock=lambda: now[0])
    first = target(delivery({"id": "a", "n": 1}))
    assert first == [
        (
            "XADD",
            "sb:{bus:orders}:schemas-discovery",
            "MAXLEN",
            "~",
            10_000,
            "*",
            "event",
            delivery({"id": "a", "n": 1}).event,
        )
    ]
    assert target(delivery({"id": "b", "n": 2})) == []  # values only
    assert len(target(delivery({"id": "b", "n": "2"}))) == 1  # a new type
    assert len(target(delivery({"id": "b", "n": 2}, source="other"))) == 1  # another schema
    assert len(target(delivery({"id": "b", "n": 2}, bus="payments"))) == 1  # another bus
    now[0] = 61.0
    assert len(target(delivery({"id": "c", "n": 3}))) == 1


def test_what_is_not_an_event_is_ignored() -> None:
    target = DiscoveryTarget()
    bad = InternalDelivery("b", "r", {}, "n", b"not json", Keys())
    assert target(bad) == []
