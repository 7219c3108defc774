"""Schema documents: what CreateSchema accepts, and ExportSchema's OpenAPI 3 -> JSON Schema Draft 4 conversion."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.content import DRAFT4_URI, parse_content, root_schema_name, to_draft4
from schemas.errors import BadRequestException


def openapi(components: dict[str, Any], title: str = "Ev") -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"version": "1.0.0", "title": title},
        "paths": {},
        "components": {"schemas": components},
    }


@pytest.mark.parametrize(
    ("schema_type", "content", "reason"),
    [
        ("OpenApi3", "not json", "not valid JSON"),
        ("OpenApi3", "[1, 2]", "must be a JSON object"),
        ("OpenApi3", '{"info": {}}', "'openapi' must be a 3.x version string"),
        ("OpenApi3", '{"openapi": "2.0", "info": {}}', "'openapi' must be a 3.x version string"),
        ("OpenApi3", '{"openapi": "3.0.0"}', "'info' must be an object"),
        ("OpenApi3", '{"openapi": "3.0.0", "info": {}, "components": {"schemas": []}}', "'components.schemas'"),
        ("OpenApi3", '{"openapi": "3.0.0", "info": {}, "components": {"schemas": {"A": 1}}}', "component A"),
        ("OpenApi3", '{"openapi": "3.0.0", "info": {}, "components": {"schemas": {"A": {"type": 5}}}}', "Invalid"),
        ("JSONSchemaDraft4", '{"type": "nonsense"}', "Invalid JSONSchemaDraft4 schema content"),
        ("JSONSchemaDraft4", '{"required": "x"}', "Invalid JSONSchemaDraft4 schema content"),
    ],
)
def test_bad_content_is_a_bad_request_saying_why(schema_type: str, content: str, reason: str) -> None:
    with pytest.raises(BadRequestException, match=reason):
        parse_content(schema_type, content)


def test_valid_documents_parse() -> None:
    doc = openapi({"Ev": {"type": "object", "properties": {"a": {"type": "string"}}}})
    assert parse_content("OpenApi3", orjson.dumps(doc).decode()) == doc
    assert parse_content("JSONSchemaDraft4", '{"type": "object"}') == {"type": "object"}


def test_export_roots_at_awsevent_and_moves_the_rest_to_definitions() -> None:
    doc = openapi(
        {
            "Detail": {"type": "object", "properties": {"n": {"type": "integer", "format": "int64"}}},
            "AWSEvent": {
                "type": "object",
                "required": ["detail"],
                "x-amazon-events-source": "shop",
                "properties": {"detail": {"$ref": "#/components/schemas/Detail"}},
            },
        },
        title="OrderCreated",
    )
    out = to_draft4("OpenApi3", doc)
    assert out == {
        "$schema": DRAFT4_URI,
        "title": "OrderCreated",
        "definitions": {"Detail": {"type": "object", "properties": {"n": {"type": "integer", "format": "int64"}}}},
        "type": "object",
        "required": ["detail"],
        "x-amazon-events-source": "shop",
        "properties": {"detail": {"$ref": "#/definitions/Detail"}},
    }


def test_export_rewrites_schema_positions_only() -> None:
    doc = openapi(
        {
            "Thing": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "nullable": {"type": "string", "nullable": True, "example": "x"},
                    "$ref": {"type": "string"},
                    "list": {"type": "array", "items": {"$ref": "#/components/schemas/Other"}},
                    "either": {"anyOf": [{"$ref": "#/components/schemas/Other"}, {"type": "null"}]},
                },
                "enum": [{"nullable": True}],
            },
            "Other": {"type": "object"},
        }
    )
    out = to_draft4("OpenApi3", doc)
    assert root_schema_name(doc) == "Thing"
    assert out["type"] == ["object", "null"]
    assert out["properties"]["nullable"] == {"type": ["string", "null"]}
    assert out["properties"]["$ref"] == {"type": "string"}
    assert out["properties"]["list"]["items"] == {"$ref": "#/definitions/Other"}
    assert out["properties"]["either"]["anyOf"][0] == {"$ref": "#/definitions/Other"}
    assert out["enum"] == [{"nullable": True}]  # a value, not a schema: untouched


def test_export_of_a_deep_document_does_not_recurse() -> None:
    inner: dict[str, Any] = {"type": "string"}
    for _ in range(3000):
        inner = {"type": "object", "properties": {"a": inner}}
    out = to_draft4("OpenApi3", openapi({"Deep": inner}))
    depth = 0
    node = out
    while "properties" in node:
        node = node["properties"]["a"]
        depth += 1
    assert depth == 3000
    assert node == {"type": "string"}


def test_export_of_a_draft4_schema_is_the_document_itself() -> None:
    assert to_draft4("JSONSchemaDraft4", {"type": "object"}) == {"type": "object"}
