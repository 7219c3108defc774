"""Internal targets (router.extensions): a rule target whose ARN names an extension's kind is handed to that
extension's handler, whose commands commit with the ingest acknowledgement, once per matched event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from router.app import create_app
from router.extensions import (
    Extension,
    ExtensionError,
    InternalBatch,
    InternalBatchTarget,
    InternalDelivery,
    internal_target_arn,
    internal_target_kind,
    merge_internal_targets,
)
from router.keys import Keys
from tests.conftest import sync_client
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


BATCHES: list[InternalBatch] = []


def _copy_batch(batch: InternalBatch) -> list[list[tuple[str | bytes | int, ...]]]:
    BATCHES.append(batch)
    stream = f"{batch.keys.bus_tag(batch.bus)}:copies"
    return [
        [("XADD", stream, "*", "event", event, "name", batch.name, "entry", id_)]
        for id_, event in zip(batch.entry_ids, batch.events, strict=True)
    ]


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    demo = Extension("demo", internal_targets={"copy": _copy, "copy-batch": InternalBatchTarget(_copy_batch)})
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[demo]))
    srv.start()
    yield srv
    srv.stop()


def _send_and_read_copies(events_client: Any, redis_url: str, kind: str) -> list[dict[bytes, bytes]]:
    """Rule `r` on bus `orders` (source shop) with one target of internal `kind`; three events, two matching; the
    copies its handler's commands wrote."""
    events_client.create_event_bus(Name="orders")
    events_client.put_rule(Name="r", EventBusName="orders", EventPattern=json.dumps({"source": ["shop"]}))
    arn = internal_target_arn(kind, "my-copy", "us-east-1", "123456789012")
    events_client.put_targets(Rule="r", EventBusName="orders", Targets=[{"Id": "t", "Arn": arn}])
    entries = [
        {"EventBusName": "orders", "Source": source, "DetailType": "d", "Detail": json.dumps({"n": n})}
        for n, source in enumerate(["shop", "other", "shop"])
    ]
    assert events_client.put_events(Entries=entries)["FailedEntryCount"] == 0
    client = sync_client(redis_url)
    deadline = time.monotonic() + 20
    while client.xlen("sb:{b:46}:bus:orders:copies") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # nothing more arrives
    copies: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange("sb:{b:46}:bus:orders:copies")
    assert [json.loads(fields[b"event"])["detail"]["n"] for _, fields in copies] == [0, 2]
    assert {fields[b"name"] for _, fields in copies} == {b"my-copy"}
    # no delivery job or lane was made for it
    assert list(client.scan_iter(match="sb:{b:46}:bus:orders:deliveries:*")) == []
    assert client.smembers(Keys().delivery_lanes("orders")) == set()
    return [fields for _, fields in copies]


@pytest.mark.integration
def test_matched_events_reach_the_handler_and_its_commands_commit(events_client: Any, redis_url: str) -> None:
    SEEN.clear()
    _send_and_read_copies(events_client, redis_url, "copy")
    assert {(d.bus, d.rule, d.name) for d in SEEN} == {("orders", "r", "my-copy")}


@pytest.mark.integration
def test_a_per_batch_kind_gets_the_batch_and_each_event_commits_once(events_client: Any, redis_url: str) -> None:
    """An `InternalBatchTarget` is called once per routed batch with the events its rule matched (in order, with
    their ingest entry ids); the commands it returns for each event commit with that event's acknowledgement."""
    BATCHES.clear()
    copies = _send_and_read_copies(events_client, redis_url, "copy-batch")
    assert {(b.bus, b.rule, b.name) for b in BATCHES} == {("orders", "r", "my-copy")}
    assert [event for b in BATCHES for event in b.events] == [fields[b"event"] for fields in copies]
    assert [id_ for b in BATCHES for id_ in b.entry_ids] == [fields[b"entry"] for fields in copies]
    ids = [tuple(int(part) for part in fields[b"entry"].split(b"-")) for fields in copies]
    assert ids == sorted(set(ids))  # the events' own ingest entry ids, distinct, in order
