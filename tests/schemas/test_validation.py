"""Validation of PutEvents entries (beyond AWS) through real boto3 clients: a bus tagged with a schema rejects the
entries whose detail does not match, one by one, naming the failing JSON path; the other entries succeed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from schemas.validation import detail_schema

DETAIL = {
    "type": "object",
    "required": ["orderId", "total"],
    "properties": {
        "orderId": {"type": "string"},
        "total": {"type": "integer", "format": "int64"},
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
    },
}
LINE = {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}


def event_schema(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"version": "1.0.0", "title": "OrderCreated"},
        "paths": {},
        "components": {
            "schemas": {
                "AWSEvent": {
                    "type": "object",
                    "properties": {"detail": {"$ref": "#/components/schemas/OrderCreated"}},
                },
                "OrderCreated": detail,
                "Line": LINE,
            }
        },
    }


def test_the_detail_part_of_an_event_schema() -> None:
    schema = detail_schema("OpenApi3", event_schema(DETAIL))
    assert schema["$ref"] == "#/definitions/OrderCreated"
    assert set(schema["definitions"]) == {"OrderCreated", "Line"}
    plain = {"type": "object", "required": ["a"]}
    assert detail_schema("JSONSchemaDraft4", plain) == plain


def entry(detail: dict[str, Any], bus: str = "orders") -> dict[str, Any]:
    return {"EventBusName": bus, "Source": "shop", "DetailType": "OrderCreated", "Detail": json.dumps(detail)}


def wait_for_entries(events: Any, entries: list[dict[str, Any]], expected_failed: int) -> list[dict[str, Any]]:
    """Put until the bus's check reflects the latest change (the router refreshes it within a second)."""
    deadline = time.monotonic() + 10
    while True:
        result = events.put_events(Entries=entries)
        if result["FailedEntryCount"] == expected_failed or time.monotonic() > deadline:
            return list(result["Entries"])
        time.sleep(0.2)


@pytest.mark.integration
def test_a_validating_bus_rejects_bad_entries_one_by_one(schemas: Any, events: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    schemas.create_schema(
        RegistryName="orders", SchemaName="shop@OrderCreated", Type="OpenApi3", Content=json.dumps(event_schema(DETAIL))
    )
    events.create_event_bus(
        Name="orders", Tags=[{"Key": "switchboard:validate-schema", "Value": "orders/shop@OrderCreated"}]
    )
    events.create_event_bus(Name="open")
    good = {"orderId": "o-1", "total": 10, "lines": [{"sku": "A"}]}
    result = events.put_events(
        Entries=[
            entry(good),
            entry({"orderId": "o-2", "total": "ten"}),
            entry({"orderId": "o-3"}),
            entry({"orderId": "o-4", "total": 1, "lines": [{"sku": "A"}, {"qty": 2}]}),
            entry({"anything": True}, bus="open"),
        ]
    )
    assert result["FailedEntryCount"] == 3
    outcomes = result["Entries"]
    assert "EventId" in outcomes[0]
    assert "EventId" in outcomes[4]
    prefix = "Parameter Detail is not valid. Reason: it does not match schema orders/shop@OrderCreated version 1: "
    assert outcomes[1] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": prefix + "at $.total: 'ten' is not of type 'integer'",
    }
    assert outcomes[2] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": prefix + "at $: 'total' is a required property",
    }
    assert outcomes[3] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": prefix + "at $.lines[1]: 'sku' is a required property",
    }

    # a new version is in force within a second; a pinned version stays
    relaxed = {**DETAIL, "required": ["orderId"]}
    schemas.update_schema(
        RegistryName="orders", SchemaName="shop@OrderCreated", Content=json.dumps(event_schema(relaxed))
    )
    assert "EventId" in wait_for_entries(events, [entry({"orderId": "o-5"})], 0)[0]
    bus_arn = events.describe_event_bus(Name="orders")["Arn"]
    events.tag_resource(ResourceARN=bus_arn, Tags=[{"Key": "switchboard:validate-version", "Value": "1"}])
    pinned = wait_for_entries(events, [entry({"orderId": "o-6"})], 1)[0]
    assert pinned["ErrorMessage"].startswith(
        "Parameter Detail is not valid. Reason: it does not match schema orders/shop@OrderCreated version 1: "
    )

    events.tag_resource(ResourceARN=bus_arn, Tags=[{"Key": "switchboard:validate-schema", "Value": "orders/missing"}])
    missing = wait_for_entries(events, [entry(good)], 1)[0]
    assert missing == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Detail is not valid. Reason: the bus validates against schema orders/missing, "
        "which does not exist.",
    }
    events.untag_resource(ResourceARN=bus_arn, TagKeys=["switchboard:validate-schema"])
    assert "EventId" in wait_for_entries(events, [entry({"no": "schema"})], 0)[0]


@pytest.mark.integration
async def test_config_tags_make_a_bus_validate(redis_url: str, tmp_path: Any) -> None:
    import httpx

    from router.app import create_app
    from router.config import load_dir
    from tests.router.conftest import make_settings

    (tmp_path / "buses.yaml").write_text(
        "buses:\n  - name: orders\n    tags:\n      switchboard:validate-schema: orders/shop@OrderCreated\n"
    )
    app = create_app(make_settings(redis_url), config=load_dir(tmp_path))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        auth = "AWS4-HMAC-SHA256 Credential=x/20261201/us-east-1/schemas/aws4_request, Signature=x"
        await client.post("/v1/registries/name/orders", headers={"Authorization": auth})
        created = await client.post(
            "/v1/registries/name/orders/schemas/name/shop@OrderCreated",
            json={"Type": "OpenApi3", "Content": json.dumps(event_schema(DETAIL))},
            headers={"Authorization": auth},
        )
        assert created.status_code == 201, created.text
        response = await client.post(
            "/",
            json={"Entries": [entry({"orderId": "o", "total": "x"})]},
            headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
        )
        failed = response.json()["Entries"][0]
        assert failed["ErrorCode"] == "InvalidArgument"
        assert failed["ErrorMessage"].endswith("at $.total: 'x' is not of type 'integer'")
        await client.aclose()
