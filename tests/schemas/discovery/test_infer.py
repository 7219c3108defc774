"""Inference without a server: names, structural keys, merges that change the fingerprint only when the structure
does, and the OpenAPI 3 document AWS writes."""

from __future__ import annotations

from typing import Any

from schemas.discovery.infer import (
    ENVELOPE_FIELDS,
    MAX_DEPTH,
    fingerprint,
    merge,
    schema_name,
    shape_key,
    to_openapi,
    truncate,
)


def test_names_drop_the_spaces_of_the_detail_type() -> None:
    assert (
        schema_name("aws.ec2", "EC2 Instance State-change Notification")
        == "aws.ec2@EC2InstanceState-changeNotification"
    )
    assert schema_name("mystore", "Review Created") == "mystore@ReviewCreated"


def test_shape_keys_ignore_values_and_order() -> None:
    assert shape_key({"a": 1, "b": ["x"]}) == shape_key({"b": ["y", "z"], "a": 99})
    assert shape_key({"a": 1}) != shape_key({"a": "1"})
    assert shape_key({"a": 1}) != shape_key({"a": 1, "b": None})
    assert shape_key({"a": [1]}) != shape_key({"a": [1.5]})


def test_fingerprint_changes_with_structure_not_values() -> None:
    first = merge(None, [{"id": "a", "total": 1}])
    assert fingerprint(merge(first, [{"id": "b", "total": 2}])) == fingerprint(first)
    assert fingerprint(merge(first, [{"id": "b"}])) != fingerprint(first)  # total no longer required
    assert fingerprint(merge(first, [{"id": "b", "total": 2, "currency": "EUR"}])) != fingerprint(first)
    widened = merge(first, [{"id": "b", "total": "2"}])
    assert widened["properties"]["total"]["type"] == ["integer", "string"]


def test_openapi_document_as_aws_writes_it() -> None:
    inferred = merge(
        None, [{"orderId": "o", "total": 2, "price": 1.5, "note": None, "lines": [{"sku": "A"}], "c": {"id": "x"}}]
    )
    doc = to_openapi("shop", "Order Created", inferred)
    assert (doc["openapi"], doc["info"], doc["paths"]) == ("3.0.0", {"version": "1.0.0", "title": "OrderCreated"}, {})
    schemas = doc["components"]["schemas"]
    envelope = schemas["AWSEvent"]
    assert envelope["required"] == list(ENVELOPE_FIELDS)
    assert (envelope["x-amazon-events-source"], envelope["x-amazon-events-detail-type"]) == ("shop", "Order Created")
    assert envelope["properties"]["detail"] == {"$ref": "#/components/schemas/OrderCreated"}
    assert envelope["properties"]["time"] == {"type": "string", "format": "date-time"}
    detail = schemas["OrderCreated"]
    assert list(detail["properties"]) == ["orderId", "total", "price", "note", "lines", "c"]
    assert detail["properties"]["total"] == {"type": "integer", "format": "int64"}
    assert detail["properties"]["price"] == {"type": "number", "format": "double"}
    assert detail["properties"]["note"] == {}
    assert detail["properties"]["lines"] == {"type": "array", "items": {"$ref": "#/components/schemas/Lines"}}
    assert detail["properties"]["c"] == {"$ref": "#/components/schemas/C"}
    assert schemas["Lines"] == {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}
    mixed = to_openapi("s", "D", merge(None, [{"v": 1}, {"v": "x"}, {"v": None}]))
    assert mixed["components"]["schemas"]["D"]["properties"]["v"] == {
        "anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]
    }


def test_deep_details_are_cut_at_255_levels() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(600):
        node["x"] = {}
        node = node["x"]
    cut = truncate(deep)
    depth = 0
    node = cut
    while isinstance(node, dict) and isinstance(node.get("x"), dict):
        node = node["x"]
        depth += 1
    assert depth == MAX_DEPTH - 1
    inferred = merge(None, [deep])  # no RecursionError
    assert inferred["type"] == "object"
    shape_key(deep)
