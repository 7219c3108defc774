"""Discovery through the real boto3 clients on uvicorn and redis-server: a started discoverer is a managed rule
with an internal target; three shapes make three schemas; a structure change makes version 2 and a value change
does not; each new version emits aws.schemas "Schema Version Created"; the managed rule cannot be changed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from tests.schemas.api.test_registries import error_of

pytestmark = pytest.mark.integration

BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/orders"
RULE = "Schemas-events-event-bus-orders"


def wait_until(predicate: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def put(events: Any, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    entry = {"EventBusName": "orders", "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0


def discovered(schemas: Any) -> dict[str, int]:
    found = schemas.list_schemas(RegistryName="discovered-schemas")["Schemas"]
    return {s["SchemaName"]: s["VersionCount"] for s in found}


def test_discovery_flow(schemas: Any, events: Any, redis_url: str) -> None:
    events.create_event_bus(Name="orders")
    events.put_rule(Name="versions", EventBusName="orders", EventPattern=json.dumps({"source": ["aws.schemas"]}))
    queue = "arn:aws:sqs:us-east-1:123456789012:schema-versions"
    events.put_targets(Rule="versions", EventBusName="orders", Targets=[{"Id": "q", "Arn": queue}])
    created = schemas.create_discoverer(SourceArn=BUS_ARN, Description="orders bus")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {k: created[k] for k in ("DiscovererId", "DiscovererArn", "State", "CrossAccount", "SourceArn")} == {
        "DiscovererId": "events-event-bus-orders",
        "DiscovererArn": "arn:aws:schemas:us-east-1:123456789012:discoverer/events-event-bus-orders",
        "State": "STARTED",
        "CrossAccount": True,
        "SourceArn": BUS_ARN,
    }
    rule = events.describe_rule(Name=RULE, EventBusName="orders")
    assert (rule["ManagedBy"], rule["State"]) == ("schemas.amazonaws.com", "ENABLED")
    assert rule["Description"] == "This rule is used to route Events to Schema Discoverer"
    assert json.loads(rule["EventPattern"]) == {
        "source": [{"prefix": "aws.partner/"}, {"anything-but": {"prefix": "aws."}}]
    }

    put(events, "shop", "Order Created", {"orderId": "o-1", "total": 10})
    put(events, "shop", "Order Shipped", {"orderId": "o-1", "carrier": "ups"})
    put(events, "billing", "Invoice Paid", {"invoice": {"id": "i-1", "lines": [{"amount": 1.5}]}})
    names = {"shop@OrderCreated": 1, "shop@OrderShipped": 1, "billing@InvoicePaid": 1}
    wait_until(lambda: discovered(schemas) == names)
    doc = json.loads(
        schemas.describe_schema(RegistryName="discovered-schemas", SchemaName="shop@OrderCreated")["Content"]
    )
    assert doc["components"]["schemas"]["AWSEvent"]["x-amazon-events-source"] == "shop"
    assert set(doc["components"]["schemas"]["OrderCreated"]["properties"]) == {"orderId", "total"}

    put(events, "shop", "Order Created", {"orderId": "o-2", "total": 99})  # values only
    put(events, "shop", "Order Created", {"orderId": "o-3", "total": 5, "currency": "EUR"})  # a new field
    wait_until(lambda: discovered(schemas)["shop@OrderCreated"] == 2)
    put(events, "shop", "Order Created", {"orderId": "o-4", "total": 7, "currency": "USD"})  # values only again
    put(events, "shop", "Order Shipped", {"orderId": "o-9", "carrier": "dhl"})
    marker = {"orderId": "o-5", "total": 1}
    put(events, "shop", "Order Shipped", {**marker, "carrier": "x", "weight": 2})  # a new field for Shipped
    wait_until(lambda: discovered(schemas)["shop@OrderShipped"] == 2)
    assert discovered(schemas) == {"shop@OrderCreated": 2, "shop@OrderShipped": 2, "billing@InvoicePaid": 1}
    latest = json.loads(
        schemas.describe_schema(RegistryName="discovered-schemas", SchemaName="shop@OrderCreated")["Content"]
    )
    assert set(latest["components"]["schemas"]["OrderCreated"]["properties"]) == {"orderId", "total", "currency"}

    client = redis.Redis.from_url(redis_url)
    stream = "sb:{queue:schema-versions}:messages"

    def messages() -> list[dict[str, Any]] | None:
        entries: Any = client.xrange(stream)
        return [json.loads(fields[b"body"]) for _, fields in entries] if len(entries) >= 5 else None

    bodies = wait_until(messages)
    assert all((b["source"], b["detail-type"]) == ("aws.schemas", "Schema Version Created") for b in bodies)
    created_versions = sorted((b["detail"]["SchemaName"], b["detail"]["Version"]) for b in bodies)
    assert created_versions == [
        ("billing@InvoicePaid", "1"),
        ("shop@OrderCreated", "1"),
        ("shop@OrderCreated", "2"),
        ("shop@OrderShipped", "1"),
        ("shop@OrderShipped", "2"),
    ]
    assert {b["detail"]["RegistryName"] for b in bodies} == {"discovered-schemas"}
    assert {b["detail"]["SchemaType"] for b in bodies} == {"OpenApi3"}
    assert "aws.schemas@SchemaVersionCreated" not in discovered(schemas)  # the managed rule keeps aws.* out
    assert client.xlen("sb:{bus:orders}:schemas-discovery") == 0  # the worker took what the target copied


def test_managed_rule_cannot_be_changed_and_follows_the_discoverer(schemas: Any, events: Any) -> None:
    events.create_event_bus(Name="orders")
    schemas.create_discoverer(SourceArn=BUS_ARN)
    from botocore.exceptions import ClientError

    for call, kwargs in (
        (events.put_rule, {"Name": RULE, "EventBusName": "orders", "EventPattern": json.dumps({"source": ["x"]})}),
        (events.delete_rule, {"Name": RULE, "EventBusName": "orders"}),
        (
            events.put_targets,
            {
                "Rule": RULE,
                "EventBusName": "orders",
                "Targets": [{"Id": "x", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}],
            },
        ),
        (events.disable_rule, {"Name": RULE, "EventBusName": "orders"}),
    ):
        with pytest.raises(ClientError) as raised:
            call(**kwargs)
        assert raised.value.response["Error"]["Code"] == "ManagedRuleException"
    stopped = schemas.stop_discoverer(DiscovererId="events-event-bus-orders")
    assert (stopped["DiscovererId"], stopped["State"]) == ("events-event-bus-orders", "STOPPED")
    assert events.describe_rule(Name=RULE, EventBusName="orders")["State"] == "DISABLED"
    assert schemas.start_discoverer(DiscovererId="events-event-bus-orders")["State"] == "STARTED"
    assert events.describe_rule(Name=RULE, EventBusName="orders")["State"] == "ENABLED"
    updated = schemas.update_discoverer(DiscovererId="events-event-bus-orders", Description="d", CrossAccount=False)
    assert (updated["Description"], updated["CrossAccount"]) == ("d", False)
    arn = updated["DiscovererArn"]
    schemas.tag_resource(ResourceArn=arn, Tags={"team": "shop"})
    assert schemas.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "shop"}
    listed = schemas.list_discoverers(SourceArnPrefix="arn:aws:events:us-east-1:123456789012:event-bus/o")
    assert [d["DiscovererId"] for d in listed["Discoverers"]] == ["events-event-bus-orders"]
    assert schemas.list_discoverers(DiscovererIdPrefix="nope")["Discoverers"] == []
    assert (
        schemas.delete_discoverer(DiscovererId="events-event-bus-orders")["ResponseMetadata"]["HTTPStatusCode"] == 204
    )
    assert [r["Name"] for r in events.list_rules(EventBusName="orders")["Rules"]] == []
    events.delete_event_bus(Name="orders")  # nothing left on it


def test_discoverer_errors(schemas: Any, events: Any) -> None:
    assert error_of(schemas.create_discoverer, SourceArn=BUS_ARN) == (
        400,
        "BadRequestException",
        "Event bus orders does not exist.",
    )
    assert error_of(schemas.create_discoverer, SourceArn="arn:aws:sqs:us-east-1:123456789012:queue")[:2] == (
        400,
        "BadRequestException",
    )
    events.create_event_bus(Name="orders")
    schemas.create_discoverer(SourceArn=BUS_ARN)
    assert error_of(schemas.create_discoverer, SourceArn=BUS_ARN) == (
        409,
        "ConflictException",
        "Discoverer events-event-bus-orders already exists.",
    )
    missing = (404, "NotFoundException", "Discoverer nope does not exist.")
    for call in (
        schemas.describe_discoverer,
        schemas.delete_discoverer,
        schemas.start_discoverer,
        schemas.stop_discoverer,
    ):
        assert error_of(call, DiscovererId="nope") == missing
    assert error_of(schemas.update_discoverer, DiscovererId="nope", Description="x") == missing


def test_get_discovered_schema(schemas: Any) -> None:
    event = {"source": "shop", "detail-type": "Order Created", "detail": {"id": "o", "n": 1}}
    content = json.loads(schemas.get_discovered_schema(Events=[json.dumps(event)], Type="OpenApi3")["Content"])
    assert set(content["components"]["schemas"]["OrderCreated"]["properties"]) == {"id", "n"}
    draft4 = json.loads(schemas.get_discovered_schema(Events=[json.dumps(event)], Type="JSONSchemaDraft4")["Content"])
    assert draft4["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert draft4["properties"]["detail"] == {"$ref": "#/definitions/OrderCreated"}
    assert error_of(schemas.get_discovered_schema, Events=["{"], Type="OpenApi3") == (
        400,
        "BadRequestException",
        "Event 1 is not valid JSON.",
    )
    assert error_of(schemas.get_discovered_schema, Events=["{}"], Type="OpenApi3")[:2] == (400, "BadRequestException")
