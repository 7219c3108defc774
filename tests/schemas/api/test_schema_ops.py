"""Schemas and versions through the real boto3 client: create, versions only on content changes, describe by
version, delete a version, list/search/paging, ExportSchema, and every error's status and code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import sync_client
from tests.schemas.api.test_registries import error_of

pytestmark = pytest.mark.integration

NAME = "shop.orders@OrderCreated"


def doc(*fields: str, title: str = "OrderCreated") -> str:
    properties = {field: {"type": "string"} for field in fields}
    return json.dumps(
        {
            "openapi": "3.0.0",
            "info": {"version": "1.0.0", "title": title},
            "paths": {},
            "components": {
                "schemas": {
                    "AWSEvent": {
                        "type": "object",
                        "required": ["detail"],
                        "properties": {"detail": {"$ref": "#/components/schemas/OrderCreated"}},
                    },
                    "OrderCreated": {"type": "object", "properties": properties},
                }
            },
        }
    )


@pytest.fixture
def registry(schemas: Any) -> str:
    schemas.create_registry(RegistryName="orders")
    return "orders"


def test_versions_follow_content_changes_only(schemas: Any, registry: str, redis_url: str) -> None:
    created = schemas.create_schema(
        RegistryName=registry, SchemaName=NAME, Type="OpenApi3", Content=doc("id"), Description="v1", Tags={"a": "b"}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["SchemaVersion"], created["Type"], created["Tags"]) == ("1", "OpenApi3", {"a": "b"})
    assert created["SchemaArn"] == f"arn:aws:schemas:us-east-1:123456789012:schema/orders/{NAME}"
    same = schemas.update_schema(RegistryName=registry, SchemaName=NAME, Content=doc("id"))
    assert same["SchemaVersion"] == "1"
    described = schemas.update_schema(RegistryName=registry, SchemaName=NAME, Description="described")
    assert (described["SchemaVersion"], described["Description"]) == ("1", "described")
    second = schemas.update_schema(RegistryName=registry, SchemaName=NAME, Content=doc("id", "total"))
    assert second["SchemaVersion"] == "2"
    retried = schemas.update_schema(
        RegistryName=registry, SchemaName=NAME, Content=doc("id", "total", "x"), ClientTokenId="t-1"
    )
    again = schemas.update_schema(
        RegistryName=registry, SchemaName=NAME, Content=doc("id", "total", "x"), ClientTokenId="t-1"
    )
    assert retried["SchemaVersion"] == again["SchemaVersion"] == "3"
    latest = schemas.describe_schema(RegistryName=registry, SchemaName=NAME)
    assert (latest["SchemaVersion"], latest["Content"], latest["Description"]) == (
        "3",
        doc("id", "total", "x"),
        "described",
    )
    first = schemas.describe_schema(RegistryName=registry, SchemaName=NAME, SchemaVersion="1")
    assert (first["SchemaVersion"], first["Content"]) == ("1", doc("id"))
    versions = schemas.list_schema_versions(RegistryName=registry, SchemaName=NAME)["SchemaVersions"]
    assert [v["SchemaVersion"] for v in versions] == ["1", "2", "3"]
    assert schemas.list_schemas(RegistryName=registry)["Schemas"][0]["VersionCount"] == 3

    schemas.delete_schema_version(RegistryName=registry, SchemaName=NAME, SchemaVersion="3")
    assert schemas.describe_schema(RegistryName=registry, SchemaName=NAME)["SchemaVersion"] == "2"
    # numbers are never reused, and going back to version 2's content is no change
    assert (
        schemas.update_schema(RegistryName=registry, SchemaName=NAME, Content=doc("id", "total"))["SchemaVersion"]
        == "2"
    )
    assert schemas.update_schema(RegistryName=registry, SchemaName=NAME, Content=doc("n"))["SchemaVersion"] == "4"
    client = sync_client(redis_url)
    assert sorted(client.hkeys(f"sb:{{registry:orders}}:versions:{NAME}")) == [b"1", b"2", b"4"]

    assert schemas.delete_schema(RegistryName=registry, SchemaName=NAME)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert sorted(k.decode() for k in client.scan_iter(match="sb:{registry:orders}*") if isinstance(k, bytes)) == [
        "sb:{registry:orders}:exists"
    ]


def test_list_search_and_pages(schemas: Any, registry: str) -> None:
    for name in ("shop@OrderCreated", "shop@OrderShipped", "shop@Refund", "billing@Invoice"):
        schemas.create_schema(RegistryName=registry, SchemaName=name, Type="OpenApi3", Content=doc("id"))
    listed = [s["SchemaName"] for s in schemas.list_schemas(RegistryName=registry, SchemaNamePrefix="shop@")["Schemas"]]
    assert listed == ["shop@OrderCreated", "shop@OrderShipped", "shop@Refund"]
    pages = schemas.get_paginator("list_schemas").paginate(RegistryName=registry, PaginationConfig={"PageSize": 3})
    assert [len(p["Schemas"]) for p in pages] == [3, 1]
    found = schemas.search_schemas(RegistryName=registry, Keywords="ORDER")["Schemas"]
    assert [s["SchemaName"] for s in found] == ["shop@OrderCreated", "shop@OrderShipped"]
    assert found[0]["RegistryName"] == registry
    assert [v["SchemaVersion"] for v in found[0]["SchemaVersions"]] == ["1"]
    both = schemas.search_schemas(RegistryName=registry, Keywords="shop shipped")["Schemas"]
    assert [s["SchemaName"] for s in both] == ["shop@OrderShipped"]


def test_export_schema_as_json_schema_draft4(schemas: Any, registry: str) -> None:
    schemas.create_schema(RegistryName=registry, SchemaName=NAME, Type="OpenApi3", Content=doc("id"))
    schemas.update_schema(RegistryName=registry, SchemaName=NAME, Content=doc("id", "total"))
    exported = schemas.export_schema(RegistryName=registry, SchemaName=NAME, Type="JSONSchemaDraft4", SchemaVersion="1")
    assert (exported["SchemaVersion"], exported["Type"], exported["SchemaName"]) == ("1", "JSONSchemaDraft4", NAME)
    content = json.loads(exported["Content"])
    assert content == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "OrderCreated",
        "definitions": {"OrderCreated": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"$ref": "#/definitions/OrderCreated"}},
    }
    latest = json.loads(
        schemas.export_schema(RegistryName=registry, SchemaName=NAME, Type="JSONSchemaDraft4")["Content"]
    )
    assert set(latest["definitions"]["OrderCreated"]["properties"]) == {"id", "total"}
    import jsonschema

    jsonschema.Draft4Validator.check_schema(latest)


def test_errors(schemas: Any, registry: str) -> None:
    schemas.create_schema(RegistryName=registry, SchemaName=NAME, Type="OpenApi3", Content=doc("id"))
    assert error_of(
        schemas.create_schema, RegistryName=registry, SchemaName=NAME, Type="OpenApi3", Content=doc("x")
    ) == (
        409,
        "ConflictException",
        f"Schema with name {NAME} already exists in registry orders.",
    )
    missing = (404, "NotFoundException", f"Schema with name nope does not exist in registry {registry}.")
    assert error_of(schemas.describe_schema, RegistryName=registry, SchemaName="nope") == missing
    assert error_of(schemas.update_schema, RegistryName=registry, SchemaName="nope", Description="d") == missing
    assert error_of(schemas.delete_schema, RegistryName=registry, SchemaName="nope") == missing
    assert error_of(schemas.list_schema_versions, RegistryName=registry, SchemaName="nope") == missing
    assert error_of(schemas.describe_schema, RegistryName=registry, SchemaName=NAME, SchemaVersion="9") == (
        404,
        "NotFoundException",
        f"Schema {NAME} has no version 9.",
    )
    assert error_of(schemas.delete_schema_version, RegistryName=registry, SchemaName=NAME, SchemaVersion="9")[:2] == (
        404,
        "NotFoundException",
    )
    assert error_of(schemas.delete_schema_version, RegistryName=registry, SchemaName=NAME, SchemaVersion="1")[:2] == (
        400,
        "BadRequestException",
    )
    no_registry = (404, "NotFoundException", "Registry with name gone does not exist.")
    assert error_of(schemas.list_schemas, RegistryName="gone") == no_registry
    assert error_of(schemas.search_schemas, RegistryName="gone", Keywords="x") == no_registry
    assert error_of(schemas.describe_schema, RegistryName="gone", SchemaName=NAME) == no_registry
    assert (
        error_of(schemas.create_schema, RegistryName="gone", SchemaName="s", Type="OpenApi3", Content=doc("x"))
        == no_registry
    )
    assert error_of(schemas.create_schema, RegistryName=registry, SchemaName="s", Type="OpenApi3", Content="{")[:2] == (
        400,
        "BadRequestException",
    )
    assert error_of(schemas.update_schema, RegistryName=registry, SchemaName=NAME, Content='{"openapi": 3}')[:2] == (
        400,
        "BadRequestException",
    )
    assert error_of(schemas.create_schema, RegistryName=registry, SchemaName="x" * 386, Type="OpenApi3", Content=doc())[
        :2
    ] == (400, "BadRequestException")
    assert error_of(schemas.export_schema, RegistryName=registry, SchemaName=NAME, Type="OpenApi3")[:2] == (
        400,
        "BadRequestException",
    )
    assert error_of(schemas.delete_schema, RegistryName="aws.events", SchemaName="x")[:2] == (403, "ForbiddenException")
    assert error_of(schemas.update_schema, RegistryName="discovered-schemas", SchemaName="x", Description="d")[:2] == (
        403,
        "ForbiddenException",
    )
